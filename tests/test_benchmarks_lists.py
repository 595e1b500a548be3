"""Recorded candidate lists (benchmarks.lists): record through the real PSM, save, load, rescore, evaluate."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import main
from benchmarks.lists import evaluate, load_lists, rescorer, save_lists
from psm_core.skill.mini_features import WEIGH_FEATURE_NAMES
from psm_core.skill.training.recall_lists import QueryResult
from tests.test_benchmarks import lme_entry, locomo_sample


def _list(user: str, scores: list[float], units: list[str], sessions: list[str | None], gold: set[str]) -> QueryResult:
    n = len(units)
    feats = np.zeros((n, len(WEIGH_FEATURE_NAMES)), np.float32)
    feats[:, WEIGH_FEATURE_NAMES.index("similarity")] = np.arange(n)[::-1]  # similarity ranks the first unit best
    times = np.arange(n, dtype=float)
    positives = np.array([u in gold for u in units], dtype=np.float32)
    return QueryResult(user, "q", gold, {}, feats, units, positives, np.array(scores, float),
                       sessions=sessions, times=times, lengths=np.full(n, 100.0))  # fmt: skip


def test_rescorings_rank_as_documented() -> None:
    # a question turn (u1) right before the answer that scores best (u2); u3 sits alone in another session
    q = _list("conv-43", [0.0, 3.0, 2.9, 0.5], ["u0", "u1", "u2", "u3"], ["a", "a", "a", "b"], {"u1"})
    assert np.array_equal(rescorer("score")(q), q.scores)
    assert np.argmax(rescorer("feature:similarity")(q)) == 0
    z = (q.scores - q.scores.mean()) / q.scores.std()
    lifted = rescorer("neighbours:1")(q)
    assert lifted[2] == pytest.approx(z[1])  # lifted to its best neighbour's z
    assert lifted[0] == pytest.approx(z[1])  # u0 is next to u1 (time order within session a)
    assert lifted[3] == pytest.approx(z[3])  # no neighbour in its session: unchanged
    support = rescorer("session:1")(q)
    assert support[3] - z[3] == pytest.approx(z[3]) and support[0] - z[0] == pytest.approx(np.sort(z[:3])[::-1].mean())
    sim = q.features[:, WEIGH_FEATURE_NAMES.index("similarity")]
    assert np.allclose(rescorer("mix:similarity:0.5")(q), z + 0.5 * (sim - sim.mean()) / sim.std())
    assert np.allclose(rescorer("mix:similarity:0.5:99")(q), rescorer("mix:similarity:0.5")(q))  # median 100 > 99
    assert np.allclose(rescorer("mix:similarity:0.5:100")(q), z)  # not longer than 100: unchanged
    for bad in ("nope", "mix:similarity:1:x", "feature:missing", "neighbours:x", "session", "mix:similarity", "mix:missing:1"):
        with pytest.raises(ValueError):
            rescorer(bad)


def test_evaluate_splits_and_metrics() -> None:
    held = _list("conv-43", [3, 2, 1], ["D1:1", "D1:2", "D1:3"], ["s", "s", "s"], {"D1:1", "D9:9"})
    trained = _list("conv-26", [1, 2, 3], ["D1:1", "D1:2", "D1:3"], ["s", "s", "s"], {"D1:3"})
    res = evaluate([held, trained, _list("conv-47", [], [], [], set())], "locomo", rescorer("score"))
    assert res["held-out"] == {"recall@10": 0.5, "questions": 1.0}
    assert res["trained on"]["recall@10"] == 1.0 and res["all"]["recall@10"] == 0.75
    # LongMemEval: sessions deduplicated in rank order, recall_all / recall_any at 5
    sess = [f"s{i}" for i in range(7)]
    q = _list("q-held", [7, 6, 6.5, 5, 4, 3, 2], sess, list(sess), {"s0", "s6"})
    lme = evaluate([q], "longmemeval", rescorer("score"))["all"]
    assert (lme["recall_all@5"], lme["recall_any@5"]) == (0.0, 1.0)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    lists = [_list("conv-43", [1.0, 2.0], ["D1:1", "D1:2"], ["s", None], {"D1:2"}), _list("conv-49", [], [], [], {"D2:1"})]
    save_lists(tmp_path / "l.npz", lists, {"source": "locomo", "features": list(WEIGH_FEATURE_NAMES)})
    back, meta = load_lists(tmp_path / "l.npz")
    assert meta["source"] == "locomo" and len(back) == 2
    assert back[0].units == ["D1:1", "D1:2"] and back[0].sessions == ["s", None] and back[0].gold == {"D1:2"}
    assert np.array_equal(back[0].scores, lists[0].scores) and np.array_equal(back[0].features, lists[0].features)
    assert np.array_equal(back[0].lengths, lists[0].lengths) and np.array_equal(back[0].times, lists[0].times)
    assert back[1].units == [] and back[1].features.shape == (0, len(WEIGH_FEATURE_NAMES))


def test_record_and_eval_commands_through_the_real_psm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([locomo_sample("conv-26"), locomo_sample("conv-43")]))
    out = tmp_path / "lists.npz"
    args = ["lists", "record", "--source", "locomo", "--data", str(data), "--skill", "baseline", "--out", str(out)]
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 0
    lists, meta = load_lists(out)
    assert meta["skill"] == "baseline" and meta["command"].startswith("python -m benchmarks lists record")
    assert len(lists) == 6  # three questions with evidence per conversation
    for q in lists:
        assert len(q.units) == len(q.sessions) == len(q.times) == len(q.features) == len(q.scores) == len(q.lengths) > 0
        assert q.lengths.min() >= len("Lovely!")
        assert set(q.units) <= {"D1:1", "D1:2", "D1:3", "D2:1", "D2:2"}
        assert set(q.sessions) <= {"S1", "S2"}
    capsys.readouterr()
    assert main(["lists", "eval", str(out), "--rescore", "score", "neighbours:0.2"]) == 0
    text = capsys.readouterr().out
    assert "held-out recall@10 1.0000 (3 q)" in text and "trained on recall@10 1.0000 (3 q)" in text  # 5 turns fit in 10
    with pytest.raises(SystemExit):
        main(["lists", "eval", str(out), "--rescore", "bogus"])
    with pytest.raises(SystemExit):
        main(["lists", "record", "--source", "locomo", "--data", str(tmp_path / "missing.json")])
    with pytest.raises(SystemExit):
        main(["lists", "eval", str(tmp_path / "missing.npz")])


def test_record_longmemeval_sessions(tmp_path: Path) -> None:
    data = tmp_path / "lme.json.gz"
    with gzip.open(data, "wt") as f:
        json.dump([lme_entry("q1"), lme_entry("q2_abs")], f)
    out = tmp_path / "lme.npz"
    args = ["lists", "record", "--source", "longmemeval", "--data", str(data), "--skill", "baseline", "--out", str(out)]
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 0
    lists, _ = load_lists(out)
    assert len(lists) == 1 and lists[0].gold == {"answer_1"}  # _abs skipped; answer_2 has no user has_answer turn
    res = evaluate(lists, "longmemeval", rescorer("score"))["all"]
    assert res["recall_any@5"] == 1.0 and res["recall_all@5"] == 1.0


def test_a_fact_in_a_list_counts_for_the_turns_it_covers() -> None:
    """A consolidated fact (its unit is its own id) covers the turns of its provenance; LoCoMo recall@10
    counts ten memories, each with every turn it covers."""
    units = ["fact-1", *[f"t{i}" for i in range(11)]]
    q = _list("conv-43", [9.0 - i * 0.1 for i in range(12)], units, ["a"] * 12, {"g1", "g2", "t8", "t10"})
    q.covers = [(("g1", True), ("g2", True)), *[()] * 11]
    assert evaluate([q], "locomo", lambda x: x.scores)["all"]["recall@10"] == pytest.approx(3 / 4)  # g1 g2 t8, not t10 (11th)
    q.covers = []  # recorded without provenance: the fact covers nothing gold
    assert evaluate([q], "locomo", lambda x: x.scores)["all"]["recall@10"] == pytest.approx(1 / 4)

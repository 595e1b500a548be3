"""Benchmark harness: loaders, official metrics, systems and scoring on tiny synthetic inputs."""

from __future__ import annotations

import gzip
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.cache import CachingEmbedder
from benchmarks.data import (
    load_locomo,
    load_longmemeval,
    parse_evidence,
    parse_lme_date,
    parse_locomo_date,
)
from benchmarks.diagnose import compare
from benchmarks.locomo import score_hits
from benchmarks.longmemeval import score_sessions, select
from benchmarks.metrics import answer_coverage, dedupe, evidence_recall, first_ranks, ndcg_any, percentile, recall_all, recall_any
from benchmarks.report import aggregate, md_table, progress
from benchmarks.systems import Bm25System, Doc, Hit, VectorSystem, context_tokens, open_chroma
from psm_core.embeddings import load_embedder
from psm_core.text import count_tokens


def locomo_sample(sample_id: str = "conv-x") -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Bob",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a greyhound called Pixel last week."},
                {"speaker": "Bob", "dia_id": "D1:2", "text": "Lovely!", "blip_caption": "a photo of a dog on a sofa"},
                {"speaker": "Ann", "dia_id": "D1:3", "text": "My sister Clara lives in Porto and teaches piano."},
            ],
            "session_2_date_time": "10:00 am on 20 June, 2023",
            "session_2": [
                {"speaker": "Bob", "dia_id": "D2:1", "text": "I started training for the Berlin marathon in September."},
                {"speaker": "Ann", "dia_id": "D2:2", "text": "Pixel learned to fetch tennis balls in the park."},
            ],
        },
        "qa": [
            {"question": "What is the name of Ann's dog?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
            {"question": "Which marathon is Bob training for?", "answer": "Berlin", "evidence": ["D2:01"], "category": 2},
            {"question": "Who teaches piano?", "evidence": ["D1:3; D2:2"], "category": 5, "adversarial_answer": "Clara"},
            {"question": "Nothing to find here?", "answer": "", "evidence": [], "category": 3},
        ],
    }


def lme_entry(qid: str, gold_has_answer: bool = True) -> dict[str, Any]:
    return {
        "question_id": qid,
        "question_type": "single-session-user",
        "question": "Which city did I move to for my new job?",
        "answer": "Lisbon",
        "question_date": "2023/05/30 (Tue) 10:18",
        "haystack_session_ids": ["s_noise", "answer_1", "answer_2"],
        "haystack_dates": ["2023/05/20 (Sat) 07:47", "2023/05/21 (Sun) 09:00", "2023/05/22 (Mon) 12:30"],
        "haystack_sessions": [
            [{"role": "user", "content": "Give me a pasta recipe."}, {"role": "assistant", "content": "Sure."}],
            [
                {"role": "user", "content": "I moved to Lisbon for my new job.", "has_answer": gold_has_answer},
                {"role": "assistant", "content": "Congratulations!", "has_answer": True},
            ],
            [{"role": "user", "content": "What is a good bike?"}, {"role": "assistant", "content": "Lisbon has hills."}],
        ],
        "answer_session_ids": ["answer_1", "answer_2"],
    }


# -- data ---------------------------------------------------------------------------------------
def test_parse_evidence_handles_the_malformed_strings_of_the_release() -> None:
    assert parse_evidence(["D8:6; D9:17"]) == ["D8:6", "D9:17"]
    assert parse_evidence(["D30:05"]) == ["D30:5"]
    assert parse_evidence(["D:11:26"]) == ["D11:26"]
    assert parse_evidence(["D9:1 D4:4 D4:6", "D4:4"]) == ["D9:1", "D4:4", "D4:6"]
    assert parse_evidence([]) == [] and parse_evidence(None) == []


def test_dates_parse_to_aware_utc() -> None:
    assert parse_locomo_date("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)
    assert parse_locomo_date("10:04 am on 19 January,  2023").hour == 10
    assert parse_lme_date("2023/05/20 (Sat) 07:47") == datetime(2023, 5, 20, 7, 47, tzinfo=timezone.utc)


def test_load_locomo(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([locomo_sample()]))
    (conv,) = load_locomo(path)
    assert conv.speakers == ("Ann", "Bob") and [len(s) for s in conv.sessions] == [3, 2]
    assert conv.turns[1].text == "Lovely! [shares an image: a photo of a dog on a sofa]"
    assert conv.turns[1].time > conv.turns[0].time  # one minute per turn keeps the order
    assert conv.sessions[1][0].time.month == 6
    assert [q.evidence for q in conv.questions] == [["D1:1"], ["D2:1"], ["D1:3", "D2:2"], []]
    assert conv.questions[2].answer == "Clara" and conv.questions[2].category == 5


def test_load_longmemeval_gold_and_selection(tmp_path: Path) -> None:
    path = tmp_path / "lme.json.gz"
    data = [lme_entry(f"q{i}") for i in range(6)] + [lme_entry("q_abs"), lme_entry("q_nogold", gold_has_answer=False)]
    with gzip.open(path, "wt") as f:
        json.dump(data, f)
    qs = load_longmemeval(path)
    assert len(qs) == 8
    # answer_2 has "answer" in its id but no user has_answer turn: not gold (assistant-side answers do not count)
    assert qs[0].gold == ["answer_1"]
    assert qs[0].sessions[1].user_doc == "I moved to Lisbon for my new job."
    assert qs[6].abstention and qs[7].gold == []
    assert [q.qid for q in select(qs, None)] == [f"q{i}" for i in range(6)]
    assert [q.qid for q in select(qs, 3)] == ["q0", "q2", "q4"]


# -- metrics ------------------------------------------------------------------------------------
def test_evidence_recall_and_session_metrics() -> None:
    assert evidence_recall(["D1:1", "D2:2"], ["D1:1", "D3:1"]) == 0.5
    assert evidence_recall([], []) == 1.0
    ranked = ["a", "g1", "b", "g2"]
    assert recall_any(ranked, ["g1", "g2"], 1) == 0.0 and recall_any(ranked, ["g1", "g2"], 2) == 1.0
    assert recall_all(ranked, ["g1", "g2"], 3) == 0.0 and recall_all(ranked, ["g1", "g2"], 4) == 1.0
    assert first_ranks([["a"], ["b", "c"], ["c"]], ["c", "z"]) == {"c": 2, "z": None}
    assert dedupe(["a", "b", "a"]) == ["a", "b"]


def test_ndcg_matches_the_official_dcg() -> None:
    # official dcg: rel1 + sum_{i>=2} rel_i / log2(i); ideal = all gold first
    assert ndcg_any(["g", "x"], ["g"], 5, n_docs=10) == 1.0
    assert ndcg_any(["x", "g"], ["g"], 5, n_docs=10) == pytest.approx(1.0)  # position 2 is undiscounted officially
    assert ndcg_any(["x", "y", "g"], ["g"], 5, n_docs=10) == pytest.approx(1 / math.log2(3))
    both = ndcg_any(["g1", "x", "g2"], ["g1", "g2"], 3, n_docs=10)
    assert both == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert ndcg_any(["x"], ["g"], 1, n_docs=10) == 0.0


def test_score_sessions_dedupes_in_rank_order_and_counts_tokens_to_the_kth_session() -> None:
    hits = [Hit(("s1",), "- a"), Hit(("s1",), "- b"), Hit(("s2", "s3"), "- c"), Hit(("s4",), "- d")]
    out = score_sessions(hits, ["s3"], n_docs=4)
    assert out["top10"] == ["s1", "s2", "s3", "s4"]
    assert out["recall_all@1"] == 0.0 and out["recall_all@3"] == 1.0 and out["ranks"] == {"s3": 3}
    assert out["tokens@1"] == context_tokens(["- a"]) and out["tokens@3"] == context_tokens(["- a", "- b", "- c"])
    assert out["items_for_10"] is None  # fewer than 10 sessions reached: recall@10 uses what there is
    assert out["recall_any@10"] == 1.0


def test_score_hits_locomo() -> None:
    hits = [Hit(("D1:1",), "- x"), Hit(("D2:1", "D2:2"), "- y", "semantic")] + [Hit((f"D3:{i}",), "- z") for i in range(60)]
    out = score_hits({k: hits[:k] for k in (5, 10, 25, 50)}, ["D2:2", "D9:9"])
    assert out["recall@5"] == 0.5 and out["ranks"] == {"D2:2": 2, "D9:9": None}
    assert out["tokens@5"] == context_tokens(["- x", "- y", "- z", "- z", "- z"])
    assert out["top10"][1] == "D2:1,D2:2 (semantic)"
    assert context_tokens([]) == 0 and context_tokens(["abcd"]) == count_tokens("Relevant memories about the user:\nabcd")


def test_answer_coverage_counts_content_words() -> None:
    ctx = "- [2023-05-08] Caroline: I'm researching adoption agencies in Porto."
    assert answer_coverage("Adoption agencies", ctx) == 1.0
    assert answer_coverage("the adoption agencies of Lisbon", ctx) == pytest.approx(2 / 3)  # stop words left out
    assert answer_coverage("the", ctx) is None and answer_coverage("Sweden", "") == 0.0
    hits = [Hit(("D1:1",), "- Ann: my dog Pixel"), Hit(("D1:2",), "- Bob: the Berlin marathon")]
    out = score_hits({1: hits[:1], 2: hits}, ["D1:2"], "Berlin marathon")
    assert (out["answer@1"], out["answer@2"]) == (0.0, 1.0) and "answer@1" not in score_hits({1: hits}, ["D1:2"])


def test_aggregate_table_and_compare() -> None:
    rows = [
        {"category": "a", "systems": {"psm": {"r": 1.0, "ms": 2.0}, "bm25": {"r": 0.0, "ms": 1.0}}},
        {"category": "a", "systems": {"psm": {"r": 0.0, "ms": 4.0}, "bm25": {"r": 1.0, "ms": 1.0}}},
        {"category": "b", "systems": {"psm": {"r": 1.0, "ms": 6.0}, "bm25": {"r": 1.0, "ms": 1.0}}},
    ]
    agg = aggregate(rows, "psm", ["r"], "category")
    assert agg["all"] == {"n": 3, "r": pytest.approx(2 / 3)} and agg["groups"]["a"]["r"] == 0.5
    assert agg["latency_ms"]["p50"] == 4.0 and aggregate(rows, "nope", ["r"]) == {}
    cmp = compare(rows, "psm", "bm25", "r", "category")
    assert (cmp["a"]["win"], cmp["a"]["loss"], cmp["b"]["tie"]) == (1, 1, 1)
    table = md_table(["system", "r"], [["psm", 0.5], ["bm25", float("nan")]])
    assert "0.500" in table and "n/a" in table
    assert math.isnan(percentile([], 50))


def test_progress_writes_lines_to_a_log_and_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("benchmarks.report.LOG_INTERVAL_S", 0.0)  # a line per update
    assert list(progress(range(3), desc="probe", unit="q")) == [0, 1, 2]
    err = capsys.readouterr().err  # captured: not a terminal, as in `... 2> log`
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "\r" not in err and len(lines) >= 2 and "probe" in lines[-1] and "3/3" in lines[-1]
    monkeypatch.setenv("PSM_BENCH_PROGRESS", "0")
    assert list(progress(range(3), desc="quiet")) == [0, 1, 2]
    assert "quiet" not in capsys.readouterr().err


# -- systems (real bm25s, real embedder, real Chroma) --------------------------------------------
DOCS = [
    Doc("Ann: I adopted a greyhound called Pixel", "- Ann: greyhound", ("D1:1",)),
    Doc("Bob: training for the Berlin marathon", "- Bob: marathon", ("D1:2",)),
    Doc("Ann: my sister teaches piano in Porto", "- Ann: piano", ("D1:3",)),
]


def test_bm25_system_ranks_the_matching_turn_first() -> None:
    bm = Bm25System()
    bm.index(DOCS)
    assert bm.search("Which marathon is Bob running?", 5)[0].units == ("D1:2",)
    assert len(bm.search("zebra quantum", 5)) == 3  # top k regardless of score, as in the official evaluations


def test_caching_embedder_and_vector_system(tmp_path: Path) -> None:
    base = load_embedder()
    emb = CachingEmbedder(base, tmp_path / "cache.sqlite3")
    texts = ["a dog named Pixel", "the Berlin marathon", "a dog named Pixel"]
    first = emb.embed(texts)
    assert emb.misses == 3 and emb.hits == 0
    again = CachingEmbedder(base, tmp_path / "cache.sqlite3").embed(texts)
    np.testing.assert_allclose(again, first, atol=1e-6)
    np.testing.assert_allclose(first, base.embed(texts), atol=1e-5)
    with emb.bypass():
        emb.embed(["never cached"])
    assert emb.embed(["never cached"]).shape == (1, base.dim) and emb.misses == 4
    vec = VectorSystem(open_chroma(tmp_path / "raw"), emb)
    vec.index(DOCS)
    assert vec.search("What breed is Ann's dog?", 2)[0].units == ("D1:1",)
    vec.close()


def test_docs_example_runs_as_written(tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    blocks = re.findall(r"```python\n(.*?)```", (root / "docs" / "benchmarks.md").read_text(), flags=re.S)
    assert blocks
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PSM_HOME": str(tmp_path / "home")}
    for code in blocks:
        proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Mia" in proc.stdout and "misses" in proc.stdout

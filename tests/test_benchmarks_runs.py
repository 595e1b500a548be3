"""Benchmark harness end to end: each command on tiny synthetic files, PSM scoring rules, the dev data."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.cache import CachingEmbedder
from benchmarks.data import load_locomo, load_longmemeval
from benchmarks.longmemeval import select
from benchmarks.psm_system import PsmSystem
from psm_core.embeddings import load_embedder
from tests.conftest import shared_data
from tests.test_benchmarks import lme_entry, locomo_sample

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def psm_system(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = PsmSystem(tmp_path / "home", load_embedder(), unit_key="dia_id", skill="baseline")
    yield s
    s.close()


def test_psm_system_maps_provenance_and_scores_dropped_turns_as_misses(psm_system: PsmSystem) -> None:
    sessions = [
        [
            {"text": "I adopted a greyhound called Pixel.", "role": "Ann", "timestamp": T0, "metadata": {"dia_id": "D1:1"}},
            {"text": "ok", "role": "Bob", "timestamp": T0 + timedelta(minutes=1), "metadata": {"dia_id": "D1:2"}},
            {"text": "Pixel loves tennis balls and the park.", "role": "Ann", "timestamp": T0 + timedelta(minutes=2),
             "metadata": {"dia_id": "D1:3"}},
        ]
    ]  # fmt: skip
    rep = psm_system.ingest("u", sessions)
    assert (rep.turns, rep.stored, rep.dropped_units) == (3, 2, ["D1:2"])  # the gate drops "ok"
    mem = psm_system.memory("u")
    eps = {r.metadata["dia_id"]: r.id for r in mem.records("episodic")}
    assert "D1:2" not in eps  # lives in working memory only, which recall does not search
    # given newest first: a fact's units still come oldest first (provenance is sorted by random record ids)
    mem.remember("Ann has a greyhound named Pixel who plays fetch.", provenance=[eps["D1:3"], eps["D1:1"]])
    hits, ms = psm_system.recall("u", "Ann's dog Pixel", 5)
    assert ms > 0 and {u for h in hits for u in h.units} == {"D1:1", "D1:3"}
    fact = next(h for h in hits if h.tier == "semantic")
    assert fact.units == ("D1:1", "D1:3")
    assert all("D1:2" not in h.units for h in hits)


def test_isolation_restores_access_statistics(psm_system: PsmSystem) -> None:
    events = [{"text": f"Fact number {i}: I like the colour {c}.", "role": "Ann", "timestamp": T0 + timedelta(minutes=i),
               "metadata": {"dia_id": f"D1:{i}"}} for i, c in enumerate(["red", "blue", "green"])]  # fmt: skip
    psm_system.ingest("u", [events])
    mem = psm_system.memory("u")
    psm_system.recall("u", "which colour?", 3)
    assert sum(r.recall_count for r in mem.records()) == 3
    psm_system.restore("u")
    assert all(r.recall_count == 0 and r.last_access is None for r in mem.records())
    psm_system.isolate = False
    psm_system.recall("u", "which colour?", 3)
    psm_system.restore("u")
    assert sum(r.recall_count for r in mem.records()) == 3


def test_locomo_and_diagnose_commands_on_a_tiny_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([locomo_sample("conv-a"), locomo_sample("conv-b")]))
    out = tmp_path / "res"
    assert main(["locomo", "--data", str(data), "--skill", "baseline", "--out-dir", str(out), "--out", "lc"]) == 0
    summary = json.loads((out / "lc.json").read_text())
    assert summary["command"].startswith("python -m benchmarks locomo --data")
    assert summary["questions"] == 8 and summary["records"]["bm25"] == 10
    for system in ("bm25", "vectors", "psm"):
        assert 0.0 <= summary["systems"][system]["all"]["recall@5"] <= 1.0
        assert summary["systems"][system]["all"]["recall@50"] == 1.0  # every turn fits in 50
    assert summary["psm_gate"]["turns_observed"] == 10
    rows = [json.loads(x) for x in (out / "lc_questions.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and rows[3]["systems"]["psm"]["recall@5"] == 1.0  # no evidence counts 1.0
    for row in rows:  # PSM at the raw store's context size never injects more tokens than raw at k=10
        psm, raw = row["systems"]["psm"], row["systems"]["vectors"]
        assert psm["tokens@raw"] <= raw["tokens@10"]
        assert psm["answer@10"] is None or 0.0 <= psm["answer@10"] <= 1.0
    ctx = summary["context"]
    assert ctx["psm at raw's tokens"]["tokens"] <= ctx["vectors"]["tokens"] and 0.0 <= ctx["psm"]["answer"] <= 1.0
    assert "answer words" in (out / "lc.md").read_text()
    assert (out / "lc.png").stat().st_size > 1000 and "R@10" in (out / "lc.md").read_text()
    printed = capsys.readouterr().out
    assert "| bm25" in printed and "psm+consolidation" in printed
    rc = main(["diagnose", "locomo", "--results", str(out / "lc_questions.jsonl"), "--data", str(data), "--out", "lc"])
    assert rc == 0 and (out / "lc_diagnosis_psm_vs_bm25.md").exists()


def test_rerank_probe_on_a_tiny_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([locomo_sample("conv-a"), locomo_sample("conv-b")]))
    out = tmp_path / "res"
    rc = main(
        ["rerank_probe", "--source", "locomo", "--data", str(data), "--depths", "3,5", "--weights", "0.5", "--out-dir", str(out)]
    )
    assert rc == 0
    summary = json.loads((out / "rerank_probe_locomo.json").read_text())
    names = [r["rescoring"] for r in summary["rows"]]
    # per depth: B=0.5 without and with session support (the default S values 0 and SESSION_WEIGHT), cross-encoder alone
    assert names[0].startswith("skill") and len(names) == 7
    assert "rerank N=5 B=0.5, no session support" in names and "rerank N=5 B=0.5, session S=0.3" in names
    assert {r.get("session_weight") for r in summary["rows"][1:]} == {0.0, 0.3, None}
    for r in summary["rows"]:
        assert 0.0 <= r["all recall@10"] <= 1.0
    assert set(summary["ms_per_recall"]) == {"3", "5"} or set(summary["ms_per_recall"]) == {3, 5}
    assert "rerank N=3" in capsys.readouterr().out


def test_rerank_cost_on_a_tiny_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([locomo_sample("conv-a")]))
    out = tmp_path / "res"
    rc = main(["rerank_cost", "--data", str(data), "--conv", "conv-a", "--questions", "2", "--depth", "4", "--out-dir", str(out)])
    assert rc == 0
    summary = json.loads((out / "rerank_cost.json").read_text())
    rows = {r["what"]: r for r in summary["rows"]}
    assert set(rows) == {"one padded batch", "length buckets of 8", "recall k=10", "recall k=10, rerank=4"}
    assert all(r["calls"] == 2 and r["p50_ms"] > 0 for r in rows.values())
    assert summary["max_logit_difference"] < 1e-4  # bucketing changes the cost, not the logits
    assert "| one padded batch" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["rerank_cost", "--data", str(data), "--conv", "conv-zz", "--out-dir", str(out)])


def test_longmemeval_and_latency_commands_on_a_tiny_file(tmp_path: Path) -> None:
    entries = [lme_entry(f"q{i}") for i in range(2)] + [lme_entry("q_abs")]
    for n, e in enumerate(entries):
        e["question"] = f"Which city did I move to for my new job, question {n}?"
        e["haystack_sessions"][0] += [{"role": "user", "content": f"I keep a journal of my runs, entry number {n}-{j}."}
                                      for j in range(30)]  # fmt: skip
    data = tmp_path / "lme.json.gz"
    with gzip.open(data, "wt") as f:
        json.dump(entries, f)
    out = tmp_path / "res"
    assert (
        main(["longmemeval", "--data", str(data), "--skill", "baseline", "--out-dir", str(out), "--out", "lme", "--rerank", "3"])
        == 0
    )
    summary = json.loads((out / "lme.json").read_text())
    assert summary["questions"] == 2 and summary["info"]["scorable"] == 2 and summary["info"]["rerank"] == 3
    for system in ("bm25", "vectors", "vectors-turns", "psm", "psm+rerank", "psm+consolidation+rerank"):
        assert summary["systems"][system]["all"]["recall_any@10"] == 1.0  # 3 sessions: all in the top 10
    assert summary["psm_gate"]["answer_turns"] == 2
    args = ["latency", "--data", str(data), "--locomo", str(tmp_path / "none.json"), "--sizes", "10,20", "--ops", "2",
            "--warmup", "1", "--skill", "baseline", "--out-dir", str(out)]  # fmt: skip
    with pytest.raises(SystemExit):  # 3 distinct questions cannot give 12 distinct queries
        main(args)


def test_latency_command_on_a_tiny_store(tmp_path: Path) -> None:
    entries = []
    for n in range(12):
        e = lme_entry(f"q{n}")
        e["question"] = f"What did I say about topic {n}?"
        e["haystack_sessions"][0] = [{"role": "user", "content": f"Note {n}-{j}: I water the tomato plants every morning."}
                                     for j in range(10)]  # fmt: skip
        entries.append(e)
    data = tmp_path / "lme.json"
    data.write_text(json.dumps(entries))
    out = tmp_path / "res"
    args = ["latency", "--data", str(data), "--locomo", str(tmp_path / "none.json"), "--sizes", "10,30", "--ops", "2",
            "--warmup", "1", "--skill", "baseline", "--out-dir", str(out)]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((out / "latency.json").read_text())
    small, big = summary["rows"]
    assert small["psm_records"] >= 10 and big["psm_records"] >= 30 and big["raw_records"] == big["psm_records"]
    assert small["psm_recall"]["n"] == 2 and small["psm_recall"]["p50"] > 0 and small["raw_observe"]["p50"] > 0
    assert small["psm_reload_ms"] > 0 and "reload" in (out / "latency.md").read_text()
    assert (out / "latency.png").exists() and not (out / "latency_questions.jsonl").exists()


def test_cache_key_depends_on_the_model(tmp_path: Path) -> None:
    base = load_embedder()
    emb = CachingEmbedder(base, tmp_path / "c.sqlite3")
    assert emb._key("x") != emb._key("y")
    other = CachingEmbedder(base, tmp_path / "c.sqlite3")
    other._prefix = b"another-model\x00384\x00"
    assert other._key("x") != emb._key("x")


# -- the development data (skips without ../shared) ---------------------------------------------------
def test_locomo_dev_file_parses() -> None:
    convs = load_locomo(shared_data("locomo", "locomo_dev.json"))
    assert len(convs) == 5 and sum(len(c.questions) for c in convs) == 1020
    known = {(c.sample_id, t.dia_id) for c in convs for t in c.turns}
    refs = [(c.sample_id, e) for c in convs for q in c.questions for e in q.evidence]
    assert all(e.startswith("D") and ":" in e for _, e in refs)
    assert sum(r not in known for r in refs) <= 10  # a handful of evidence ids point at no turn in the release


def test_longmemeval_dev_file_parses() -> None:
    qs = load_longmemeval(shared_data("longmemeval", "longmemeval_s_dev.json.gz"))
    assert len(qs) == 251 and len(select(qs, None)) == 209
    assert all(g in {s.sid for s in q.sessions} for q in select(qs, None) for g in q.gold)

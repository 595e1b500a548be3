"""The consolidation benchmark's scoring (coverage through provenance) and a small end-to-end run."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import Tier

_spec = importlib.util.spec_from_file_location(
    "psm_consolidation_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "consolidation.py"
)
bench = importlib.util.module_from_spec(_spec)  # loaded by path: no benchmarks/ module shadows another test's import
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def test_dia_ids_are_canonical():
    assert bench.dia("D8:6; D9:17") == ["D8:6", "D9:17"] and bench.dia("D30:05") == ["D30:5"]


def test_a_fact_covers_the_turns_of_its_provenance_and_states_its_source(pass_psm):
    mem = pass_psm.for_user("alice")
    texts = ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."]
    recs = mem.observe_many(
        [{"text": t, "role": "Alice", "session_id": "S1", "timestamp": T0 + timedelta(minutes=i), "metadata": {"dia_id": f"D1:{i + 1}"}}
         for i, t in enumerate(texts)]
    )  # fmt: skip
    pass_psm.consolidate("alice")
    (fact,) = mem.records(Tier.SEMANTIC)
    assert fact.role == "Alice"  # the speaker of the statement is kept
    assert bench.units(mem, fact, "dia_id") == {"D1:1", "D1:2"}
    src = next(r for r in recs if r.id == fact.ledger["source"])
    assert bench.stated(mem, fact, "dia_id") == {src.metadata["dia_id"]}
    assert bench.units(mem, mem.get(recs[0].id), "dia_id") == {"D1:1"}


@pytest.mark.slow
def test_small_benchmark_run(tmp_path):
    from tests.conftest import shared_data

    data = shared_data()
    out = tmp_path / "res"
    args = ["--data", str(data), "--locomo-limit", "1", "--locomo-questions", "5", "--lme-limit", "1", "--out", str(out)]
    assert bench.main(args) == 0
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["locomo"]["questions"] == 5 and res["longmemeval_ku"]["questions"] == 1
    assert 0 < res["locomo"]["after"]["active_ratio"] <= 1 and res["throughput"]["episodes"] > 0
    assert "Command: `python benchmarks/consolidation.py" in out.with_suffix(".md").read_text()

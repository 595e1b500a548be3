"""The memory-operation benchmark (issue 25): the committed scenario suite and the harness end to end."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.memops import authored_test, authored_train
from benchmarks.memops.build import build
from benchmarks.memops.external import _LABELLED, PAST_QUESTION, asks, beam_chats, beam_turns, lme_questions
from benchmarks.memops.harness import LOWER_IS_BETTER, METRICS
from benchmarks.memops.runner import parse_systems, pick
from benchmarks.memops.scenarios import SCENARIO_DIR, TYPES, Scenario, holds, load_scenarios, normalize, validate, value_of
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def suite() -> list[Scenario]:
    return load_scenarios("all")


def test_suite_loads_and_is_valid(suite: list[Scenario]) -> None:
    assert len(suite) >= 150
    assert validate(suite) == []
    assert set(Counter(s.type for s in suite)) == set(TYPES)
    for split in ("train", "test"):
        assert set(Counter(s.type for s in suite if s.split == split)) == set(TYPES), split
    updated = {s.attribute for s in suite if s.type in ("update", "correction")}
    assert len(updated) >= 30 and len({s.attribute for s in suite}) >= 30
    share = sum(s.split == "test" for s in suite) / len(suite)
    assert 0.35 <= share <= 0.45
    assert sum(p.stat().st_size for p in SCENARIO_DIR.glob("*.jsonl")) < 1_000_000
    for s in suite:
        assert len({t.session for t in s.turns}) >= (1 if s.type == "correction" else 2) and len(s.noise_turns) >= 2


def test_suite_holds_the_conversations_of_the_issue(suite: list[Scenario]) -> None:
    text = {normalize(s.turns[i].text) for s in suite if s.split == "test" for i in s.key_turns}
    for quoted in ("I handed in my notice at Google! Next Monday I start at Anybotics.", "sorry, I got that wrong: Saturday, not Friday",
                   "No, my manager is Stein, not Klein.", "My car is blue.", "I have never used Flask.", "I built the Flask routes yesterday.",
                   "We adopted a cat as well, her name is Miso."):  # fmt: skip
        assert normalize(quoted) in text
    assert any(s.type == "noise" and s.probe == "Where do I live?" for s in suite)


def test_splits_share_no_statement_or_filler(suite: list[Scenario]) -> None:
    def key_texts(split: str) -> set[str]:
        return {normalize(s.turns[i].text) for s in suite if s.split == split for i in s.key_turns}

    assert key_texts("test").isdisjoint(key_texts("train"))
    train_pool, test_pool = authored_train.POOLS, authored_test.POOLS
    for field in ("greetings", "acks", "requests", "distractors", "answers", "reactions"):
        a = {normalize(x) for x in getattr(train_pool, field)}
        b = {normalize(x) for x in getattr(test_pool, field)}
        assert a.isdisjoint(b), field
    # no test turn of any kind appears verbatim in train (filler included)
    train_all = {normalize(t.text) for s in suite if s.split == "train" for t in s.turns}
    test_all = {normalize(t.text) for s in suite if s.split == "test" for t in s.turns}
    assert not train_all & test_all, sorted(train_all & test_all)[:5]

    def probes(split: str) -> set[str]:
        return {normalize(q) for s in suite if s.split == split for q in (s.probe, s.past_probe) if q}

    assert probes("test").isdisjoint(probes("train"))


def test_committed_files_are_the_build_of_the_sources() -> None:
    built = build()
    for split, scenarios in built.items():
        lines = (SCENARIO_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == json.loads(json.dumps(scenarios)), split


def test_value_matching_is_on_word_edges() -> None:
    assert holds("My car is RED.", ["red"]) and not holds("I'm tired", ["red"])
    assert not holds("see you tomorrow", ["Tom"]) and holds("It's Tom now", ["Tom"])
    assert holds("Raised my rate to $110/hour", ["$110"]) and holds("£1,100 a month", ["1,100"])
    s = next(x for x in load_scenarios("test") if x.id == "test-correction-event_day")
    assert value_of("sorry, I got that wrong: Saturday, not Friday", s) == "new"
    assert value_of("The housewarming party is on Friday.", s) == "old"
    assert value_of("hello", s) is None


def test_systems_and_pick() -> None:
    assert parse_systems("baseline,psm-mini,new=/w") == [("baseline", "baseline"), ("psm-mini", "mini"), ("new", "/w")]
    suite = load_scenarios("all")
    got = pick(suite, 6)
    assert [s.type for s in got] == list(TYPES)


def test_memops_end_to_end_on_three_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "res"
    argv = ["memops", "--split", "test", "--limit", "3", "--systems", "psm-mini", "--lme-limit", "0", "--beam-limit", "0",
            "--out-dir", str(out), "--out", "mo"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "mo.json").read_text())
    assert summary["command"].startswith("python -m benchmarks memops --split test --limit 3")
    assert summary["scenarios"] == 3
    for col in ("psm-mini", "psm-mini+pass"):
        block = summary["results"][col]["test"]
        assert block["scenarios"] == 3
        seen = 0
        for m in METRICS:
            if block.get(f"{m}_n"):
                seen += 1
                assert block[m] >= 0.0 and (m == "duplicates_returned" or block[m] <= 1.0), m
        assert seen >= 5
    rows = [json.loads(line) for line in (out / "mo_questions.jsonl").read_text().splitlines()]
    assert [r["type"] for r in rows] == ["update", "correction", "complement"]
    assert all(isinstance(r["systems"]["psm-mini"]["top"], list) for r in rows)
    md = (out / "mo.md").read_text()
    assert "python -m benchmarks memops" in md and "newer_above_older" in md
    assert "duplicates_returned" in LOWER_IS_BETTER


def test_lme_and_beam_loaders_on_the_dev_data() -> None:
    lme = lme_questions(shared_data("longmemeval", "longmemeval_s_dev.json.gz"), None)
    assert len(lme) >= 30 and all(q.qtype == "knowledge-update" and len(q.gold) >= 2 for q in lme)
    assert 3 <= sum(bool(PAST_QUESTION.search(q.question)) for q in lme) <= 12
    assert all(q.qid in _LABELLED for q in lme)  # every dev question read and labelled by hand
    assert Counter(asks(q) for q in lme) == {"current": 25, "earlier": 5, "both": 4}
    assert len(lme_questions(shared_data("longmemeval", "longmemeval_s_dev.json.gz"), 5)) == 5
    chats = beam_chats(shared_data("beam", "beam_100k_dev.json.gz"), 2)
    assert len(chats) == 2
    sessions = beam_turns(chats[0])
    events = [e for s in sessions for e in s]
    ids = {e["metadata"]["turn_id"] for e in events}
    times = [e["timestamp"] for e in events]
    assert all(b > a for a, b in zip(times, times[1:])) and times[0] >= datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert not any("->->" in e["text"] for e in events)
    for item in chats[0]["probing_questions"]["knowledge_update"] + chats[0]["probing_questions"]["contradiction_resolution"]:
        for turn_ids in item["source_chat_ids"].values():
            assert set(turn_ids) <= ids
    assert times[-1] - times[0] > timedelta(days=7)

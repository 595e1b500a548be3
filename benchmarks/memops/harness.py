"""Run one scenario on one PSM user and score the memory operations, through the public API only.

```
ingest(mem, scenario, bulk)   observe every turn (live: one observe() per turn; bulk: one observe_many per session)
measure(mem, scenario, ids)   the scenario's metrics as the store stands (call before and after a pass)
METRICS                       every metric: name -> (what it means, which scenario types it applies to)
```
Every recall is ``touch=False`` (evaluation leaves access statistics alone) and ``now`` = the probe time.
A memory *holds the new value* when its text holds a new fragment, the *old value* when it holds an old
fragment and no new one (:func:`~benchmarks.memops.scenarios.value_of`). A metric that does not apply to a
scenario is None and is left out of the means.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from benchmarks.memops.scenarios import Scenario, holds, normalize, value_of
from psm_core import MemoryRecord, NotFoundError, Status, Tier, UserMemory

__all__ = ["K", "METRICS", "PAST_K", "ingest", "measure"]

K = 10  # recall depth of a probe
PAST_K = 5  # the old value must be this high for a question about the past
UPDATES = ("update", "correction")

METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "newer_above_older": ("the best memory holding the new value ranks above the best holding the old one (new missing: fail)",
                          UPDATES),
    "current_at_1": ("the top memory holds the current value", UPDATES),
    "answer_at_1": ("the top memory holds the fact, not the user's own question about it", ("noise",)),
    "fact_formed": ("an active semantic fact holds the value, with the statement's episode in its provenance",
                    ("update", "correction", "complement", "restatement", "noise")),
    "history_kept": ("the old value is reachable and a record holding it is superseded or has valid_to", UPDATES),
    "old_marked": ("(part of history kept) a record holding the old value is superseded or has valid_to", UPDATES),
    "false_supersession": ("a record holding the first value got superseded or valid_to (lower is better)", ("complement",)),
    "both_values_top10": ("both values of a complement are in the top 10", ("complement",)),
    "noise_stored": ("share of noise turns (questions, requests, greetings, acks) stored episodic/semantic (lower is better)",
                     ("update", "correction", "complement", "restatement", "never", "noise")),
    "duplicates_returned": ("results holding the restated value beyond the first, in the top 10 (mean count; lower is better)",
                            ("restatement",)),
    "duplicate_rate": ("share of restatement scenarios with the value returned more than once (lower is better)", ("restatement",)),
    "flagged": ("a conflict in review_queue() involves either statement", ("never",)),
    "never_both_top10": ("both statements are in the top 10", ("never",)),
    "past_question": (f"the old value is in the top {PAST_K} of recall(past question, include_superseded=True)", UPDATES),
    "profile_current": ("mem.profile() holds the current value (only when the API exists)",
                        ("update", "correction", "complement", "restatement", "noise")),
    "profile_stale": ("mem.profile() holds an entry with the old value only (only when the API exists; lower is better)", UPDATES),
}  # fmt: skip
LOWER_IS_BETTER = frozenset({"false_supersession", "noise_stored", "duplicates_returned", "duplicate_rate", "profile_stale"})


def ingest(mem: UserMemory, s: Scenario, bulk: bool = False) -> list[str]:
    """Observe every turn of ``s``; the record id ``observe`` returned for each turn."""
    events: list[dict[str, Any]] = [
        {"text": t.text, "role": t.role, "session_id": t.session, "timestamp": t.time, "metadata": {"turn": i, "label": t.label}}
        for i, t in enumerate(s.turns)
    ]
    if not bulk:
        return [mem.observe(**e).id for e in events]
    ids: list[str] = []
    for session in s.sessions:
        ids.extend(r.id for r in mem.observe_many([events[i] for i in session]))
    return ids


def _covers(mem: UserMemory, rec: MemoryRecord, ids: set[str]) -> bool:
    """Whether ``rec`` is one of ``ids`` or was built from one of them (provenance, followed to the episodes)."""
    if rec.id in ids or ids.intersection(rec.provenance):
        return True
    try:
        return any(src.id in ids for src in mem.sources(rec.id))
    except NotFoundError:
        return False


def _first(values: Sequence[str | None], want: str) -> int | None:
    return next((i for i, v in enumerate(values) if v == want), None)


def _stored(mem: UserMemory, rid: str) -> bool:
    try:
        rec = mem.get(rid)
    except NotFoundError:
        return False
    return rec.tier in (Tier.EPISODIC, Tier.SEMANTIC) and rec.status is not Status.ARCHIVED


def _texts_of(obj: Any) -> list[str]:
    """Every ``text`` field inside a profile (dicts, lists, pydantic models, objects with ``.text``)."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json")
    if isinstance(obj, str):
        return []
    if isinstance(obj, dict):
        own = [str(obj["text"])] if isinstance(obj.get("text"), str) else []
        return own + [t for v in obj.values() for t in _texts_of(v)]
    if isinstance(obj, (list, tuple, set)):
        return [t for v in obj for t in _texts_of(v)]
    text = getattr(obj, "text", None)
    return [text] if isinstance(text, str) else []


def measure(mem: UserMemory, s: Scenario, ids: Sequence[str]) -> dict[str, Any]:
    """The metrics of ``s`` (None where one does not apply), noise counts, and the probe's top list."""
    out: dict[str, Any] = dict.fromkeys(METRICS)
    res = mem.recall(s.probe, k=K, now=s.probe_time, touch=False)
    recs = [m.record for m in res.memories]
    vals = [value_of(r.text, s) for r in recs]
    out["top"] = [f"{r.tier.value}/{r.status.value}: {r.text[:90]}" for r in recs]
    records = mem.records()
    by_turn = {i: ids[i] for i in range(len(ids))}

    if s.type in UPDATES:
        new, old = _first(vals, "new"), _first(vals, "old")
        out["newer_above_older"] = float(new is not None and (old is None or new < old))
        out["current_at_1"] = float(bool(vals) and vals[0] == "new")
        olds = [r for r in records if value_of(r.text, s) == "old"]
        marked = any(r.status is Status.SUPERSEDED or r.valid_to is not None for r in olds)
        wide = mem.recall(s.past_probe or s.probe, k=K, now=s.probe_time, include_superseded=True, touch=False)
        reachable = bool(olds) or any(value_of(m.record.text, s) == "old" for m in wide.memories)
        out["old_marked"] = float(marked)
        out["history_kept"] = float(marked and reachable)
        if s.past_probe:
            past = mem.recall(s.past_probe, k=PAST_K, now=s.probe_time, include_superseded=True, touch=False)
            out["past_question"] = float(any(holds(m.record.text, s.old_values) for m in past.memories[:PAST_K]))
    if s.type == "noise":
        out["answer_at_1"] = float(bool(recs) and holds(recs[0].text, s.new_values))

    expected: list[tuple[tuple[int, ...], tuple[str, ...]]] = []
    if s.type in (*UPDATES, "noise"):
        expected = [(s.new_turns, s.new_values)]
    elif s.type == "complement":
        expected = [(s.old_turns, s.old_values), (s.new_turns, s.new_values)]
    elif s.type == "restatement":
        expected = [(s.statement_turns, s.new_values)]
    if expected:
        facts = [r for r in records if r.tier is Tier.SEMANTIC and r.status is Status.ACTIVE]
        formed = [any(holds(f.text, v) and _covers(mem, f, {by_turn[i] for i in turns}) for f in facts) for turns, v in expected]
        out["fact_formed"] = sum(formed) / len(formed)

    if s.type == "complement":
        firsts = [r for r in records if holds(r.text, s.old_values)]
        out["false_supersession"] = float(any(r.status is Status.SUPERSEDED or r.valid_to is not None for r in firsts))
        out["both_values_top10"] = float(
            any(holds(r.text, s.old_values) for r in recs) and any(holds(r.text, s.new_values) for r in recs)
        )

    if s.type == "restatement":
        dup = max(0, sum(1 for r in recs if holds(r.text, s.new_values)) - 1)
        out["duplicates_returned"] = float(dup)
        out["duplicate_rate"] = float(dup > 0)

    if s.type == "never":
        stmt = [{ids[i]} for i in s.statement_turns]
        related = set().union(*stmt) | {r.id for r in records if any(_covers(mem, r, st) for st in stmt)}
        conflicts = mem.review_queue()
        out["flagged"] = float(any(c.new_id in related or c.old_id in related for c in conflicts))
        out["never_both_top10"] = float(all(any(_covers(mem, r, st) for r in recs) for st in stmt))

    noise_ids = {ids[i] for i in s.noise_turns}
    facts_of_noise = [
        (normalize(r.text), {src.id for src in _sources(mem, r)})
        for r in records
        if r.tier is Tier.SEMANTIC and r.id not in noise_ids and r.status is not Status.ARCHIVED
    ]
    stored = 0
    for i in s.noise_turns:
        text = normalize(s.turns[i].text)
        from_noise = any(t == text or (ids[i] in src and src <= noise_ids) for t, src in facts_of_noise)
        stored += int(_stored(mem, ids[i]) or from_noise)
    out["noise_turns"] = len(s.noise_turns)
    out["noise_stored_turns"] = stored
    out["noise_stored"] = stored / len(s.noise_turns) if s.noise_turns else None

    if hasattr(mem, "profile"):
        _profile(mem, s, out)
    return out


def _sources(mem: UserMemory, rec: MemoryRecord) -> list[MemoryRecord]:
    try:
        return mem.sources(rec.id)
    except NotFoundError:
        return []


def _profile(mem: UserMemory, s: Scenario, out: dict[str, Any]) -> None:
    """``profile_current``/``profile_stale`` from ``mem.profile()`` (an API being added; any failure is recorded)."""
    try:
        prof = mem.profile()  # type: ignore[attr-defined]
        texts = _texts_of(prof) or [json.dumps(prof, default=str)]
    except Exception as exc:  # the API is not settled yet: record, do not fail the run
        out["profile_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return
    if s.type in METRICS["profile_current"][1]:
        out["profile_current"] = float(any(holds(t, s.new_values) for t in texts))
    if s.type in UPDATES:
        out["profile_stale"] = float(any(value_of(t, s) == "old" for t in texts))

"""Guards a pass applies to a skill's decisions: tight patterns, bounded cover, and no supersession
of events or of statements about different things (real embedder, real store, baseline skill)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from psm_core import Status, Tier
from psm_core.consolidation import ConsolidationConfig
from psm_core.consolidation.guards import cohesive_groups, may_conflict, plain_statement, validate_patterns
from psm_core.skill.base import Pattern
from psm_core.types import Kind, MemoryRecord

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def _unit(*rows: list[float]) -> np.ndarray:
    v = np.array(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _record(text: str, kind: Kind, role: str = "user", day: int = 0) -> MemoryRecord:
    return MemoryRecord(user_id="u", text=text, kind=kind, role=role, tier=Tier.EPISODIC, observed_at=T0 + timedelta(days=day))


def test_a_chain_of_pairwise_links_is_not_one_group():
    # a ~ b ~ c ~ d pairwise (cos 0.92 between neighbours) but a and d are far apart (cos 0.42)
    angles = np.radians([0, 23, 46, 65])
    vecs = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    main, groups = cohesive_groups([0, 1, 2, 3], vecs, vecs[0], cohesion=0.85, max_cover=16)
    assert main == [0, 1]  # the anchor keeps only its close members, closest first
    assert groups == [(2, [2, 3])]  # the rest regroup around their own medoid
    covered = [main] + [m for _, m in groups]
    assert all(float(vecs[a] @ vecs[b]) >= 0.85 for g in covered for a in g for b in g)


def test_one_fact_covers_at_most_max_cover_episodes():
    vecs = _unit(*[[1.0, 0.01 * i] for i in range(10)])
    main, groups = cohesive_groups(list(range(10)), vecs, vecs[0], cohesion=0.9, max_cover=4)
    assert main == [0, 1, 2, 3] and len(main) == 4
    assert all(len(m) <= 4 for _, m in groups)


def test_validate_patterns_drops_chit_chat_and_restates_split_groups():
    eps = [_record(t, k) for t, k in [("haha", Kind.CHITCHAT), ("lol", Kind.CHITCHAT), ("I have a cat", Kind.FACT),
                                       ("I own a cat", Kind.FACT), ("I went to Rome", Kind.EVENT)]]  # fmt: skip
    vecs = _unit([1, 0, 0], [1, 0.05, 0], [0, 1, 0], [0, 1, 0.05], [0, 0, 1])
    by_id = {e.id: i for i, e in enumerate(eps)}
    chat = Pattern(text="haha", kind=Kind.FACT, confidence=0.9, episode_ids=[eps[0].id, eps[1].id])
    mixed = Pattern(text="I have a cat", kind=Kind.FACT, confidence=0.9, episode_ids=[e.id for e in eps[2:]])
    out, changed = validate_patterns([chat, mixed], by_id, eps, vecs, vecs[[0, 2]], ConsolidationConfig())
    assert changed == 1  # the Rome episode was cut from the cat pattern
    ((pattern, src),) = out  # chit-chat never becomes a fact
    assert pattern.text == "I have a cat" and src == 2
    assert pattern.episode_ids == sorted([eps[2].id, eps[3].id])


def test_may_conflict_needs_states_the_same_speaker_and_the_same_subject():
    cfg = ConsolidationConfig()
    old, new = _record("I live in Lisbon", Kind.FACT), _record("I live in Porto now", Kind.FACT, day=9)
    assert may_conflict(old, new, 0.8, cfg)
    assert not may_conflict(old, new, 0.3, cfg)  # about different things
    assert not may_conflict(old, _record("I live in Porto now", Kind.FACT, role="Bob"), 0.8, cfg)  # another speaker
    trip, later = _record("I went to Rome in May", Kind.EVENT), _record("I went to Paris in June", Kind.EVENT, day=30)
    assert not may_conflict(trip, later, 0.9, cfg)  # a later event never makes an earlier one untrue


def test_plain_statement_strips_only_the_records_own_speaker():
    assert plain_statement("Alice: I have a cat", "Alice") == "I have a cat"
    assert plain_statement("Bob: I have a cat", "Alice") == "Bob: I have a cat"
    assert plain_statement("Alice: ", "Alice") == "Alice: "


def test_distinct_events_stay_active_and_recallable_after_a_pass(pass_psm):
    mem = pass_psm.for_user("alice")
    trips = [
        "I went to a pottery class last Saturday and made a bowl.",
        "I went to a painting class last Saturday and made a portrait.",
        "I went to a cooking class last Saturday and made dumplings.",
    ]
    recs = [mem.observe(t, session_id=f"s{i}", timestamp=T0 + timedelta(days=7 * i)) for i, t in enumerate(trips)]
    pass_psm.consolidate("alice")
    for r in recs:
        got = mem.get(r.id)
        assert got.status is not Status.SUPERSEDED and got.valid_to is None
    assert not [r for r in mem.records(Tier.SEMANTIC) if r.status is Status.SUPERSEDED]
    for r, topic in zip(recs, ["pottery", "painting", "cooking"]):
        hit = mem.recall(f"what did she make at the {topic} class?", k=1)
        assert hit.memories[0].id == r.id or r.id in hit.memories[0].provenance

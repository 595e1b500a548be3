"""Isolation matrix: two users with near-identical memories never see each other's, through any call."""

from __future__ import annotations

import pytest

from psm_core import NotFoundError

TEXTS = [
    "My bank PIN is 4921 and I keep it in my wallet.",
    "I love hiking in the Dolomites every summer.",
    "My brother Tom lives in Oslo.",
]


@pytest.fixture
def pair(psm):
    alice, bob = psm.for_user("alice"), psm.for_user("alice ")  # near-identical ids too
    for t in TEXTS:
        alice.observe(t + " (alice)", session_id="s")
        bob.observe(t + " (bob)", session_id="s")
    alice.remember("Alice's secret canary ALC-1")
    bob.remember("Bob's secret canary BOB-1")
    # every persistent record of each: the observed episodes, the facts they state, the remembered ones
    a_recs, b_recs = alice.records(), bob.records()
    assert len(a_recs) == len(b_recs) > len(TEXTS) + 1
    return alice, bob, a_recs, b_recs


def test_recall_never_crosses_users(pair):
    alice, bob, a_recs, b_recs = pair
    a_ids, b_ids = {r.id for r in a_recs}, {r.id for r in b_recs}
    for q in [*TEXTS, "secret canary", "PIN", "bob", "alice"]:
        for tiers in (None, ["working", "episodic", "semantic", "archival"]):
            assert set(alice.recall(q, k=50, tiers=tiers).ids) <= a_ids
            assert set(bob.recall(q, k=50, tiers=tiers).ids) <= b_ids


def test_point_calls_never_cross_users(pair):
    alice, bob, a_recs, b_recs = pair
    for rec in b_recs:
        with pytest.raises(NotFoundError):
            alice.get(rec.id)
        with pytest.raises(NotFoundError):
            alice.update(rec.id, strength=0.0)
        with pytest.raises(NotFoundError):
            alice.forget(rec.id)
    assert {r.id for r in alice.records()} == {r.id for r in a_recs}
    assert "BOB-1" not in alice.export() and "ALC-1" not in bob.export()
    assert alice.stats().total == bob.stats().total == len(a_recs)
    assert all("(bob)" not in r.text for r in alice.working("s"))
    assert all("(bob)" not in e.text for e in alice.sensory())


def test_erase_one_user_leaves_the_other(pair):
    alice, bob, _, b_recs = pair
    alice.erase()
    assert alice.stats().total == 0 and alice.recall("canary").memories == []
    assert {r.id for r in bob.records()} == {r.id for r in b_recs}
    assert bob.recall("secret canary", k=1)[0].text == "Bob's secret canary BOB-1"

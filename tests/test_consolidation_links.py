"""Update links: a pass records which later episodes restate or update what an earlier one said
(compared sentence by sentence), and recall puts the later statement first when both are surfaced
(real store, real embedder, the default PSM-mini skill)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import PSM, PSMSettings, Status, Tier
from psm_core.consolidation import ConsolidationConfig
from psm_core.consolidation.links import changed_value, statements_about_speaker
from psm_core.ordering import newer_first, updated_by

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def psm(home: Path) -> Iterator[PSM]:
    """PSM-mini without observe-time facts: this module tests the links a pass records (test_facts.py tests
    the updates decided when a statement is observed)."""
    with PSM(PSMSettings(home=home, statement_facts=False)) as p:
        yield p


def test_newer_first_moves_each_update_before_what_it_updates():
    links = {"a": frozenset({"b"}), "b": frozenset({"c"})}
    assert newer_first(["a", "x", "b", "c"], links) == [3, 2, 0, 1]  # c updates b updates a
    assert newer_first(["x", "a", "y"], links) == [0, 1, 2]  # the updater is not in the list: order kept
    assert newer_first(["b", "a"], links) == [0, 1]  # already first
    assert newer_first([], {}) == []
    assert newer_first(["a", "x", "y", "b"], {"a": frozenset({"b"})}) == [3, 0, 1, 2]  # right before what it updates


def test_statements_about_the_speaker_are_the_first_person_sentences():
    text = "Thanks! By the way, I've added 25 postcards to my collection. Can you suggest albums for them?\nThe weather is nice."
    assert statements_about_speaker(text) == ["By the way, I've added 25 postcards to my collection."]
    assert statements_about_speaker("ok") == [] and statements_about_speaker("") == []


def test_a_changed_value_needs_a_quantity_on_both_sides_that_differs():
    assert changed_value("I've added 25 postcards since I started.", "I've added 17 new ones since I started.")
    assert changed_value("I go three times a week now.", "I've been going twice a week.")
    assert not changed_value("I still have 17 postcards.", "I have 17 postcards.")
    assert not changed_value("I played one with friends.", "I tried a board game.")  # "one" is not a quantity here
    assert not changed_value("We can make a difference!", "Let's keep making a difference.")


def _say(mem, text, day, session):
    return mem.observe(text, session_id=session, timestamp=T0 + timedelta(days=day))


def _commute(mem):
    old = _say(mem, "My commute to work takes 30 minutes by bus every morning.", 0, "s1")
    _say(mem, "I started learning the guitar with an online course.", 0, "s1")
    _say(mem, "My sister Mia is visiting on April 12, she loves surfing.", 3, "s2")
    new = _say(mem, "Thanks for the tips! Since we moved, my commute to work takes 45 minutes by bus. Any podcasts?", 40, "s3")
    _say(mem, "The bus is usually crowded.", 40, "s3")
    return old, new


def test_a_pass_links_the_update_and_recall_puts_it_first(psm):
    mem = psm.for_user("alice")
    old, new = _commute(mem)
    psm.consolidate("alice")
    got = mem.get(old.id)
    assert updated_by(got) == {new.id}
    assert got.status is Status.ACTIVE and got.valid_to is None  # nothing hidden: the old turn stays recallable
    assert not updated_by(mem.get(new.id))
    assert [r.id for r in mem.records() if updated_by(r)] == [old.id]  # the guitar and the sister: about other things
    ids = mem.recall("How long is my commute to work?", k=3, touch=False).ids
    assert new.id in ids and old.id in ids and ids.index(new.id) < ids.index(old.id)
    assert (
        mem.recall("How long is my commute to work?", k=10, touch=False).ids[:3] == ids
    )  # a short list is the head of a long one
    before = mem.get(old.id).version
    psm.consolidate("alice")  # a rerun finds the same links and writes nothing
    assert mem.get(old.id).version == before and updated_by(mem.get(old.id)) == {new.id}


def test_the_updated_sentence_is_kept_as_superseded_history_with_its_interval(psm):
    mem = psm.for_user("carol")
    old, new = _commute(mem)
    psm.consolidate("carol")
    (hist,) = [r for r in mem.records() if r.tier is Tier.SEMANTIC]
    assert hist.text == old.text and hist.provenance == [old.id] and hist.status is Status.SUPERSEDED
    assert (hist.valid_from, hist.valid_to) == (old.observed_at, new.observed_at)
    assert hist.ledger["superseded_by"] == new.id
    got = mem.get(old.id)  # the turn itself stays an active episode
    assert got.tier is Tier.EPISODIC and got.status is Status.ACTIVE
    q = "How long is my commute to work?"
    assert hist.id not in mem.recall(q, k=10, touch=False).ids
    past = mem.recall(q, k=10, touch=False, include_superseded=True)
    assert hist.id in past.ids and f"(no longer true since {new.observed_at:%Y-%m-%d})" in past.format_context()
    psm.consolidate("carol")  # a rerun writes no second copy
    assert [r.id for r in mem.records() if r.tier is Tier.SEMANTIC] == [hist.id]


def test_links_can_be_switched_off(psm):
    psm.configure_consolidation(ConsolidationConfig(link_candidates=0))
    mem = psm.for_user("bob")
    old, _ = _commute(mem)
    psm.consolidate("bob")
    assert not updated_by(mem.get(old.id))


def test_a_ledger_keeps_the_latest_updates_only(psm):
    from psm_core.ordering import MAX_UPDATED_BY

    psm.configure_consolidation(ConsolidationConfig(link_candidates=50))
    mem = psm.for_user("dave")
    first = _say(mem, "My commute to work takes 20 minutes by bus.", 0, "s0")
    later = [_say(mem, f"My commute to work takes {21 + n} minutes by bus now.", 1 + n, f"s{1 + n}") for n in range(40)]
    psm.consolidate("dave")
    got = mem.get(first.id)
    assert updated_by(got) == {r.id for r in later[-MAX_UPDATED_BY:]}
    psm.consolidate("dave")  # a rerun writes nothing
    assert mem.get(first.id).version == got.version


def test_a_token_budget_keeps_the_best_scored_memories_in_recall_order(psm):
    psm.configure_consolidation(ConsolidationConfig(link_candidates=50))
    mem = psm.for_user("fay")
    for n in range(16):
        _say(mem, f"My commute to work takes {20 + 5 * n} minutes by bus now.", n, f"s{n}")
        _say(mem, f"I watched the {n}th episode of a cooking show about pasta.", n, f"s{n}")
    psm.consolidate("fay")
    assert sum(1 for r in mem.records() if updated_by(r)) >= 10  # the restatements are linked
    q = "How long is my commute to work?"
    full = mem.recall(q, k=30, touch=False)
    assert mem.recall(q, k=3, touch=False).ids == mem.recall(q, k=10, touch=False).ids[:3]
    assert [m.score for m in full] == sorted((m.score for m in full), reverse=True)  # scores are monotone in the order
    best = sorted(full.memories, key=lambda m: -(m.relevance or 0.0))
    assert [m.id for m in full.memories[:3]] != [m.id for m in best[:3]]  # later statements were lifted
    budget = mem.recall(q, k=30, touch=False, token_budget=60)
    assert 0 < budget.tokens <= 60 and len(budget) == 3  # three commute lines of about 17 tokens fit
    assert set(budget.ids) == {m.id for m in best[:3]}  # the best-scored ones, not the first three listed
    assert budget.ids == [i for i in full.ids if i in set(budget.ids)]  # shown in recall's order


def test_forgetting_a_turn_forgets_the_history_taken_from_it(psm):
    mem = psm.for_user("erin")
    old, new = _commute(mem)
    psm.consolidate("erin")
    (hist,) = [r for r in mem.records() if r.tier is Tier.SEMANTIC]
    mem.forget(new.id)  # the later turn: the history fact keeps the earlier sentence, it stays
    assert mem.get(hist.id).text == old.text
    mem.forget(old.id)
    assert [r for r in mem.records() if r.tier is Tier.SEMANTIC] == []
    assert hist.id not in mem.recall("How long is my commute?", k=10, include_superseded=True, touch=False).ids

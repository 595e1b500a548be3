"""The public API of a user's memory, end to end on a real embedded Chroma and the real embedder."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from psm_core import PSM, Kind, NotFoundError, PSMSettings, Status, Tier, VersionConflictError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def _fill(mem):
    turns = [
        "Hi!",
        "I adopted a beagle named Pixel last month.",
        "My favourite food is spicy ramen.",
        "ok",
        "I work as a nurse at the city hospital, night shifts mostly.",
    ]
    return [mem.observe(t, session_id="s1", timestamp=T0 + timedelta(minutes=i)) for i, t in enumerate(turns)]


def test_observe_gates_into_episodic_or_working(psm):
    mem = psm.for_user("alice")
    recs = _fill(mem)
    tiers = [r.tier for r in recs]
    assert tiers[0] is Tier.WORKING and tiers[3] is Tier.WORKING  # greetings / acknowledgements
    assert tiers[1] is Tier.EPISODIC and tiers[4] is Tier.EPISODIC
    assert mem.stats().tiers["episodic"] == sum(t is Tier.EPISODIC for t in tiers)
    assert len(mem.working("s1")) == 5 and len(mem.sensory()) == 5
    assert recs[1].observed_at == T0 + timedelta(minutes=1)


def test_recall_ranks_relevant_memory_first_and_updates_access(psm):
    mem = psm.for_user("alice")
    recs = _fill(mem)
    res = mem.recall("what pet does she have?", k=2)
    assert res[0].id == recs[1].id
    assert res[0].tier is Tier.EPISODIC and 0 < res[0].strength <= 1
    assert "Pixel" in res.format_context()
    again = mem.get(recs[1].id)
    assert again.recall_count == 1 and again.last_access == res.now
    assert res.now == T0 + timedelta(minutes=4)  # the user's time, not the wall clock


def test_recall_token_budget_and_tiers(psm):
    mem = psm.for_user("alice")
    _fill(mem)
    fact = mem.remember("Alice is allergic to peanuts.", kind=Kind.FACT, tier=Tier.SEMANTIC)
    only_sem = mem.recall("allergies", k=5, tiers=["semantic"])
    assert only_sem.ids == [fact.id]
    small = mem.recall("allergies food job pet", k=10, token_budget=20)
    assert 0 < small.tokens <= 20 and len(small) < 4
    with_working = mem.recall("hello there", k=10, tiers=["working", "episodic"])
    assert any(m.tier is Tier.WORKING for m in with_working)


def test_update_versions_and_optimistic_concurrency(psm):
    mem = psm.for_user("alice")
    rec = mem.remember("Alice lives in Porto.")
    new = mem.update(rec.id, text="Alice lives in Lisbon.", expected_version=1)
    assert new.version == 2 and mem.get(rec.id).text == "Alice lives in Lisbon."
    with pytest.raises(VersionConflictError):
        mem.update(rec.id, strength=0.2, expected_version=1)
    assert mem.recall("which city does Alice live in", k=1)[0].text == "Alice lives in Lisbon."
    moved = mem.update(rec.id, tier="archival", status=Status.ARCHIVED)
    assert moved.tier is Tier.ARCHIVAL and mem.records("semantic") == []
    assert mem.recall("Lisbon", k=1).ids == [rec.id]


def test_forget_and_not_found(psm):
    mem = psm.for_user("alice")
    rec = mem.remember("temporary note about the dentist")
    mem.forget(rec.id)
    with pytest.raises(NotFoundError):
        mem.get(rec.id)
    with pytest.raises(NotFoundError):
        mem.forget(rec.id)
    assert mem.recall("dentist").memories == []


def test_export_is_json_lines_and_survives_reopen(home):
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("alice")
        recs = _fill(mem)
        mem.recall("beagle")
        exported = [json.loads(line) for line in mem.export().splitlines()]
        facts = mem.records(Tier.SEMANTIC)  # facts formed from the statements, each citing its episode
        assert facts and all(set(f["provenance"]) <= {r.id for r in recs} for f in exported if f["tier"] == "semantic")
    assert {e["id"] for e in exported} == {r.id for r in recs} | {f.id for f in facts}
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("alice")
        kept = [r for r in recs if r.tier is Tier.EPISODIC]
        assert {r.id for r in mem.records(Tier.EPISODIC)} == {r.id for r in kept}
        assert {r.id for r in mem.records()} == {r.id for r in kept} | {f.id for f in facts}
        assert mem.get(kept[0].id).recall_count == 1  # access statistics were flushed on close
        assert psm.users() == ["alice"]


def test_observe_many_is_one_batch(psm):
    mem = psm.for_user("bob")
    events = [
        {"text": f"I visited city number {i} on my trip", "session_id": "trip", "timestamp": T0 + timedelta(hours=i)}
        for i in range(40)
    ]
    recs = mem.observe_many(events)
    assert len(recs) == 40 and mem.stats().tiers["episodic"] == 40
    assert mem.recall("city number 17", k=1)[0].text == "I visited city number 17 on my trip"


async def test_async_twins(psm):
    mem = psm.for_user("carol")
    rec = await mem.aobserve("I am training for the Berlin marathon in September.", timestamp=T0)
    res = await mem.arecall("what race is she training for?")
    assert res.ids[0] == rec.id
    assert (await mem.aget(rec.id)).text == rec.text
    await mem.aupdate(rec.id, importance=0.9)
    assert (await mem.astats()).total == len(mem.records()) >= 1  # the episode (and a fact it states, if one)
    assert rec.id in await mem.aexport()
    await mem.aforget(rec.id)
    await mem.aerase()
    assert (await mem.astats()).total == 0


def test_feedback_log_is_content_free_and_erased(psm):
    mem = psm.for_user("dave")
    mem.observe("My daughter Lena starts school in August.", timestamp=T0)
    res = mem.recall("when does Lena start school")
    rid = mem.feedback(res, "corrected")
    rows = psm.feedback_log.outcomes("dave")
    assert [(r["retrieval_id"], r["outcome"], r["value"]) for r in rows] == [(rid, "corrected", -1.0)]
    view = psm.feedback_log.training_view()
    assert view and all(isinstance(v, float | int) for row in view for v in row.values())
    mem.erase()
    assert psm.feedback_log.outcomes("dave") == [] and psm.feedback_log.training_view() == []


def test_recall_exclude_ids_are_neither_returned_nor_touched(psm):
    mem = psm.for_user("erin")
    a = mem.remember("Erin's cat is called Mochi.")
    b = mem.remember("Erin adopted a second cat, Tofu.")
    res = mem.recall("Erin's cats", k=5, exclude_ids=[a.id])
    assert res.ids == [b.id]
    assert mem.get(a.id).recall_count == 0 and mem.get(b.id).recall_count == 1
    assert not psm.closed


def test_a_closed_psm_refuses_every_call(home):
    from psm_core import PSMClosedError

    psm = PSM(PSMSettings(home=home))
    mem = psm.for_user("frank")
    rec = mem.remember("Frank speaks Finnish.")
    psm.close()
    for call in (
        lambda: mem.observe("more"), lambda: mem.remember("x"), lambda: mem.recall("x"),
        lambda: mem.update(rec.id, strength=0.1), lambda: mem.forget(rec.id), lambda: mem.erase(),
        lambda: mem.feedback("rid", "helpful"), lambda: psm.for_user("frank"),
    ):  # fmt: skip
        with pytest.raises(PSMClosedError):
            call()
    with PSM(PSMSettings(home=home)) as again:  # the lock was released
        assert again.for_user("frank").get(rec.id).text == "Frank speaks Finnish."


def test_recall_without_touch_leaves_access_statistics(psm):
    mem = psm.for_user("gina")
    rec = mem.remember("Gina's favourite tea is genmaicha.")
    assert mem.recall("favourite tea", touch=False).ids == [rec.id]
    assert mem.get(rec.id).recall_count == 0 and mem.get(rec.id).last_access is None

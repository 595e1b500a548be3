"""The consolidation pass on a real embedded Chroma, the real embedder and the baseline skill."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from psm_core import InvalidInputError, NotFoundError, Status, Tier
from psm_core.consolidation import ConsolidationConfig, fact_id

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
RAMEN = ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."]
BIKES_OLD = ["I have 3 bikes in my garage.", "I keep 3 bikes in my garage."]
BIKES_NEW = ["I have 5 bikes in my garage now after buying two more.", "Now I own 5 bikes in my garage after buying two more."]
COFFEE_OLD = ["I drink coffee every morning.", "I drink coffee every morning, always a double espresso."]
COFFEE_NEW = ["I don't drink coffee every morning anymore.", "I don't drink coffee every morning anymore, my doctor said so."]


def observe(mem, texts, day, session=None):
    return [
        mem.observe(t, session_id=session or f"day{day}", timestamp=T0 + timedelta(days=day, minutes=i))
        for i, t in enumerate(texts)
    ]


def semantic(mem, status=None):
    return [r for r in mem.records(Tier.SEMANTIC) if status is None or r.status is status]


def test_pass_distills_facts_with_provenance_and_archives_covered_episodes(pass_psm):
    mem = pass_psm.for_user("alice")
    ramen = observe(mem, RAMEN, 0)
    (nurse,) = observe(mem, ["I work as a nurse at the city hospital, night shifts mostly."], 2)
    rep = pass_psm.consolidate("alice")
    assert rep.now == mem.now() == nurse.observed_at  # the user's time, not the wall clock
    assert (rep.new_episodes, rep.facts_created, rep.archived) == (3, 1, 2)
    (fact,) = semantic(mem)
    assert fact.provenance == sorted(r.id for r in ramen)
    assert fact.id == fact_id(mem.key, fact.provenance)  # deterministic: derived from provenance
    assert fact.text in RAMEN and fact.status is Status.ACTIVE
    assert fact.valid_from == ramen[0].observed_at and fact.observed_at == ramen[1].observed_at
    for r in ramen:  # covered episodes are archived, never deleted
        got = mem.get(r.id)
        assert got.tier is Tier.ARCHIVAL and got.status is Status.ARCHIVED and got.text == r.text
        assert got.decay_rate < r.decay_rate  # the archival schedule applies from the pass on ...
        assert got.strength_at(rep.now) == pytest.approx(r.strength_at(rep.now))  # ... without rewriting the past
    assert mem.get(nurse.id).tier is Tier.EPISODIC
    assert sorted(r.id for r, _ in pass_psm.store.scan(mem.key, Tier.ARCHIVAL)) == sorted(r.id for r in ramen)
    assert not {r.id for r in ramen} & {r.id for r, _ in pass_psm.store.scan(mem.key, Tier.EPISODIC)}
    assert fact.id in mem.recall("what is her favourite food?", k=3).ids
    assert mem.recall("what is her favourite food?", k=1, tiers=["semantic"]).ids == [fact.id]
    assert set(mem.recall("spicy ramen favourite food", k=5, tiers=["archival"]).ids) == {r.id for r in ramen}


def test_rerun_changes_nothing(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, RAMEN + BIKES_OLD, 0)
    first = pass_psm.consolidate("alice")
    before = mem.export()
    again = pass_psm.consolidate("alice")
    assert sum(first.changes().values()) > 0
    assert sum(again.changes().values()) == 0 and again.new_episodes == 0
    assert mem.export() == before


def test_update_across_passes_supersedes_the_old_fact_which_stays_reachable(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, BIKES_OLD, 0)
    pass_psm.consolidate("alice")
    (old,) = semantic(mem)
    observe(mem, BIKES_NEW, 40)
    rep = pass_psm.consolidate("alice")
    assert (rep.facts_created, rep.superseded) == (1, 1)
    (new,) = semantic(mem, Status.ACTIVE)
    old = mem.get(old.id)
    assert "5 bikes" in new.text and "3 bikes" in old.text
    assert old.status is Status.SUPERSEDED and old.valid_to == new.valid_from == T0 + timedelta(days=40)
    for i in old.provenance:  # the old fact's episodes are archived and superseded along with it
        ep = mem.get(i)
        assert ep.tier is Tier.ARCHIVAL and ep.status is Status.SUPERSEDED and ep.valid_to == old.valid_to
    current = mem.recall("how many bikes are in the garage?", k=5)
    assert "5 bikes" in current[0].text and new.id in current.ids
    assert not any("3 bikes" in m.text for m in current)
    history = mem.recall("how many bikes are in the garage?", k=10, include_superseded=True)
    assert old.id in history.ids
    # recall never repeats, below a fact, the episodes that fact covers; they stay reachable by id
    fact_rank = history.ids.index(old.id)
    assert all(history.ids.index(i) < fact_rank for i in set(old.provenance) & set(history.ids))
    assert all(mem.get(i).valid_to == old.valid_to for i in old.provenance)
    assert "(no longer true since 2024-04-10)" in history.format_context()


def test_one_pass_splits_a_pattern_whose_newer_members_changed(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, BIKES_OLD, 0)
    observe(mem, BIKES_NEW, 40)
    pass_psm.consolidate("alice")
    (new,) = semantic(mem, Status.ACTIVE)
    (old,) = semantic(mem, Status.SUPERSEDED)
    assert "5 bikes" in new.text and "3 bikes" in old.text and old.valid_to == new.valid_from


def test_contradiction_is_flagged_then_resolved_and_logged(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, COFFEE_OLD, 0)
    observe(mem, COFFEE_NEW, 30)
    rep = pass_psm.consolidate("alice")
    assert (rep.flagged, rep.conflicts) == (1, 1)
    (conflict,) = mem.review_queue()
    new, old = mem.get(conflict.new_id), mem.get(conflict.old_id)
    assert new.status is Status.FLAGGED and old.status is Status.ACTIVE  # PSM never decides what is true
    assert "don't" in conflict.new_text and "don't" not in conflict.old_text
    assert "(disputed)" in mem.recall("does she drink coffee in the morning?", k=10).format_context()
    done = mem.resolve(conflict.conflict_id, keep="new")
    assert done.state == "resolved" and done.keep == "new" and mem.review_queue() == []
    assert mem.get(new.id).status is Status.ACTIVE
    old = mem.get(old.id)
    assert old.status is Status.SUPERSEDED and old.valid_to == new.valid_from
    log = pass_psm.consolidation.resolutions("alice")
    assert [(r["conflict_id"], r["keep"], r["source"]) for r in log] == [(conflict.conflict_id, "new", "api")]
    assert len(mem.review_queue(include_resolved=True)) == 1
    with pytest.raises(InvalidInputError):
        mem.resolve(conflict.conflict_id, keep="old")
    with pytest.raises(NotFoundError):
        mem.resolve("c-unknown", keep="new")
    again = pass_psm.consolidate("alice")  # the decision sticks
    assert (again.facts_created, again.superseded, again.flagged, again.conflicts) == (0, 0, 0, 0)
    assert (mem.get(new.id).status, mem.get(old.id).status) == (Status.ACTIVE, Status.SUPERSEDED)


def test_resolve_keep_old_rejects_the_new_fact(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, COFFEE_OLD, 0)
    observe(mem, COFFEE_NEW, 30)
    pass_psm.consolidate("alice")
    (conflict,) = mem.review_queue()
    mem.resolve(conflict.conflict_id, keep="old")
    new, old = mem.get(conflict.new_id), mem.get(conflict.old_id)
    assert new.status is Status.SUPERSEDED and new.ledger["rejected"] is True and old.status is Status.ACTIVE


def test_reinforcement_from_recalls_and_feedback_is_applied_exactly_once(pass_psm):
    mem = pass_psm.for_user("alice")
    pet, job, city = observe(
        mem,
        ["I adopted a beagle named Pixel last month.", "I work as a nurse at the city hospital.", "I moved to Lisbon in 2021."],
        0,
    )
    pass_psm.consolidate("alice")
    base = {r.id: mem.get(r.id) for r in (pet, job, city)}
    res = mem.recall("tell me about her dog Pixel", k=3)
    assert set(res.ids) == {pet.id, job.id, city.id}
    rid = mem.log_retrieval(res)
    mem.feedback(rid, "helpful", memory_ids=[pet.id])
    mem.feedback(rid, "irrelevant", memory_ids=[job.id])
    mem.feedback(rid, "corrected", memory_ids=[city.id])
    rep = pass_psm.consolidate("alice")
    assert (rep.reinforced, rep.feedback_applied) == (3, 3)
    after = {i: mem.get(i) for i in base}
    assert after[pet.id].strength > base[pet.id].strength  # recalled once and helpful
    assert after[job.id].strength < base[job.id].strength  # irrelevant outweighs one recall
    assert after[city.id].strength < after[job.id].strength  # a correction is the strongest negative
    assert after[city.id].confidence == pytest.approx(base[city.id].confidence * 0.5)
    assert after[job.id].confidence == base[job.id].confidence
    assert pass_psm.feedback_log.pending_effects("alice") == []
    again = pass_psm.consolidate("alice")
    assert (again.reinforced, again.feedback_applied) == (0, 0)
    assert {i: mem.get(i).strength for i in base} == {i: r.strength for i, r in after.items()}


def test_decay_uses_the_user_time_and_weak_episodes_archive_only_when_configured(pass_psm):
    mem = pass_psm.for_user("alice")
    (chat,) = observe(mem, ["We watched a funny movie at the cinema yesterday."], 0)
    (recent,) = observe(mem, ["We watched a funny movie at the cinema again yesterday evening."], 400)
    pass_psm.configure_consolidation(ConsolidationConfig(archive_strength=0.05, min_confidence=1.0))
    rep = pass_psm.consolidate("alice")
    assert rep.now == recent.observed_at and rep.facts_created == 0
    assert mem.get(chat.id).strength_at(rep.now) < 0.05
    assert mem.get(chat.id).tier is Tier.ARCHIVAL  # 400 days of the user's time faded it
    assert mem.get(recent.id).tier is Tier.EPISODIC
    assert chat.id in mem.recall("funny movie at the cinema", k=5).ids  # archived: recallable, lower priority


def test_erase_removes_every_tier_jobs_and_conflicts(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, RAMEN, 0)
    observe(mem, COFFEE_OLD, 1)
    observe(mem, COFFEE_NEW, 30)
    pass_psm.consolidate("alice")
    observe(mem, ["I started learning the cello."], 31)
    job = mem.end_session("day31")
    assert pass_psm.consolidation.queue.get(job) is not None and mem.review_queue()
    mem.erase()
    assert mem.records() == [] and pass_psm.store.scan(mem.key, Tier.ARCHIVAL) == []
    assert pass_psm.consolidation.queue.jobs("alice") == [] and mem.review_queue(include_resolved=True) == []
    db = pass_psm.consolidation.db
    assert all(
        not db.query(f"SELECT 1 FROM {t} WHERE user_key=?", (mem.key,)) for t in ("jobs", "journal", "passes", "conflicts")
    )


def test_erase_hook_cleans_state_left_by_an_earlier_process(home):
    from psm_core import PSM, PSMSettings

    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        observe(psm.for_user("alice"), RAMEN, 0)
        psm.for_user("alice").end_session("day0")
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:  # consolidation not used in this process yet
        psm.for_user("alice").erase()
        assert psm.consolidation.queue.jobs("alice") == []


async def test_async_twins(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, COFFEE_OLD, 0)
    observe(mem, COFFEE_NEW, 30)
    rep = await pass_psm.aconsolidate("alice")
    assert rep.flagged == 1
    (conflict,) = await mem.areview_queue()
    assert (await mem.aresolve(conflict.conflict_id, keep="both")).keep == "both"
    assert await mem.aend_session("day30")
    assert set(await pass_psm.aconsolidate_all()) == {"alice"}


def test_erase_during_a_pass_stops_it_and_leaves_nothing(pass_psm):
    mem = pass_psm.for_user("alice")
    observe(mem, RAMEN + BIKES_OLD, 0)

    def hook(event):
        if event == "facts":
            mem.erase()  # the user asks to be forgotten while the pass runs

    rep = pass_psm.consolidation.consolidate("alice", hook=hook)
    assert rep.aborted
    assert mem.records() == [] and all(
        pass_psm.store.scan(mem.key, t) == [] for t in (Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL)
    )
    db = pass_psm.consolidation.db
    assert all(not db.query(f"SELECT 1 FROM {t} WHERE user_key=?", (mem.key,)) for t in ("journal", "passes", "conflicts"))

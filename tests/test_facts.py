"""Memory operations on plain conversation (issue 25), through the public API on a real store with the
shipped PSM-mini: facts from single statements, updates by attribute, complements, corrections in the
moment, contradictions flagged, restatements stored once, questions never stored, a bi-temporal profile,
and the same store from the live and the bulk ingestion paths. Includes the conversations the issue quotes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from psm_core import PSM, PSMSettings, Status, Tier, UserMemory

T0 = datetime(2024, 1, 8, 9, 0, tzinfo=timezone.utc)


def say(mem: UserMemory, turns: list[tuple[int, str]], session: str = "s") -> list:
    """Observe (day, text) turns one by one, as the adapters do; each day is its own session."""
    return [
        mem.observe(text, session_id=f"{session}{day}", timestamp=T0 + timedelta(days=day, minutes=n))
        for n, (day, text) in enumerate(turns)
    ]


def facts(mem: UserMemory, status: Status | None = None) -> list:
    return [r for r in mem.records(Tier.SEMANTIC) if status is None or r.status is status]


def top(mem: UserMemory, question: str, **kw) -> list[str]:
    return [m.text for m in mem.recall(question, k=5, touch=False, **kw)]


def test_a_statement_becomes_a_fact_the_first_time_it_is_said(psm: PSM) -> None:
    mem = psm.for_user("u")
    (ep,) = say(mem, [(0, "I adopted a beagle named Pixel last month.")])
    (fact,) = facts(mem)
    assert fact.provenance == [ep.id] and fact.attribute == "pets" and fact.status is Status.ACTIVE
    assert mem.sources(fact.id) == [ep] and fact.valid_from == ep.observed_at
    assert [f.id for f in mem.profile().facts()] == [fact.id]


@pytest.mark.parametrize(
    "text",
    ["Where do I live?", "Can you write me a short poem about autumn?", "ok thanks!", "Hi there!", "haha nice one",
     "What should I cook tonight?", "Recommend a good sci-fi book please"],
)  # fmt: skip
def test_questions_requests_and_greetings_stay_in_working_memory(psm: PSM, text: str) -> None:
    mem = psm.for_user("u")
    (rec,) = say(mem, [(0, text)])
    assert rec.tier is Tier.WORKING and mem.records() == []


def test_the_same_sentence_three_times_is_stored_once_and_recalled_once(psm: PSM) -> None:
    mem = psm.for_user("u")
    recs = say(mem, [(0, "I live in Lisbon."), (3, "I live in Lisbon."), (9, "I live in Lisbon.")])
    assert len({r.id for r in recs}) == 1
    assert len(mem.records(Tier.EPISODIC)) == 1 and len(facts(mem)) == 1
    assert mem.get(recs[0].id).strength > recs[0].strength  # restating strengthens it
    assert sum("Lisbon" in t for t in top(mem, "Where do I live?")) == 1


def test_a_correction_in_the_moment_is_what_the_next_question_gets(psm: PSM) -> None:
    mem = psm.for_user("u")
    say(mem, [(0, "My dentist appointment is on Friday at 10."), (0, "Sorry, I got that wrong: it is Saturday, not Friday.")])
    assert top(mem, "When is my dentist appointment?")[0] == "My dentist appointment is on Saturday at 10."
    (wrong,) = facts(mem, Status.SUPERSEDED)
    assert "Friday" in wrong.text and wrong.valid_to == wrong.valid_from  # never true
    current = mem.profile().attributes["appointment"]
    assert [f.text for f in current] == ["My dentist appointment is on Saturday at 10."]
    history = mem.recall("When is my dentist appointment?", include_superseded=True, touch=False).format_context()
    assert "(corrected: never true)" in history


def test_no_my_manager_is_stein_not_klein(psm: PSM) -> None:
    mem = psm.for_user("u")
    say(mem, [(0, "Klein is my manager at the agency."), (5, "No, my manager is Stein, not Klein.")])
    assert "Stein" in top(mem, "Who is my manager?")[0]
    assert any("Stein" in f.text for f in mem.profile().facts())
    assert not any("Klein" in f.text and "Stein" not in f.text for f in mem.profile().facts())


def test_a_job_change_updates_the_employer_and_keeps_the_history(psm: PSM) -> None:
    mem = psm.for_user("u")
    old, new = say(mem, [(0, "I work as a software engineer at Google."),
                         (30, "I handed in my notice at Google! Next Monday I start at Anybotics.")])[0:2]  # fmt: skip
    assert "Anybotics" in top(mem, "Where do I work now?")[0]
    (gone,) = facts(mem, Status.SUPERSEDED)
    assert gone.provenance == [old.id] and gone.valid_to == new.observed_at
    now = {f.text for f in mem.profile().facts()}
    assert any("Anybotics" in t for t in now) and not any("software engineer at Google" in t for t in now)
    before = {f.text for f in mem.profile(as_of=T0 + timedelta(days=10)).facts()}
    assert "I work as a software engineer at Google." in before
    shown = mem.recall("Where do I work now?", touch=False).format_context()
    assert "(no longer true since" in shown or "software engineer at Google" not in shown
    assert any("Google" in t for t in top(mem, "What was my previous job?", include_superseded=True))


@pytest.mark.parametrize(
    ("old", "new", "question", "value"),
    [
        ("We rent a small flat in Leeds near the university.", "Finally settled into our new house in Bristol!",
         "Where do I live?", "Bristol"),
        ("My boyfriend Tom is cooking dinner tonight.", "Tom and I broke up last month. I'm seeing Sara now.",
         "Who is my partner?", "Sara"),
        ("My physio appointment is on Thursday at 2pm.", "The physio moved my appointment to next Tuesday at 11:15.",
         "When is my physio appointment?", "Tuesday"),
        ("I have 3 direct reports at work.", "Two new hires joined my team, so I manage five people now.",
         "How many people do I manage?", "five"),
        ("My car is red.", "My car is blue.", "What colour is my car?", "blue"),
    ],
)  # fmt: skip
def test_single_valued_attributes_are_updated(psm: PSM, old: str, new: str, question: str, value: str) -> None:
    mem = psm.for_user("u")
    say(mem, [(0, old), (1, "ok cool"), (20, "Can you recommend a podcast?"), (21, new)])
    assert value in top(mem, question)[0]
    assert any(old in f.text for f in facts(mem, Status.SUPERSEDED))


def test_a_pet_that_died(psm: PSM) -> None:
    mem = psm.for_user("u")
    say(mem, [(0, "Our dog Biscuit is a nine-year-old spaniel."), (40, "Biscuit died on Friday. The vet couldn't do anything.")])
    assert "died" in top(mem, "How is my dog Biscuit doing?")[0]


def test_a_second_pet_complements_the_first(psm: PSM) -> None:
    mem = psm.for_user("u")
    say(mem, [(0, "I have a golden retriever called Fudge."), (14, "We adopted a kitten too, her name is Mochi.")])
    assert facts(mem, Status.SUPERSEDED) == []
    pets = {f.text for f in mem.profile().facts()}
    assert any("Fudge" in t for t in pets) and any("Mochi" in t for t in pets)


def test_statements_that_cannot_both_hold_are_flagged_for_review(psm: PSM) -> None:
    mem = psm.for_user("u")
    say(mem, [(0, "I have never used Flask."), (20, "I built the Flask routes for our API yesterday.")])
    (conflict,) = mem.review_queue()
    assert "Flask routes" in (conflict.new_text or "") and "never used Flask" in (conflict.old_text or "")
    assert mem.get(conflict.new_id).status is Status.FLAGGED
    mem.resolve(conflict.conflict_id, keep="new")
    assert mem.review_queue() == []


def test_the_live_and_the_bulk_path_build_the_same_store(home) -> None:
    turns = [(0, "Hi!"), (0, "I work as a nurse at St Mary's."), (0, "Where do I work?"), (3, "I live in Leeds."),
             (3, "I live in Leeds."), (9, "I moved to York last week."), (9, "My sister Ana is visiting on Friday."),
             (9, "Sorry, I got that wrong: Saturday, not Friday.")]  # fmt: skip
    events = [
        {"text": t, "session_id": f"s{d}", "timestamp": T0 + timedelta(days=d, minutes=n)} for n, (d, t) in enumerate(turns)
    ]

    def shape(mem: UserMemory) -> list[tuple[str, str, str, str | None, int]]:
        return sorted((r.tier.value, r.status.value, r.text, r.attribute, len(r.provenance)) for r in mem.records())

    with PSM(PSMSettings(home=home / "live")) as psm:
        live = psm.for_user("u")
        for e in events:
            live.observe(e["text"], session_id=e["session_id"], timestamp=e["timestamp"])
        live_shape, live_top = shape(live), top(live, "Where do I live?")
    with PSM(PSMSettings(home=home / "bulk")) as psm:
        bulk = psm.for_user("u")
        for day in sorted({d for d, _ in turns}):
            bulk.observe_many([e for e in events if e["session_id"] == f"s{day}"])
        assert shape(bulk) == live_shape and top(bulk, "Where do I live?") == live_top


def test_facts_off_keeps_episodes_only(home) -> None:
    with PSM(PSMSettings(home=home, statement_facts=False)) as psm:
        mem = psm.for_user("u")
        say(mem, [(0, "I live in Lisbon."), (1, "Where do I live?")])
        assert [r.tier for r in mem.records()] == [Tier.EPISODIC] and mem.profile().facts() == []


def test_forgetting_the_episode_forgets_the_fact_taken_from_it(psm: PSM) -> None:
    mem = psm.for_user("u")
    (ep,) = say(mem, [(0, "My passport number is X1234567.")])
    mem.forget(ep.id)
    assert mem.records() == [] and mem.profile().facts() == []


def test_a_longer_list_starts_with_the_shorter_one(psm: PSM) -> None:
    mem = psm.for_user("u")
    say(mem, [(d, f"I work as a {job} at the {place}.") for d, (job, place) in
              enumerate([("baker", "corner shop"), ("nurse", "city hospital"), ("pilot", "airline"), ("teacher", "school")])])  # fmt: skip
    say(mem, [(10 + n, f"On day {n} I went swimming at the lake with my friend number {n}.") for n in range(20)], session="t")
    q = "Where do I work?"
    ten = mem.recall(q, k=10, touch=False)
    fifty = mem.recall(q, k=50, touch=False)
    assert fifty.ids[:10] == ten.ids and "teacher" in ten[0].text
    assert [m.score for m in fifty] == sorted((m.score for m in fifty), reverse=True)


def test_facts_written_behind_the_episode_reach_the_store(home) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("u")
        say(mem, [(0, "I work as a nurse at St Mary's."), (30, "I moved to a new job at the Royal Infirmary.")])
        (kept, gone) = say(mem, [(40, "I adopted a greyhound called Pixel."), (41, "My car is red.")])
        mem.forget(gone.id)  # forgotten before the flusher wrote its fact: nothing of it may come back
        shape = sorted((r.id, r.status.value, r.version) for r in mem.records())
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("u")
        assert sorted((r.id, r.status.value, r.version) for r in mem.records()) == shape
        assert not any("car is red" in r.text for r in mem.records())

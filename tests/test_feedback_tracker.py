"""psm_core.feedback.FeedbackTracker: the one framework-free feedback tracker both adapters translate to.

Directly on a real PSM (real embedded Chroma, the real small model's correction head), then the two
examples of issue 25 item 6 through a LangChain agent and a LlamaIndex chat engine:

- the model ignored the memory: "I moved to Lisbon" reached it, it said Porto, the user corrected
  "No, that's wrong, I live in Lisbon." -> the memory is not blamed, the retrieval gets the correction;
- the memory misled: "My manager is Klein." reached it, it said Klein, the user corrected
  "No, my manager is Stein, not Klein." -> that memory is ``corrected``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.checkpoint.memory import InMemorySaver
from llama_index.core.chat_engine import SimpleChatEngine

import psm_core.feedback.tracker as tracker_module
from langchain_psm import PSMFeedbackCallbackHandler, PSMMemoryMiddleware
from llamaindex_psm import PSMMemory
from psm_core import PSM, InvalidInputError, NotFoundError, PSMSettings
from psm_core.feedback import FeedbackTracker, Outcome, Verdict
from psm_core.recall import RecallResult
from tests.test_llamaindex_memory import ScriptedLLM

LISBON = "I moved to Lisbon last spring with my dog Rex."
KLEIN = "My manager is Klein."
PEANUTS = "I am allergic to peanuts."
HEADER = "Relevant memories about the user:"


def rows(psm: PSM, user: str = "alice") -> list[tuple[str, str | None, str]]:
    return [(r["retrieval_id"], r["memory_id"], r["outcome"]) for r in psm.feedback_log.outcomes(user)]


def turn(
    tracker: FeedbackTracker, psm: PSM, user: str, question: str, answer: str, *, run: str, session: str | None = None
) -> tuple[RecallResult, str | None]:
    """One answered turn: recall, offer the rendered context, an LLM call that shows it, its answer."""
    result = psm.for_user(user).recall(question, k=3)
    context = result.format_context(HEADER)
    tracker.offer(user, result, context=context, session_id=session)
    rid = tracker.started(run, f"system: {context}\nuser: {question}")
    tracker.answered(run, answer)
    return result, rid


# -- the tracker itself -------------------------------------------------------------------------------
def test_the_model_ignored_the_memory_the_correction_goes_to_the_retrieval(psm: PSM) -> None:
    lisbon = psm.for_user("alice").remember(LISBON).id
    tracker = FeedbackTracker(psm, source="test")
    result, rid = turn(tracker, psm, "alice", "Where do I live these days?", "You live in Porto.", run="r1")
    assert rid is not None and lisbon in result.ids
    verdict = tracker.user_turn("alice", "No, that's wrong, I live in Lisbon.")
    assert verdict == Verdict(corrected=True, retrieval_ids=(rid,), memory_outcomes={})
    assert verdict.outcome is Outcome.CORRECTED
    assert rows(psm) == [(rid, None, "corrected")]
    assert psm.feedback_log.pending_effects("alice") == [], "no memory is weakened"
    assert {r["source"] for r in psm.feedback_log.outcomes("alice")} == {"test"}


def test_the_memory_misled_it_is_corrected(psm: PSM) -> None:
    mem = psm.for_user("alice")
    klein, peanuts = mem.remember(KLEIN).id, mem.remember(PEANUTS).id
    tracker = FeedbackTracker(psm)
    result, rid = turn(tracker, psm, "alice", "Who is my manager?", "Your manager is Klein.", run="r1")
    assert {klein, peanuts} <= set(result.ids)
    verdict = tracker.user_turn("alice", "No, my manager is Stein, not Klein.")
    assert verdict is not None and verdict.memory_outcomes == {klein: Outcome.CORRECTED}
    assert rows(psm) == [(rid, klein, "corrected")]


def test_no_correction_used_memories_helpful_the_rest_neutral(psm: PSM) -> None:
    mem = psm.for_user("alice")
    klein, peanuts = mem.remember(KLEIN).id, mem.remember(PEANUTS).id
    tracker = FeedbackTracker(psm)
    _, rid = turn(tracker, psm, "alice", "Who is my manager?", "Your manager is Klein.", run="r1")
    verdict = tracker.user_turn("alice", "Thanks! Can you draft an email to him?")
    assert verdict is not None and not verdict.corrected and verdict.outcome is Outcome.HELPFUL
    assert sorted(rows(psm)) == sorted([(rid, klein, "helpful"), (rid, peanuts, "neutral")])


def test_states_offer_call_answer_verdict(psm: PSM) -> None:
    psm.for_user("alice").remember(KLEIN)
    tracker = FeedbackTracker(psm)
    assert tracker.user_turn("alice", "Hello.") is None, "idle: nothing to judge"
    result = psm.for_user("alice").recall("Who is my manager?", k=3)
    context = result.format_context(HEADER)
    tracker.offer("alice", result, context=context)
    assert tracker.started("r0", "a prompt without the memories") is None
    assert tracker.last_retrieval_id("alice") is None, "offered, not sent"
    rid = tracker.started("r1", context)
    assert rid is not None and tracker.started("r2", context) == rid, "later calls showing the offer share its retrieval"
    assert tracker.last_retrieval_id("alice") == rid
    assert psm.feedback_log.retrievals_for_run("r2") == [], "logged once, under the first call"
    tracker.answered("r1", "")  # a tool call: no answer to judge yet
    assert tracker.user_turn("alice", "No, that's wrong.") is None, "sent, not answered: nothing judged"
    assert rows(psm) == []
    tracker.offer("alice", result, context=context)
    rid = tracker.started("r3", context)
    tracker.answered("r3", "Your manager is Klein.")
    tracker.answered("unknown-run", "ignored")
    verdict = tracker.user_turn("alice", "No, that's wrong.")
    assert verdict is not None and verdict.retrieval_ids == (rid,)
    assert tracker.user_turn("alice", "No, that's wrong.") is None, "a verdict ends the turn"
    assert tracker.last_retrieval_id("alice") is None


def test_every_retrieval_of_a_turn_is_judged_by_its_last_answer(psm: PSM) -> None:
    mem = psm.for_user("alice")
    klein = mem.remember(KLEIN).id
    tracker = FeedbackTracker(psm)
    _, first = turn(tracker, psm, "alice", "Who is my manager?", "", run="call-1")  # a tool call
    _, second = turn(tracker, psm, "alice", "Who is my manager?", "Your manager is Klein.", run="call-2")
    assert first and second and first != second
    verdict = tracker.user_turn("alice", "No, my manager is Stein, not Klein.")
    assert verdict is not None and set(verdict.retrieval_ids) == {first, second}
    assert sorted(rows(psm)) == sorted([(first, klein, "corrected"), (second, klein, "corrected")])


def test_conversations_are_apart_and_the_newest_offer_gets_a_shared_prompt(psm: PSM) -> None:
    psm.for_user("alice").remember(KLEIN)
    tracker = FeedbackTracker(psm)
    result = psm.for_user("alice").recall("Who is my manager?", k=3)
    context = result.format_context(HEADER)
    tracker.offer("alice", result, context=context, session_id="wed")
    tracker.offer("alice", result, context=context, session_id="thu")  # the same memories, rendered identically
    rid = tracker.started("r1", context)
    assert tracker.last_retrieval_id("alice", session_id="thu") == rid
    assert tracker.last_retrieval_id("alice", session_id="wed") is None
    tracker.answered("r1", "Your manager is Klein.")
    assert tracker.user_turn("alice", "No, that's wrong.", session_id="wed") is None
    assert tracker.user_turn("alice", "No, that's wrong.", session_id="thu") is not None


def test_offers_match_by_memory_text_without_a_context_and_expire(home: Path) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        psm.for_user("alice").remember(KLEIN)
        result = psm.for_user("alice").recall("Who is my manager?", k=3)
        tracker = FeedbackTracker(psm)
        tracker.offer("alice", result)  # no context: every memory's text, quoted or as is
        assert tracker.started("r0", "no memory here") is None
        assert tracker.started("r1", result.format_context(HEADER)) is not None
        stale = FeedbackTracker(psm, ttl_s=0.0)
        stale.offer("alice", result)
        assert stale.started("r2", result.format_context(HEADER)) is None, "the offer expired"
        tracker.offer("alice", result.model_copy(update={"memories": []}))  # nothing recalled: nothing offered
        assert tracker.last_retrieval_id("alice") == psm.feedback_log.retrievals_for_run("r1")[0][0]


def test_explicit_feedback_by_run_id(psm: PSM) -> None:
    psm.for_user("alice").remember(KLEIN)
    tracker = FeedbackTracker(psm)
    _, rid = turn(tracker, psm, "alice", "Who is my manager?", "Klein.", run="r1")
    assert tracker.feedback("r1", 0.5) == [rid]
    assert FeedbackTracker(psm).feedback("r1", "irrelevant") == [rid], "also from the log, by a new tracker"
    with pytest.raises(NotFoundError):
        tracker.feedback("never-ran", 1.0)


def test_erasing_a_user_drops_their_state_and_a_closed_psm_gets_nothing(home: Path) -> None:
    psm = PSM(PSMSettings(home=home))
    psm.for_user("alice").remember(KLEIN)
    psm.for_user("bob").remember("My manager is Weber.")
    tracker = FeedbackTracker(psm)
    turn(tracker, psm, "alice", "Who is my manager?", "Your manager is Klein.", run="a1")
    turn(tracker, psm, "bob", "Who is my manager?", "Your manager is Weber.", run="b1")
    psm.for_user("alice").erase()
    assert tracker.user_turn("alice", "No, that's wrong.") is None, "nothing of an erased user is held"
    assert tracker.last_retrieval_id("bob") is not None, "other users keep theirs"
    psm.close()
    assert tracker.closed
    assert tracker.user_turn("bob", "No, that's wrong.") is None
    with PSM(PSMSettings(home=home)) as reopened:
        assert reopened.feedback_log.outcomes("bob") == []


def test_one_erase_hook_per_psm_however_many_trackers(psm: PSM) -> None:
    before = len(psm._erase_hooks)
    trackers = [FeedbackTracker(psm) for _ in range(20)]
    assert len(psm._erase_hooks) <= before + 1
    assert len(tracker_module._FANOUTS[psm].trackers) >= len(trackers)


def test_the_log_stays_content_free(psm: PSM) -> None:
    psm.for_user("alice").remember(KLEIN)
    tracker = FeedbackTracker(psm)
    turn(tracker, psm, "alice", "Who is my manager?", "Your manager is Klein.", run="r1")
    tracker.user_turn("alice", "No, my manager is Stein, not Klein.")
    path = psm.feedback_log.path
    with sqlite3.connect(path) as con:
        dump = "\n".join(con.iterdump())
    for word in ("Klein", "Stein", "manager"):
        assert word not in dump


def test_concurrent_conversations(psm: PSM) -> None:
    users = [f"user{i}" for i in range(8)]
    ids = {u: psm.for_user(u).remember(f"My manager is Klein{i}.").id for i, u in enumerate(users)}
    tracker = FeedbackTracker(psm)
    results = {u: psm.for_user(u).recall("Who is my manager?", k=1) for u in users}
    verdicts: dict[str, Verdict | None] = {}
    errors: list[BaseException] = []

    def chat(i: int, user: str) -> None:
        try:
            context = results[user].format_context(f"Memories of {user}:")
            tracker.offer(user, results[user], context=context)
            tracker.started(f"run-{user}", context)
            tracker.answered(f"run-{user}", f"Your manager is Klein{i}.")
            verdicts[user] = tracker.user_turn(user, f"No, my manager is Stein, not Klein{i}.")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=chat, args=(i, u)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for user in users:
        verdict = verdicts[user]
        assert verdict is not None and verdict.memory_outcomes == {ids[user]: Outcome.CORRECTED}, user


# -- the two examples through the adapters ------------------------------------------------------------
def agent_turns(psm: PSM, first: str, replies: list[str], question: str, correction: str) -> Any:
    feedback = PSMFeedbackCallbackHandler(psm)
    middleware = PSMMemoryMiddleware(psm, user_id="alice", feedback=feedback)
    agent = create_agent(FakeListChatModel(responses=replies), middleware=[middleware], checkpointer=InMemorySaver())

    def say(text: str, thread: str) -> None:
        config = {"configurable": {"thread_id": thread}, "callbacks": [feedback]}
        agent.invoke({"messages": [{"role": "user", "content": text}]}, config)

    say(first, "monday")
    say(question, "friday")
    say(correction, "friday")
    return feedback


def test_langchain_agent_the_lisbon_memory_is_not_blamed(psm: PSM) -> None:
    agent_turns(
        psm,
        LISBON,
        ["Congratulations on the move!", "You live in Porto.", "Sorry, Lisbon it is."],
        "Where do I live these days?",
        "No, that's wrong, I live in Lisbon.",
    )
    lisbon = {r.id for r in psm.for_user("alice").records() if "Lisbon" in r.text}
    events = psm.feedback_log.outcomes("alice")
    assert lisbon and events, "the Lisbon memory reached the model and the correction was logged"
    assert [(e["memory_id"], e["outcome"]) for e in events] == [(None, "corrected")]


def test_langchain_agent_the_klein_memory_is_corrected(psm: PSM) -> None:
    agent_turns(
        psm,
        KLEIN,
        ["Noted.", "Your manager is Klein.", "Sorry, Stein then."],
        "Who is my manager?",
        "No, my manager is Stein, not Klein.",
    )
    klein = {r.id for r in psm.for_user("alice").records() if r.text == KLEIN}
    events = psm.feedback_log.outcomes("alice")
    assert events and {e["outcome"] for e in events} == {"corrected"}
    assert {e["memory_id"] for e in events} <= klein, "only a memory saying Klein is blamed"


def llamaindex_turns(psm: PSM, memory_text: str, question: str, answer: str, correction: str) -> PSMMemory:
    psm.for_user("alice").remember(memory_text)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="friday")
    replies = iter([answer, "Sorry!"])
    engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=lambda prompt: next(replies)), memory=memory)
    engine.chat(question)
    assert memory.last_recall is not None and memory_text in [m.text for m in memory.last_recall]
    engine.chat(correction)
    return memory


def test_llamaindex_the_lisbon_memory_is_not_blamed(psm: PSM) -> None:
    llamaindex_turns(psm, LISBON, "Where do I live these days?", "You live in Porto.", "No, that's wrong, I live in Lisbon.")
    assert [(m, o) for _, m, o in rows(psm)] == [(None, "corrected")]


def test_llamaindex_the_klein_memory_is_corrected(psm: PSM) -> None:
    llamaindex_turns(psm, KLEIN, "Who is my manager?", "Your manager is Klein.", "No, my manager is Stein, not Klein.")
    klein = {r.id for r in psm.for_user("alice").records() if r.text == KLEIN}
    events = rows(psm)
    assert events and {o for _, _, o in events} == {"corrected"} and {m for _, m, _ in events} <= klein


def test_a_retrieval_level_outcome_is_checked_and_changes_no_memory(psm: PSM) -> None:
    mem = psm.for_user("alice")
    mem.remember(KLEIN)
    rid = mem.log_retrieval(mem.recall("Who is my manager?", k=3))
    log = psm.feedback_log
    assert log.log_retrieval_outcome("alice", rid, "corrected", source="test") > 0
    with pytest.raises(NotFoundError):
        log.log_retrieval_outcome("bob", rid, "corrected")  # another user's retrieval
    with pytest.raises(NotFoundError):
        log.log_retrieval_outcome("alice", "0" * 32, "corrected")
    with pytest.raises(InvalidInputError):
        log.log_retrieval_outcome("alice", rid, "score", score=2.0)
    assert rows(psm) == [(rid, None, "corrected")]
    assert log.pending_effects("alice") == [] and log.training_view() == []
    assert log.user_profile("alice") == log.user_profile("nobody"), "no profile change"
    assert log.counts()["retrievals_with_outcomes"] == 1

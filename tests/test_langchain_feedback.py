"""PSMFeedbackCallbackHandler: injected memories are tied to the LLM run that received them, and the
user's next turn becomes feedback through the PSM's own correction signal. Real chains and agents,
a real PSM on a real embedded Chroma, fake chat models standing in for a remote LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from langchain.agents import create_agent
from langchain_classic.chains import ConversationChain
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_psm import AsyncPSMFeedbackCallbackHandler, PSMFeedbackCallbackHandler, PSMMemory, PSMMemoryMiddleware
from psm_core import PSM, NotFoundError, PSMSettings
from psm_core.skill import BaselinePolicy, Correction

FACTS = {
    "lisbon": "Alice moved to Lisbon last spring with her dog Rex.",
    "peanuts": "Alice is allergic to peanuts.",
    "job": "Alice works as a marine biologist at the aquarium.",
}


class RunIds(BaseCallbackHandler):
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kw: Any
    ) -> None:
        self.ids.append(str(run_id))


def seed(psm: PSM, user: str = "alice") -> dict[str, str]:
    return {name: psm.for_user(user).remember(text).id for name, text in FACTS.items()}


def surfaced_by_run(psm: PSM, run_id: str) -> tuple[str, list[str]]:
    [(rid, _key)] = psm.feedback_log.retrievals_for_run(run_id)
    return rid, psm.feedback_log.surfaced_ids(rid)


def chat(psm: PSM, handler: Any, replies: list[str], user: str = "alice", session: str = "s1") -> ConversationChain:
    memory = PSMMemory(psm=psm, user_id=user, session_id=session, k=3, recent_turns=0, feedback=handler)
    return ConversationChain(llm=FakeListChatModel(responses=replies), memory=memory)


def converse(psm: PSM, replies: list[str], *turns: str) -> RunIds:
    """The user's ``turns`` to a chain answering ``replies``, with a feedback handler; the LLM run ids."""
    handler, runs = PSMFeedbackCallbackHandler(psm), RunIds()
    chain = chat(psm, handler, replies)
    for text in turns:
        chain.invoke({"input": text}, config={"callbacks": [handler, runs]})
    return runs


def test_a_correction_no_memory_carried_is_recorded_against_the_retrieval(psm: PSM) -> None:
    # the model said Porto although the Lisbon memory reached it: the memory agrees with the
    # correction (it was ignored), so the correction goes to the retrieval, not to a memory
    ids = seed(psm)
    handler, runs = PSMFeedbackCallbackHandler(psm), RunIds()
    chain = chat(psm, handler, ["You live in Porto.", "Sorry, Lisbon it is."])
    cfg = {"callbacks": [handler, runs]}
    chain.invoke({"input": "Where do I live?"}, config=cfg)
    assert psm.feedback_log.outcomes("alice") == [], "no verdict before the user's next turn"
    chain.invoke({"input": "No, that's wrong: I live in Lisbon."}, config=cfg)

    rid, surfaced = surfaced_by_run(psm, runs.ids[0])
    assert ids["lisbon"] in surfaced
    events = psm.feedback_log.outcomes("alice")
    assert [(e["retrieval_id"], e["memory_id"], e["outcome"], e["value"]) for e in events] == [(rid, None, "corrected", -1.0)]
    assert {e["source"] for e in events} == {"langchain"}
    assert psm.feedback_log.pending_effects("alice") == [], "a retrieval-level event changes no memory"


def test_a_correction_blames_the_memory_that_carried_the_wrong_value(psm: PSM) -> None:
    mem = psm.for_user("alice")
    klein = mem.remember("My manager is Klein.").id
    other = mem.remember("Alice is allergic to peanuts.").id
    runs = converse(
        psm, ["Your manager is Klein.", "Sorry, Stein then."], "Who is my manager?", "No, my manager is Stein, not Klein."
    )
    rid, surfaced = surfaced_by_run(psm, runs.ids[0])
    assert {klein, other} <= set(surfaced)
    events = psm.feedback_log.outcomes("alice")
    assert [(e["retrieval_id"], e["memory_id"], e["outcome"]) for e in events] == [(rid, klein, "corrected")]


def test_no_correction_logs_used_memories_helpful_and_the_rest_neutral(psm: PSM) -> None:
    ids = seed(psm)
    runs = converse(
        psm,
        ["You moved to Lisbon last spring with your dog Rex.", "Try the Oceanario."],
        "Where did I move last spring?",
        "Great, any museum tips there?",
    )
    rid, surfaced = surfaced_by_run(psm, runs.ids[0])
    events = {e["memory_id"]: e for e in psm.feedback_log.outcomes("alice") if e["retrieval_id"] == rid}
    assert set(events) == set(surfaced)
    assert events[ids["lisbon"]]["outcome"] == "helpful"
    assert all(events[m]["outcome"] == "neutral" for m in surfaced if m != ids["lisbon"])


class CautiousSkill(BaselinePolicy):
    """A skill whose correction signal also reads doubt ('are you sure') as a correction."""

    name = "cautious"

    def is_correction(self, user_turn: str, previous_answer: str) -> Correction:
        if "are you sure" in user_turn.lower():
            return Correction(is_correction=True, probability=0.9)
        return super().is_correction(user_turn, previous_answer)


def test_the_handler_uses_the_psms_correction_signal(home: Path) -> None:
    with PSM(PSMSettings(home=home), skill=CautiousSkill()) as psm:
        seed(psm)
        handler = PSMFeedbackCallbackHandler(psm)
        chain = chat(psm, handler, ["You live in Porto.", "Let me check."])
        chain.invoke({"input": "Where do I live?"}, config={"callbacks": [handler]})
        chain.invoke({"input": "Hmm, are you sure about that?"}, config={"callbacks": [handler]})
        assert {e["outcome"] for e in psm.feedback_log.outcomes("alice")} == {"corrected"}


def test_explicit_feedback_by_run_id_also_from_a_new_handler(psm: PSM) -> None:
    seed(psm)
    handler, runs = PSMFeedbackCallbackHandler(psm), RunIds()
    chat(psm, handler, ["Lisbon."]).invoke({"input": "Where do I live?"}, config={"callbacks": [handler, runs]})
    run_id = runs.ids[0]
    rid, surfaced = surfaced_by_run(psm, run_id)
    assert handler.feedback(UUID(run_id), 0.5) == [rid]
    assert PSMFeedbackCallbackHandler(psm).feedback(run_id, "irrelevant", memory_ids=surfaced[:1]) == [rid]
    events = psm.feedback_log.outcomes("alice")
    assert [(e["outcome"], e["value"]) for e in events] == [("score", 0.5)] * len(surfaced) + [("irrelevant", -0.5)]
    with pytest.raises(NotFoundError):
        handler.feedback(UUID(int=7), 1.0)


class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self


def weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def test_agent_correction_covers_every_model_call_of_the_corrected_turn(psm: PSM) -> None:
    ids = seed(psm)
    handler, runs = PSMFeedbackCallbackHandler(psm), RunIds()
    model = ToolCallingFake(
        messages=iter(
            [
                AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Porto"}, "id": "c1"}]),
                AIMessage(content="It is sunny in Porto, where you live."),
                AIMessage(content="Sorry! Lisbon then."),
            ]
        )
    )
    mw = PSMMemoryMiddleware(
        psm, user_id="alice", k=3, feedback=handler
    )  # every fact: this test is about attribution, not ranking
    agent = create_agent(model, tools=[weather], middleware=[mw], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t1"}, "callbacks": [handler, runs]}
    agent.invoke({"messages": [{"role": "user", "content": "What's the weather where I live?"}]}, cfg)
    agent.invoke({"messages": [{"role": "user", "content": "No, I live in Lisbon, not Porto."}]}, cfg)
    assert len(runs.ids) == 3
    first_turn = [surfaced_by_run(psm, r) for r in runs.ids[:2]]
    assert all(ids["lisbon"] in surfaced for _, surfaced in first_turn)
    events = psm.feedback_log.outcomes("alice")
    # no memory says Porto: each retrieval of the corrected turn gets the correction, no memory does
    assert sorted((e["retrieval_id"], e["memory_id"], e["outcome"]) for e in events) == sorted(
        (rid, None, "corrected") for rid, _ in first_turn
    )


async def test_async_handler_in_an_async_chain(psm: PSM) -> None:
    ids = seed(psm)
    handler, runs = AsyncPSMFeedbackCallbackHandler(psm), RunIds()
    chain = chat(psm, handler, ["You are allergic to shellfish.", "Sorry."])
    cfg = {"callbacks": [handler, runs]}
    await chain.ainvoke({"input": "What am I allergic to?"}, config=cfg)
    await chain.ainvoke({"input": "That's not right, it's peanuts."}, config=cfg)
    rid, surfaced = surfaced_by_run(psm, runs.ids[0])
    assert ids["peanuts"] in surfaced
    events = psm.feedback_log.outcomes("alice")  # the peanuts memory states the corrected value: not blamed
    assert [(e["retrieval_id"], e["memory_id"], e["outcome"]) for e in events] == [(rid, None, "corrected")]
    assert await handler.afeedback(runs.ids[1], -0.2)


def test_two_users_share_a_handler_but_never_each_others_feedback(psm: PSM) -> None:
    alice_ids = set(seed(psm, "alice").values())
    bob_ids = {psm.for_user("bob").remember(t).id for t in ("Bob lives in Oslo.", "Bob is a carpenter.")}
    handler = PSMFeedbackCallbackHandler(psm)
    alice = chat(psm, handler, ["Lisbon.", "Thanks for confirming."], user="alice")
    bob = chat(psm, handler, ["Bergen.", "Oops."], user="bob")
    cfg = {"callbacks": [handler]}
    alice.invoke({"input": "Where do I live?"}, config=cfg)
    bob.invoke({"input": "Where do I live?"}, config=cfg)
    bob.invoke({"input": "Wrong, I live in Oslo."}, config=cfg)
    alice.invoke({"input": "Yes, and what's the weather like there?"}, config=cfg)
    bob_events = psm.feedback_log.outcomes("bob")
    alice_events = psm.feedback_log.outcomes("alice")
    assert bob_events and {e["outcome"] for e in bob_events} == {"corrected"}
    assert {e["memory_id"] for e in bob_events} <= bob_ids | {None}  # None: the retrieval (no memory said Bergen)
    assert not {e["retrieval_id"] for e in bob_events} & {e["retrieval_id"] for e in alice_events}
    assert alice_events and {e["memory_id"] for e in alice_events} <= alice_ids
    assert "corrected" not in {e["outcome"] for e in alice_events}


def test_erasing_the_user_mid_conversation_drops_the_handlers_state_and_never_breaks_the_chat(psm: PSM) -> None:
    seed(psm)
    handler = PSMFeedbackCallbackHandler(psm)
    chain = chat(psm, handler, ["Lisbon.", "Noted."])
    chain.invoke({"input": "Where do I live?"}, config={"callbacks": [handler]})
    psm.for_user("alice").erase()
    assert handler.user_turn("alice", "No, that's wrong.", session_id="s1") == [], "nothing of an erased user is held"
    out = chain.invoke({"input": "No, that's wrong."}, config={"callbacks": [handler]})
    assert out["response"] == "Noted."
    assert psm.feedback_log.outcomes("alice") == []


def test_a_correction_blames_only_the_memories_the_answer_used(psm: PSM) -> None:
    ids = seed(psm)
    runs = converse(
        psm,
        ["You are allergic to peanuts.", "Good to know."],
        "What am I allergic to?",
        "No, that's wrong: I outgrew that allergy years ago.",
    )
    rid, surfaced = surfaced_by_run(psm, runs.ids[0])
    assert len(surfaced) == 3, "the other facts reached the model too..."
    events = psm.feedback_log.outcomes("alice")
    assert [(e["retrieval_id"], e["memory_id"], e["outcome"]) for e in events] == [(rid, ids["peanuts"], "corrected")]


def test_an_answer_using_one_word_of_a_memory_counts_it_helpful(psm: PSM) -> None:
    ids = seed(psm)
    runs = converse(psm, ["Rex!", "He sounds lovely."], "What is my dog called?", "Thanks, he is a good boy.")
    rid, surfaced = surfaced_by_run(psm, runs.ids[0])
    events = {e["memory_id"]: e["outcome"] for e in psm.feedback_log.outcomes("alice") if e["retrieval_id"] == rid}
    assert events == {m: "helpful" if m == ids["lisbon"] else "neutral" for m in surfaced}


def test_nothing_is_logged_once_the_psm_is_closed(home: Path) -> None:
    psm = PSM(PSMSettings(home=home))
    seed(psm)
    handler, runs = PSMFeedbackCallbackHandler(psm), RunIds()
    chat(psm, handler, ["Lisbon."]).invoke({"input": "Where do I live?"}, config={"callbacks": [handler, runs]})
    result = psm.for_user("alice").recall("Where do I live?", k=3)
    handler.expect("alice", result, session_id="s1")
    psm.close()
    late = uuid4()
    prompt = HumanMessage(content="\n".join(m.text for m in result.memories))
    handler.on_chat_model_start({}, [[prompt]], run_id=late)  # the expected memories reach a model after close
    assert handler.user_turn("alice", "No, that's wrong: I live in Porto.", session_id="s1") == []
    with PSM(PSMSettings(home=home)) as reopened:
        assert len(reopened.feedback_log.retrievals_for_run(runs.ids[0])) == 1
        assert reopened.feedback_log.retrievals_for_run(str(late)) == []
        assert reopened.feedback_log.outcomes("alice") == []

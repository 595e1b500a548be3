"""PSMChatMessageHistory with RunnableWithMessageHistory (LCEL): a real PSM on a real embedded Chroma,
the real embedder, and a fake chat model standing in for a remote LLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_psm import PSMChatMessageHistory
from langchain_psm._common import stored_turn_text
from psm_core import PSM, InvalidInputError, InvalidUserIdError, PSMSettings, Tier

LISBON = "I moved to Lisbon last spring with my dog Rex."


class PromptCapture(BaseCallbackHandler):
    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.calls.append(list(messages[0]))


def with_history(psm: PSM, user: str, replies: list[str]) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful assistant."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = prompt | GenericFakeChatModel(messages=iter(replies))
    return RunnableWithMessageHistory(
        chain,
        lambda session_id: PSMChatMessageHistory(user, session_id, psm=psm),
        input_messages_key="input",
        history_messages_key="history",
    )


def test_runnable_with_message_history_replays_the_session_in_order(psm: PSM) -> None:
    cap = PromptCapture()
    chat = with_history(psm, "alice", ["Lisbon is lovely!", "Your dog is called Rex."])
    cfg = {"configurable": {"session_id": "s1"}, "callbacks": [cap]}
    chat.invoke({"input": LISBON}, config=cfg)
    chat.invoke({"input": "What is my dog called?"}, config=cfg)
    assert [(type(m), m.text) for m in cap.calls[-1]] == [
        (SystemMessage, "You are a helpful assistant."),
        (HumanMessage, LISBON),
        (AIMessage, "Lisbon is lovely!"),
        (HumanMessage, "What is my dog called?"),
    ]
    history = PSMChatMessageHistory("alice", "s1", psm=psm)
    assert [m.text for m in history.messages] == [
        LISBON,
        "Lisbon is lovely!",
        "What is my dog called?",
        "Your dog is called Rex.",
    ]
    mem = psm.for_user("alice")
    assert [m.id for m in history.messages] == [r.id for r in mem.working("s1")], "message ids are memory ids"
    assert any(r.text == LISBON and r.tier is Tier.EPISODIC for r in mem.records()), "the fact reached long-term memory"


def test_sessions_and_users_are_separate(psm: PSM) -> None:
    PSMChatMessageHistory("alice", "s1", psm=psm).add_messages([HumanMessage(LISBON), AIMessage("Nice.")])
    PSMChatMessageHistory("alice", "s2", psm=psm).add_user_message("Book a table for two on Friday at Taberna.")
    PSMChatMessageHistory("bob", "s1", psm=psm).add_user_message("My sister Carla is a pilot.")
    assert [m.text for m in PSMChatMessageHistory("alice", "s1", psm=psm).messages] == [LISBON, "Nice."]
    assert [m.text for m in PSMChatMessageHistory("alice", "s2", psm=psm).messages] == [
        "Book a table for two on Friday at Taberna."
    ]
    assert [m.text for m in PSMChatMessageHistory("bob", "s1", psm=psm).messages] == ["My sister Carla is a pilot."]
    assert PSMChatMessageHistory("bob", "s2", psm=psm).messages == []


def test_order_and_types_survive_a_batch_and_a_restart(home: Path) -> None:
    batch: list[BaseMessage] = [
        HumanMessage("My passport number ends in 4417 and expires in March 2027."),
        AIMessage("I will remind you to renew your passport before March 2027."),
        SystemMessage("The user prefers short answers."),
        ToolMessage("Flight TP1234 departs Lisbon at 09:40 on May 3rd.", tool_call_id="call-1"),
        AIMessage(""),  # no text (e.g. a tool-call-only message): not stored
    ]
    with PSM(PSMSettings(home=home)) as psm:
        PSMChatMessageHistory("alice", "trip", psm=psm).add_messages(batch)
        before = PSMChatMessageHistory("alice", "trip", psm=psm).messages
    # a stored system turn is never replayed as a system message: a human one, marked as stored
    assert [type(m) for m in before] == [HumanMessage, AIMessage, HumanMessage, ToolMessage]
    assert [m.text for m in before] == [
        batch[0].text,
        batch[1].text,
        "[stored system message] The user prefers short answers.",
        batch[3].text,
    ]
    with PSM(PSMSettings(home=home)) as psm:  # a new process: working memory is gone, episodic turns remain
        after = PSMChatMessageHistory("alice", "trip", psm=psm).messages
        kept = [r for r in psm.for_user("alice").records(Tier.EPISODIC) if r.session_id == "trip"]
    assert [m.text for m in after] == [stored_turn_text(r) for r in sorted(kept, key=lambda r: r.observed_at)]
    assert after and after[0].text == batch[0].text
    texts = [m.text for m in before]
    assert [m.text for m in after] == [t for t in texts if t in {m.text for m in after}], "persisted order is the added order"
    tool = [m for m in after if isinstance(m, ToolMessage)]
    assert all(m.tool_call_id == "call-1" for m in tool)


def test_clear_forgets_the_session_only(psm: PSM) -> None:
    trip = PSMChatMessageHistory("alice", "trip", psm=psm)
    trip.add_messages([HumanMessage(LISBON), AIMessage("Noted.")])
    other = PSMChatMessageHistory("alice", "work", psm=psm)
    other.add_user_message("My manager Dana approved my vacation in August.")
    trip.clear()
    assert trip.messages == []
    assert all(r.session_id != "trip" for r in psm.for_user("alice").records())
    assert [m.text for m in other.messages] == ["My manager Dana approved my vacation in August."]


async def test_async_twins(psm: PSM) -> None:
    history = PSMChatMessageHistory("alice", "s1", psm=psm)
    await history.aadd_messages([HumanMessage(LISBON), AIMessage("Lovely.")])
    assert [m.text for m in await history.aget_messages()] == [LISBON, "Lovely."]
    chat = with_history(psm, "alice", ["Rex."])
    await chat.ainvoke({"input": "What is my dog called?"}, config={"configurable": {"session_id": "s1"}})
    assert [m.text for m in await history.aget_messages()][-2:] == ["What is my dog called?", "Rex."]
    await history.aclear()
    assert await history.aget_messages() == []


def test_bad_keys_are_refused(psm: PSM) -> None:
    with pytest.raises(InvalidUserIdError):
        PSMChatMessageHistory("*", "s1", psm=psm)
    with pytest.raises(InvalidInputError):
        PSMChatMessageHistory("alice", "", psm=psm)

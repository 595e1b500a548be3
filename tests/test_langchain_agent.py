"""PSMMemoryMiddleware in real LangChain v1 agents (``create_agent``, LangGraph checkpointer, tools):
a real PSM on a real embedded Chroma, the real embedder, and a fake chat model standing in for a
remote LLM. A callback records exactly what the model received on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_psm import PSMMemoryMiddleware
from psm_core import PSM, InvalidUserIdError

LISBON = "I moved to Lisbon last spring with my dog Rex."
BOB_FACT = "My sister Carla flies planes for TAP out of Porto."


class PromptCapture(BaseCallbackHandler):
    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.calls.append(list(messages[0]))

    def system(self, i: int = -1) -> str:
        return "\n".join(m.text for m in self.calls[i] if isinstance(m, SystemMessage))


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools (the scripted replies decide when to call them)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self


def weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny and 24C in {city}."


def replies(*items: str | AIMessage) -> ToolCallingFake:
    return ToolCallingFake(messages=iter([m if isinstance(m, AIMessage) else AIMessage(content=m) for m in items]))


def ask(agent: Any, text: str, thread: str, cap: PromptCapture, **configurable: Any) -> dict[str, Any]:
    config = {"configurable": {"thread_id": thread, **configurable}, "callbacks": [cap]}
    return agent.invoke({"messages": [{"role": "user", "content": text}]}, config)


def test_memory_from_session_1_reaches_the_model_in_session_2(psm: PSM) -> None:
    cap = PromptCapture()
    mw = PSMMemoryMiddleware(psm, user_id="alice")
    agent = create_agent(
        replies("Lisbon is lovely!", "You live in Lisbon."),
        middleware=[mw],
        system_prompt="Be brief.",
        checkpointer=InMemorySaver(),
    )
    ask(agent, LISBON, "t1", cap)
    assert "Relevant memories" not in cap.system(0)
    out = ask(agent, "Where do I live now?", "t2", cap)
    assert out["messages"][-1].text == "You live in Lisbon."
    system = cap.system(-1)
    assert system.startswith("Be brief.\n\nRelevant memories about the user:") and LISBON in system
    assert all(not isinstance(m, SystemMessage) for m in out["messages"]), "memories are injected per call, not stored in state"


def test_tool_loop_gets_memories_on_every_call_and_observes_only_the_exchange(psm: PSM) -> None:
    psm.for_user("alice").remember("Alice lives in Lisbon.")
    cap = PromptCapture()
    model = replies(
        AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Lisbon"}, "id": "call-1"}]),
        "It is sunny and 24C in Lisbon.",
    )
    agent = create_agent(
        model, tools=[weather], middleware=[PSMMemoryMiddleware(psm, user_id="alice")], checkpointer=InMemorySaver()
    )
    ask(agent, "What's the weather where I live?", "t1", cap)
    assert len(cap.calls) == 2
    assert all("Alice lives in Lisbon." in cap.system(i) for i in range(2))
    turns = psm.for_user("alice").working("t1")
    assert [(t.role, t.text) for t in turns] == [
        ("user", "What's the weather where I live?"),
        ("assistant", "It is sunny and 24C in Lisbon."),
    ]


def test_memories_already_in_the_conversation_are_not_repeated(psm: PSM) -> None:
    cap = PromptCapture()
    agent = create_agent(
        replies("Lisbon is lovely!", "Rex, your dog."),
        middleware=[PSMMemoryMiddleware(psm, user_id="alice")],
        checkpointer=InMemorySaver(),
    )
    ask(agent, LISBON, "t1", cap)
    ask(agent, "What is my dog called again?", "t1", cap)
    assert any(m.text == LISBON for m in cap.calls[-1])
    assert LISBON not in cap.system(-1)
    [turn] = [r for r in psm.for_user("alice").records("episodic") if r.text == LISBON]
    assert turn.recall_count == 0, "excluded from recall, not fetched and dropped"


@dataclass
class Ctx:
    user_id: str


def test_user_from_context_and_users_are_isolated(psm: PSM) -> None:
    cap = PromptCapture()
    mw = PSMMemoryMiddleware(psm)  # one middleware, the user comes with each invocation
    agent = create_agent(replies("ok", "ok", "ok", "ok"), middleware=[mw], context_schema=Ctx)

    def run(user: str, text: str) -> None:
        agent.invoke({"messages": [{"role": "user", "content": text}]}, {"callbacks": [cap]}, context=Ctx(user_id=user))

    run("alice", LISBON)
    run("bob", BOB_FACT)
    run("alice", "Tell me about my city, my dog, my sister and planes.")
    assert LISBON in cap.system() and BOB_FACT not in cap.system()
    run("bob", "Tell me about my city, my dog, my sister and planes.")
    assert BOB_FACT in cap.system() and LISBON not in cap.system()


def test_user_from_configurable_and_a_missing_user_is_an_error(psm: PSM) -> None:
    cap = PromptCapture()
    agent = create_agent(replies("ok", "ok"), middleware=[PSMMemoryMiddleware(psm)], checkpointer=InMemorySaver())
    ask(agent, LISBON, "t1", cap, user_id="alice")
    assert [t.text for t in psm.for_user("alice").working("t1")] == [LISBON, "ok"]
    with pytest.raises(InvalidUserIdError):
        ask(agent, "hello?", "t2", cap)


async def test_async_agent(psm: PSM) -> None:
    cap = PromptCapture()
    agent = create_agent(
        replies("Lisbon is lovely!", "Lisbon."),
        middleware=[PSMMemoryMiddleware(psm, user_id="alice")],
        checkpointer=InMemorySaver(),
    )
    for text, thread in ((LISBON, "a1"), ("Which city do I live in?", "a2")):
        await agent.ainvoke(
            {"messages": [{"role": "user", "content": text}]}, {"configurable": {"thread_id": thread}, "callbacks": [cap]}
        )
    assert LISBON in cap.system(-1)
    assert [t.role for t in psm.for_user("alice").working("a2")] == ["user", "assistant"]


def test_observe_false_reads_without_writing(psm: PSM) -> None:
    psm.for_user("alice").remember("Alice lives in Lisbon.")
    cap = PromptCapture()
    agent = create_agent(replies("Lisbon."), middleware=[PSMMemoryMiddleware(psm, user_id="alice", observe=False)])
    agent.invoke({"messages": [{"role": "user", "content": "Where do I live?"}]}, {"callbacks": [cap]})
    assert "Alice lives in Lisbon." in cap.system()
    assert psm.for_user("alice").working(None) == [] and len(psm.for_user("alice").records()) == 1

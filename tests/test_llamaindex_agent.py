"""PSMMemory as the memory of LlamaIndex agents (FunctionAgent, AgentWorkflow) with a tool call per turn.

``MockFunctionCallingLLM`` (LlamaIndex's testing LLM) stands in for a remote function-calling model;
its response generator records every prompt and calls the tool once before answering.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from llamaindex_psm import PSMMemory
from tests.test_llamaindex_memory import PIXEL


def breed_facts(breed: str) -> str:
    """Exercise needs of a dog breed."""
    return f"{breed.title()}s need about an hour of exercise a day."


class ToolThenAnswer:
    """Calls ``breed_facts`` once per question, then answers from the tool result; records prompts."""

    def __init__(self) -> None:
        self.prompts: list[list[ChatMessage]] = []

    def __call__(self, messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        self.prompts.append(list(messages))
        last_user = max(i for i, m in enumerate(messages) if m.role == MessageRole.USER)
        tool_done = any(m.role == MessageRole.TOOL for m in messages[last_user:])
        question = "?" in (messages[last_user].content or "")
        if kwargs.get("tools") and question and not tool_done:
            call = ToolCallBlock(
                tool_call_id=f"call-{len(self.prompts)}", tool_name="breed_facts", tool_kwargs={"breed": "beagle"}
            )
            return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])
        if question:
            return ChatMessage(role=MessageRole.ASSISTANT, content="Pixel, your beagle, needs an hour of exercise a day.")
        return ChatMessage(role=MessageRole.ASSISTANT, content="Got it!")


def _text(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content or "" for m in messages)


async def test_function_agent_recalls_across_sessions_and_learns_from_a_correction(psm):
    script = ToolThenAnswer()
    agent = FunctionAgent(tools=[breed_facts], llm=MockFunctionCallingLLM(response_generator=script), system_prompt="Be brief.")

    monday = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="monday")
    await agent.run(user_msg=PIXEL, memory=monday)
    pixel_id = next(r.id for r in monday.user_memory.records() if r.text == PIXEL)

    tuesday = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    script.prompts.clear()
    result = await agent.run(user_msg="How much exercise does my dog need?", memory=tuesday)
    assert "hour of exercise" in str(result)
    assert len(script.prompts) == 2  # the tool call, then the answer: both saw the memory
    assert all(PIXEL in _text(p) for p in script.prompts)
    roles = [m.role for m in tuesday.get_all()]
    assert roles == [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL, MessageRole.ASSISTANT]
    recalled = next(m.content or "" for m in script.prompts[-1] if m.role == MessageRole.SYSTEM and PIXEL in (m.content or ""))
    assert "How much exercise" not in recalled  # the current turn is in the history, not repeated as a memory

    await agent.run(user_msg="No, that's wrong, Pixel is a lazy dog.", memory=tuesday)
    rows = psm.feedback_log.outcomes("alice")
    assert [(r["memory_id"], r["outcome"], r["source"]) for r in rows] == [(pixel_id, "corrected", "llamaindex")]


async def test_agent_workflow_with_psm_memory_keeps_users_apart(psm):
    script = ToolThenAnswer()
    agent = FunctionAgent(
        name="helper", description="helps", tools=[breed_facts], llm=MockFunctionCallingLLM(response_generator=script)
    )
    workflow = AgentWorkflow(agents=[agent], root_agent="helper")

    await workflow.run(user_msg=PIXEL, memory=PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="a1"))
    await workflow.run(
        user_msg="I ride a red Vespa scooter to work.", memory=PSMMemory.from_defaults(psm=psm, user_id="bob", session_id="b1")
    )
    script.prompts.clear()
    bob = PSMMemory.from_defaults(psm=psm, user_id="bob", session_id="b2")
    await workflow.run(user_msg="How much exercise does my dog need? How do I get to work?", memory=bob)
    seen = _text(script.prompts[-1])
    assert "red Vespa scooter" in seen and PIXEL not in seen
    await workflow.run(user_msg="Wrong, I sold the scooter.", memory=bob)
    assert psm.feedback_log.outcomes("alice") == []
    # None: a correction no memory of Bob's carried is recorded against his retrieval
    assert {r["memory_id"] for r in psm.feedback_log.outcomes("bob")} <= {r.id for r in bob.user_memory.records()} | {None}
    assert psm.feedback_log.outcomes("bob")

"""PSMMemoryBlock inside LlamaIndex's own ``Memory`` (FIFO queue + memory blocks) in a chat engine."""

from __future__ import annotations

import asyncio

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import Memory

from llamaindex_psm import PSMMemoryBlock
from psm_core.text import count_tokens
from tests.test_llamaindex_memory import PIXEL, RAMEN, ScriptedLLM, dog_answer

TURNS = [PIXEL, RAMEN, "I work night shifts as a nurse at the city hospital.", "Tell me a joke.", "Another one, please."]


def _session_one(psm, user: str = "alice") -> Memory:
    # a small queue: older turns are flushed to the blocks while the session goes on
    memory = Memory.from_defaults(session_id="monday", token_limit=60, memory_blocks=[PSMMemoryBlock(psm=psm, user_id=user)])
    engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=lambda p: "Noted!"), memory=memory)
    for turn in TURNS:
        engine.chat(turn)
    return memory


def test_flushed_turns_are_observed_and_recalled_in_the_next_session(psm):
    _session_one(psm)
    stored = {r.text: r for r in psm.for_user("alice").records("episodic")}
    assert PIXEL in stored and RAMEN in stored and stored[PIXEL].session_id == "monday"
    assert "Noted!" not in stored  # only user turns are observed by default

    llm = ScriptedLLM(reply=dog_answer)
    block = PSMMemoryBlock(psm=psm, user_id="alice")
    memory = Memory.from_defaults(session_id="tuesday", memory_blocks=[block])
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    assert str(engine.chat("What is my dog called?")) == "Your dog is called Pixel."
    assert "<psm_memory>" in llm.prompts[-1] and PIXEL in llm.prompts[-1]
    assert block.last_recall is not None and stored[PIXEL].id in block.last_recall.ids

    rid = block.tracker.last_retrieval_id
    assert rid is not None and stored[PIXEL].id in psm.feedback_log.surfaced_ids(rid)

    engine.chat("No, that's wrong.")
    rows = [r for r in psm.feedback_log.outcomes("alice") if r["retrieval_id"] == rid]
    assert [(r["memory_id"], r["outcome"]) for r in rows] == [(stored[PIXEL].id, "corrected")]


def test_block_keeps_users_apart(psm):
    _session_one(psm, "alice")
    llm = ScriptedLLM(reply=dog_answer)
    memory = Memory.from_defaults(session_id="b1", memory_blocks=[PSMMemoryBlock(psm=psm, user_id="bob")])
    SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("What is my dog called? Where do I work?")
    assert PIXEL not in llm.prompts[-1] and "nurse" not in llm.prompts[-1]
    assert psm.for_user("bob").records() == []


def test_block_budget_and_truncation(psm):
    budget = 100  # three memories and the block's frame (header, quoted-data note, tags)
    psm.for_user("alice").observe_many([{"text": t, "session_id": "monday"} for t in TURNS[:3]])
    block = PSMMemoryBlock(psm=psm, user_id="alice", token_budget=budget, priority=1)
    query = [ChatMessage(role="user", content="Tell me about my dog, my food and my job.")]
    content = asyncio.run(block.aget(query, session_id="tuesday"))
    recalled = block.last_recall
    assert recalled is not None and len(recalled) >= 3 and content.count("\n- ") == len(recalled)
    assert count_tokens(content) <= budget  # the frame included
    assert asyncio.run(block.aget(query, session_id="tuesday")) == content  # cached within a turn

    smaller = asyncio.run(block.atruncate(content, 5))
    assert smaller is not None and smaller.count("\n- ") == len(recalled) - 1
    assert block.last_recall is not None and block.last_recall.ids == recalled.ids[:-1]
    assert asyncio.run(block.atruncate(smaller, 10_000)) is None

    # inside Memory: a tight token limit makes Memory truncate the (priority 1) block, weakest memories first
    block = PSMMemoryBlock(psm=psm, user_id="alice", token_budget=budget, priority=1)
    memory = Memory.from_defaults(session_id="tuesday", token_limit=budget, memory_blocks=[block])
    asyncio.run(memory.aput(query[0]))
    system = asyncio.run(memory.aget())[0]
    assert block.last_recall is not None and 0 < len(block.last_recall) < len(recalled)
    assert block.last_recall.ids == recalled.ids[: len(block.last_recall)]
    assert block.last_recall.format_context(block.header) in system.content

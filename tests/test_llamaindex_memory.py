"""PSMMemory in real LlamaIndex chat engines: a real PSM on a real embedded Chroma, the real embedder,
and ``MockLLM`` standing in for a remote LLM (a small subclass records the prompts it receives).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core import Document, SummaryIndex
from llama_index.core.base.llms.types import ChatMessage, CompletionResponse, CompletionResponseGen, MessageRole
from llama_index.core.bridge.pydantic import Field
from llama_index.core.chat_engine import CondensePlusContextChatEngine, ContextChatEngine, SimpleChatEngine
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent, LLMCompletionStartEvent
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback

import llamaindex_psm
from llamaindex_psm import PSMMemory

PIXEL = "I adopted a beagle named Pixel last month."
RAMEN = "My favourite food is spicy ramen from the corner shop."


class ScriptedLLM(MockLLM):
    """MockLLM that records every prompt it receives and answers with ``reply(prompt)``."""

    prompts: list[str] = Field(default_factory=list)
    reply: Callable[[str], str] = Field(default=lambda prompt: "OK.")

    def __init__(self, reply: Callable[[str], str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if reply is not None:
            self.reply = reply

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.reply(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self.prompts.append(prompt)
        text = self.reply(prompt)

        def gen() -> CompletionResponseGen:
            for i, word in enumerate(text.split(" ")):
                delta = word if i == 0 else " " + word
                yield CompletionResponse(text=" ".join(text.split(" ")[: i + 1]), delta=delta)

        return gen()


class LLMCalls(BaseEventHandler):
    """Collects (span_id, prompt) of every LLM call start, from LlamaIndex instrumentation."""

    calls: list[tuple[str, str]] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "LLMCalls"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, LLMChatStartEvent):
            self.calls.append((event.span_id or event.id_, "\n".join(m.content or "" for m in event.messages)))
        elif isinstance(event, LLMCompletionStartEvent):
            self.calls.append((event.span_id or event.id_, event.prompt))


@pytest.fixture
def llm_calls() -> Iterator[LLMCalls]:
    handler = LLMCalls()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler
    dispatcher.event_handlers.remove(handler)


def dog_answer(prompt: str) -> str:
    return "Your dog is called Pixel." if "dog" in prompt.lower().split("user:")[-1] else "Noted!"


def session_one(psm, user: str = "alice", *turns: str) -> PSMMemory:
    memory = PSMMemory.from_defaults(psm=psm, user_id=user, session_id="monday")
    engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=lambda p: "Noted!"), memory=memory)
    for turn in turns or (PIXEL, RAMEN):
        engine.chat(turn)
    return memory


def test_all_is_sorted_and_resolves():
    assert llamaindex_psm.__all__ == sorted(llamaindex_psm.__all__)
    for name in llamaindex_psm.__all__:
        assert getattr(llamaindex_psm, name) is not None
    for mod in ("context", "feedback", "memory", "memory_block"):
        module = __import__(f"llamaindex_psm.{mod}", fromlist=["__all__"])
        assert module.__all__ == sorted(module.__all__)


def test_import_without_llama_index_names_the_extra():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "llama_index" or name.startswith("llama_index."):
                    raise ImportError(f"No module named {name!r}")
        sys.meta_path.insert(0, Block())
        from psm_core.errors import MissingDependencyError
        try:
            import llamaindex_psm
        except MissingDependencyError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'psm-memory[llamaindex]'" in out.stdout


def test_simple_chat_engine_memory_reaches_next_session_prompt(psm, llm_calls):
    first = session_one(psm)
    assert [m.role for m in first.get_all()] == [MessageRole.USER, MessageRole.ASSISTANT] * 2
    pixel = next(r for r in first.user_memory.records() if r.text == PIXEL)

    llm = ScriptedLLM(reply=dog_answer)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    assert str(engine.chat("What is my dog called?")) == "Your dog is called Pixel."

    assert PIXEL in llm.prompts[-1] and "What is my dog called?" in llm.prompts[-1]
    assert pixel.id in memory.last_recall.ids
    assert [m.content for m in memory.get_all()] == ["What is my dog called?", "Your dog is called Pixel."]
    # the recall was logged against the LLM call that received it
    span = next(s for s, prompt in llm_calls.calls if "What is my dog called?" in prompt)
    logged = psm.feedback_log.retrievals_for_run(span)
    assert len(logged) == 1 and pixel.id in psm.feedback_log.surfaced_ids(logged[0][0])


def test_correction_is_negative_feedback_on_the_memory_the_answer_used(psm, llm_calls):
    first = session_one(psm)
    ids = {r.text: r.id for r in first.user_memory.records("episodic")}
    llm = ScriptedLLM(reply=dog_answer)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday", k=5)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    engine.chat("What is my dog called?")
    surfaced = memory.last_recall.ids
    assert {ids[PIXEL], ids[RAMEN]} <= set(surfaced)  # both reached the LLM...
    assert psm.feedback_log.outcomes("alice") == []

    engine.chat("No, that's wrong: Pixel was my cat, my dog is Rex.")
    rows = psm.feedback_log.outcomes("alice")
    assert rows and {r["outcome"] for r in rows} == {"corrected"}
    assert [r["memory_id"] for r in rows] == [ids[PIXEL]]  # ...only the one the answer used is blamed
    assert rows[0]["value"] == -1.0 and rows[0]["source"] == "llamaindex"
    span = next(s for s, prompt in llm_calls.calls if "What is my dog called?" in prompt)
    assert [r for r, _ in psm.feedback_log.retrievals_for_run(span)] == [rows[0]["retrieval_id"]]


def test_no_correction_marks_used_memories_helpful_and_the_rest_neutral(psm):
    first = session_one(psm)
    ids = {r.text: r.id for r in first.user_memory.records("episodic")}
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=dog_answer), memory=memory)
    engine.chat("What is my dog called?")
    engine.chat("Thanks! Can you suggest a walk for us tomorrow?")
    by_outcome: dict[str, set[str]] = {}
    for row in psm.feedback_log.outcomes("alice"):
        by_outcome.setdefault(row["outcome"], set()).add(row["memory_id"])
    assert by_outcome["helpful"] == {ids[PIXEL]}
    assert ids[RAMEN] in by_outcome["neutral"] and "corrected" not in by_outcome


@pytest.mark.parametrize("engine_cls", [ContextChatEngine, CondensePlusContextChatEngine])
@pytest.mark.parametrize("use_async", [False, True])
async def test_context_engines_get_memories_and_feedback(psm, engine_cls, use_async):
    first = session_one(psm)
    pixel_id = next(r.id for r in first.user_memory.records() if r.text == PIXEL)
    retriever = SummaryIndex.from_documents([Document(text="Beagles need an hour of exercise a day.")]).as_retriever()
    llm = ScriptedLLM(reply=lambda p: "Your dog is called Pixel; beagles need an hour of exercise.")
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    engine = engine_cls.from_defaults(retriever=retriever, llm=llm, memory=memory)
    chat = engine.achat if use_async else engine.chat

    async def say(text: str) -> str:
        out = chat(text)
        return str(await out if use_async else out)

    await say("What is my dog called and how much exercise does he need?")
    assert PIXEL in llm.prompts[-1] and "Beagles need an hour" in llm.prompts[-1]
    await say("No, that's not right, Pixel is lazy.")
    rows = psm.feedback_log.outcomes("alice")
    assert [(r["memory_id"], r["outcome"]) for r in rows] == [(pixel_id, "corrected")]
    assert [m.role for m in memory.get_all()] == [MessageRole.USER, MessageRole.ASSISTANT] * 2


def test_streaming_chat_captures_the_answer(psm):
    first = session_one(psm)
    pixel_id = next(r.id for r in first.user_memory.records() if r.text == PIXEL)
    llm = ScriptedLLM(reply=dog_answer)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    streamed = engine.stream_chat("What is my dog called?")
    assert "".join(streamed.response_gen) == "Your dog is called Pixel."
    engine.chat("That's wrong.")
    assert [(r["memory_id"], r["outcome"]) for r in psm.feedback_log.outcomes("alice")] == [(pixel_id, "corrected")]


def test_users_are_isolated(psm, llm_calls):
    session_one(psm, "alice")
    session_one(psm, "bob", "I play bass guitar in a jazz band every Friday night.")
    bob_llm = ScriptedLLM(reply=dog_answer)
    bob = PSMMemory.from_defaults(psm=psm, user_id="bob", session_id="tuesday")
    SimpleChatEngine.from_defaults(llm=bob_llm, memory=bob).chat("What is my dog called? Any hobbies of mine?")
    assert "bass guitar" in bob_llm.prompts[-1]
    assert PIXEL not in bob_llm.prompts[-1] and RAMEN not in bob_llm.prompts[-1]
    assert bob.last_recall and all(m.record.user_id == "bob" for m in bob.last_recall.memories)

    SimpleChatEngine.from_defaults(llm=bob_llm, memory=bob).chat("No, that's wrong.")
    bob_rows = psm.feedback_log.outcomes("bob")
    bob_ids = {r.id for r in bob.user_memory.records()}
    # no memory of Bob's says Pixel: the correction is Bob's retrieval's, not a memory's
    assert bob_rows and {r["memory_id"] for r in bob_rows} <= bob_ids | {None}
    assert psm.feedback_log.outcomes("alice") == []
    assert not any(r.text in (PIXEL, RAMEN) for r in bob.user_memory.records())


def test_session_api_window_and_async_twins(psm):
    memory = PSMMemory.from_defaults(psm=psm, user_id="carol", session_id="s1", token_limit=700, token_budget=100)
    memory.put(ChatMessage(role="user", content="I am training for the Lisbon marathon in October."))
    memory.put(ChatMessage(role="assistant", content="Great goal!"))
    msgs = memory.get()
    # the turn the LLM already sees in the history is not surfaced again as a memory
    assert msgs == memory.get_all() and memory.last_recall is not None and len(memory.last_recall) == 0
    memory.put(ChatMessage(role="user", content="x" * 2360))
    system, *window = memory.get()
    assert len(memory.get_all()) == 3 and [m.content for m in window] == ["x" * 2360]  # no leading assistant turn
    # the turn that fell out of the window comes back as a recalled memory
    assert system.role is MessageRole.SYSTEM and "Lisbon marathon" in system.content

    memory.set([ChatMessage(role="user", content="hello")])
    assert [m.content for m in memory.get_all()] == ["hello"]
    memory.reset()
    assert memory.get_all() == []
    assert memory.user_memory.stats().tiers["episodic"] >= 1  # reset keeps long-term memory

    other = PSMMemory.from_defaults(psm=psm, user_id="carol", session_id="s2")

    async def run() -> list[ChatMessage]:
        await other.aput(ChatMessage(role="user", content="Which race am I training for?"))
        await other.aput_messages([ChatMessage(role="assistant", content="Let me check.")])
        assert len(await other.aget_all()) == 2
        got = await other.aget(input="Which race am I training for?")
        await other.aset([])
        await other.areset()
        return got

    import asyncio

    got = asyncio.run(run())
    assert got[0].role is MessageRole.SYSTEM and "Lisbon marathon" in got[0].content


def test_bad_user_id_and_oversized_turn(psm):
    from psm_core import InvalidUserIdError

    with pytest.raises(InvalidUserIdError):
        PSMMemory.from_defaults(psm=psm, user_id="*")
    memory = PSMMemory.from_defaults(psm=psm, user_id="dave")
    huge = "word " * (psm.settings.max_text_bytes // 4)
    memory.put(ChatMessage(role="user", content=huge))  # not observed (too long), but kept in the session
    assert memory.get_all()[-1].content == huge and memory.user_memory.records() == []


def test_feedback_off_logs_nothing_and_the_handler_is_installed_once(psm):
    from llama_index.core.instrumentation import get_dispatcher

    from llamaindex_psm import PSMFeedbackHandler

    session_one(psm)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday", feedback=False)
    engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=dog_answer), memory=memory)
    engine.chat("What is my dog called?")
    engine.chat("No, that's wrong.")
    assert memory.tracker is None and PIXEL in memory.get()[0].content
    assert psm.feedback_log.outcomes("alice") == []
    handlers = [h for h in get_dispatcher().event_handlers if isinstance(h, PSMFeedbackHandler)]
    assert len(handlers) == 1


def test_erasing_the_user_mid_conversation_does_not_break_the_chat(psm, caplog):
    session_one(psm)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=dog_answer), memory=memory)
    engine.chat("What is my dog called?")
    memory.user_memory.erase()  # deletes the feedback rows of the pending answer, and the tracker's state
    assert memory.tracker.last_retrieval_id is None, "nothing of an erased user is held"
    assert str(engine.chat("No, that's wrong.")) == "Noted!"
    assert psm.feedback_log.outcomes("alice") == [] and "failed" not in caplog.text
    assert PIXEL not in (memory.get()[0].content or "")


def test_two_live_sessions_with_the_same_memories_get_their_own_feedback(psm):
    session_one(psm)
    wed = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="wed")
    thu = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="thu")
    wed_engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=dog_answer), memory=wed)
    thu_engine = SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=dog_answer), memory=thu)
    context = wed.get(input="What is my dog called?")[0].content  # recalled on Wednesday, not sent to an LLM yet
    thu_engine.chat("What is my dog called?")  # the same memories, rendered identically
    assert context in thu_engine._llm.prompts[-1] and wed.tracker.last_retrieval_id is None
    wed_engine.chat("What is my dog called?")
    wed_rid, thu_rid = wed.tracker.last_retrieval_id, thu.tracker.last_retrieval_id
    assert wed_rid and thu_rid and wed_rid != thu_rid

    thu_engine.chat("No, that's wrong.")
    wed_engine.chat("Thanks, that's right!")
    outcomes = {(r["retrieval_id"], r["outcome"]) for r in psm.feedback_log.outcomes("alice")}
    assert (thu_rid, "corrected") in outcomes and (wed_rid, "helpful") in outcomes
    assert (wed_rid, "corrected") not in outcomes and (thu_rid, "helpful") not in outcomes


def test_turns_in_the_window_are_excluded_from_recall_and_never_counted_as_recalled(psm):
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="monday")
    memory.put(ChatMessage(role="user", content=PIXEL))
    [turn] = [r for r in memory.user_memory.records("episodic") if r.text == PIXEL]
    assert memory.get(input="What is my dog called?") == memory.get_all()  # the turn is in the window already
    assert memory.last_recall is not None and turn.id not in memory.last_recall.ids
    assert memory.user_memory.get(turn.id).recall_count == 0, "excluded from recall, not fetched and dropped"
    other = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    assert PIXEL in other.get(input="What is my dog called?")[0].content
    assert memory.user_memory.get(turn.id).recall_count == 1


def test_a_closed_psm_gets_no_more_feedback(home, caplog):
    from llama_index.core.instrumentation.events.llm import LLMCompletionStartEvent

    from llamaindex_psm import install_feedback_handler
    from psm_core import PSM, PSMSettings

    psm = PSM(PSMSettings(home=home))
    session_one(psm)
    memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
    SimpleChatEngine.from_defaults(llm=ScriptedLLM(reply=dog_answer), memory=memory).chat("What is my dog called?")
    assert memory.tracker.last_retrieval_id is not None  # the answer awaits the user's next turn
    food = memory.user_memory.recall("What do I like to eat?", k=3)
    context = food.format_context(memory.header)
    memory.tracker.offer(food, context)  # a new recall offered, not yet sent to an LLM
    assert not memory.tracker.closed
    psm.close()
    assert memory.tracker.closed
    install_feedback_handler().handle(
        LLMCompletionStartEvent(prompt=context, additional_kwargs={}, model_dict={}, span_id="late")
    )
    assert memory.tracker.on_user_message("No, that's wrong.") is None
    assert "failed" not in caplog.text and "not recorded" not in caplog.text, "nothing was even attempted"
    with PSM(PSMSettings(home=home)) as reopened:
        assert reopened.feedback_log.retrievals_for_run("late") == []
        assert reopened.feedback_log.outcomes("alice") == [], "the correction after close was not logged"

"""PSMMemory in real classic chains (ConversationChain, LLMChain): a real PSM on a real embedded
Chroma, the real embedder, and LangChain's fake chat models standing in for a remote LLM. A
callback records exactly what the model received.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from langchain_classic.chains import ConversationChain, LLMChain
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

import langchain_psm
from langchain_psm import PSMMemory
from psm_core import PSM, InvalidUserIdError, Tier

LISBON = "I moved to Lisbon last spring with my dog Rex."
BOB_FACT = "My sister Carla works as a pilot for TAP."


class PromptCapture(BaseCallbackHandler):
    """Records the messages of every chat-model call."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.calls.append(list(messages[0]))

    @property
    def last_text(self) -> str:
        return "\n".join(m.text for m in self.calls[-1])


def conversation(psm: PSM, user: str, session: str, replies: list[str], **kwargs: Any) -> ConversationChain:
    memory = PSMMemory(psm=psm, user_id=user, session_id=session, **kwargs)
    return ConversationChain(llm=FakeListChatModel(responses=replies), memory=memory)


def test_memory_from_session_1_reaches_the_prompt_in_session_2(psm: PSM) -> None:
    cap = PromptCapture()
    first = conversation(psm, "alice", "s1", ["Lisbon is lovely!"])
    first.invoke({"input": LISBON}, config={"callbacks": [cap]})
    assert LISBON not in cap.last_text.split("Human:")[0], "nothing was remembered before the first turn"

    second = conversation(psm, "alice", "s2", ["You live in Lisbon."])
    out = second.invoke({"input": "Where do I live these days?"}, config={"callbacks": [cap]})
    assert out["response"] == "You live in Lisbon."
    prompt = cap.last_text
    assert "Relevant memories about the user:" in prompt
    assert LISBON in prompt
    assert prompt.index(LISBON) < prompt.index("Where do I live these days?")


def test_save_context_observes_both_sides_with_roles_and_session(psm: PSM) -> None:
    memory = PSMMemory(psm=psm, user_id="alice", session_id="chat-7")
    memory.save_context({"input": LISBON}, {"response": "Congratulations on the move to Lisbon, Rex must love it!"})
    turns = psm.for_user("alice").working("chat-7")
    assert [(t.role, t.session_id) for t in turns] == [("user", "chat-7"), ("assistant", "chat-7")]
    assert turns[0].text == LISBON
    assert turns[0].tier is Tier.EPISODIC  # the gate kept the user's fact in long-term memory


def test_recent_turns_follow_the_memories_and_are_not_repeated(psm: PSM) -> None:
    cap = PromptCapture()
    chain = conversation(psm, "alice", "s1", ["Lisbon is lovely!", "Rex is a great name."])
    chain.invoke({"input": LISBON}, config={"callbacks": [cap]})
    chain.invoke({"input": "What should I name my next dog?"}, config={"callbacks": [cap]})
    prompt = cap.last_text
    assert f"Human: {LISBON}\nAI: Lisbon is lovely!" in prompt
    assert prompt.count(LISBON) == 1, "a turn in the recent window is not recalled a second time"


def test_turns_in_the_recent_window_are_excluded_from_recall_not_counted_as_recalled(psm: PSM) -> None:
    mem = psm.for_user("alice")
    chain = conversation(psm, "alice", "s1", ["Lisbon is lovely!"])
    chain.invoke({"input": LISBON})
    [turn] = [r for r in mem.records("episodic") if r.text == LISBON]
    in_window = chain.memory.load_memory_variables({"input": "Where did I move with my dog?"})  # type: ignore[union-attr]
    assert in_window["history"].count(LISBON) == 1
    assert mem.get(turn.id).recall_count == 0, "a turn the prompt already holds was never recalled"
    elsewhere = PSMMemory(psm=psm, user_id="alice", session_id="s2").load_memory_variables({"input": "Where did I move?"})
    assert LISBON in elsewhere["history"] and mem.get(turn.id).recall_count == 1


def test_llmchain_with_messages_and_a_token_budget(psm: PSM) -> None:
    mem = psm.for_user("alice")
    mem.remember("Alice is allergic to peanuts.", kind="fact")
    mem.remember("Alice prefers window seats on long flights.", kind="preference")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a travel assistant."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    memory = PSMMemory(psm=psm, user_id="alice", return_messages=True, k=1, token_budget=40)
    cap = PromptCapture()
    chain = LLMChain(llm=FakeListChatModel(responses=["Aisle or window?"]), prompt=prompt, memory=memory)
    out = chain.invoke({"question": "Book me a flight and a meal: any seat or food preferences?"}, config={"callbacks": [cap]})
    assert out["text"] == "Aisle or window?"
    sent = cap.calls[-1]
    injected = [m for m in sent[1:-1] if isinstance(m, SystemMessage)]
    assert len(injected) == 1 and injected[0].text.startswith("Relevant memories about the user:")
    lines = injected[0].text.splitlines()
    block = lines[lines.index("<memories>") + 1 : lines.index("</memories>")]
    assert len(block) == 1, "k=1: one memory line in the block"
    loaded = memory.load_memory_variables({"question": "seat preferences for my flight?"})["history"]
    assert isinstance(loaded[0], SystemMessage)
    assert [type(m) for m in loaded[1:]] == [HumanMessage, AIMessage]


def test_clear_forgets_this_session_only(psm: PSM) -> None:
    old = PSMMemory(psm=psm, user_id="alice", session_id="old")
    old.save_context({"input": LISBON}, {"response": "Noted."})
    current = PSMMemory(psm=psm, user_id="alice", session_id="now")
    current.save_context({"input": "I am training for the Porto marathon in October."}, {"response": "Good luck!"})
    current.clear()
    mem = psm.for_user("alice")
    assert mem.working("now") == []
    assert all(r.session_id != "now" for r in mem.records())
    assert [r.text for r in mem.records("episodic")] == [LISBON]


async def test_async_twins_in_an_async_chain(psm: PSM) -> None:
    cap = PromptCapture()
    first = conversation(psm, "alice", "a1", ["Lovely."])
    await first.ainvoke({"input": LISBON}, config={"callbacks": [cap]})
    second = conversation(psm, "alice", "a2", ["Lisbon."])
    await second.ainvoke({"input": "Which city did I move to?"}, config={"callbacks": [cap]})
    assert LISBON in cap.last_text
    loaded = await second.memory.aload_memory_variables({"input": "my dog"})  # type: ignore[union-attr]
    assert LISBON in loaded["history"]
    await second.memory.aclear()  # type: ignore[union-attr]
    assert psm.for_user("alice").working("a2") == []


def test_two_users_never_see_each_other(psm: PSM) -> None:
    cap = PromptCapture()
    conversation(psm, "alice", "s1", ["ok"]).invoke({"input": LISBON}, config={"callbacks": [cap]})
    conversation(psm, "bob", "s1", ["ok"]).invoke({"input": BOB_FACT}, config={"callbacks": [cap]})
    for user, own, other in (("alice", LISBON, BOB_FACT), ("bob", BOB_FACT, LISBON)):
        chain = conversation(psm, user, "s2", ["ok"])
        chain.invoke({"input": "Tell me about my city, my dog, my sister and her job as a pilot."}, config={"callbacks": [cap]})
        assert own in cap.last_text
        assert other not in cap.last_text
        assert other not in str(chain.memory.load_memory_variables({"input": other}))  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "   ", "*"])
def test_invalid_user_id_is_refused(psm: PSM, bad: str) -> None:
    with pytest.raises(InvalidUserIdError):
        PSMMemory(psm=psm, user_id=bad)


def test_public_surface() -> None:
    assert langchain_psm.__all__ == sorted(langchain_psm.__all__)
    for name in langchain_psm.__all__:
        assert getattr(langchain_psm, name) is not None
    assert (Path(langchain_psm.__file__).parent / "py.typed").exists()


def test_import_without_the_extra_names_the_pip_command() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["langchain_classic"] = None  # simulate: the langchain extra is not installed
        from psm_core.errors import MissingDependencyError
        try:
            import langchain_psm
        except MissingDependencyError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
        else:
            raise SystemExit("imported without the extra")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'psm-memory[langchain]'" in out.stdout


def test_adapters_without_a_psm_share_one_default_local_psm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_psm import PSMChatMessageHistory, PSMMemoryMiddleware, PSMRetriever
    from psm_core import defaults

    monkeypatch.setenv("PSM_HOME", str(tmp_path / "default-home"))
    monkeypatch.setattr(defaults, "_default", None)
    memory = PSMMemory(user_id="alice")
    try:
        others = [
            PSMRetriever(user_id="alice").psm,
            PSMChatMessageHistory("alice", "s1").psm,
            PSMMemoryMiddleware(user_id="alice").psm,
        ]
        assert all(p is memory.psm for p in others), "one embedded store has one writer per process"
        assert memory.psm.settings.home == tmp_path / "default-home"
        memory.save_context({"input": LISBON}, {"response": "Noted."})
        assert PSMRetriever(user_id="alice").invoke("Where did I move?")[0].page_content == LISBON
    finally:
        memory.psm.close()


def test_a_closed_default_psm_is_replaced_by_a_fresh_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from psm_core import defaults

    monkeypatch.setenv("PSM_HOME", str(tmp_path / "default-home"))
    monkeypatch.setattr(defaults, "_default", None)
    first = PSMMemory(user_id="alice")
    first.save_context({"input": LISBON}, {"response": "Noted."})
    first.psm.close()
    again = PSMMemory(user_id="alice")
    try:
        assert again.psm is not first.psm and not again.psm.closed
        assert LISBON in again.load_memory_variables({"input": "Where did I move?"})["history"]
    finally:
        again.psm.close()

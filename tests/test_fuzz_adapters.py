"""Hypothesis fuzz of the adapters' entry points (issue 24 item 6): what an application hands the
LangChain and LlamaIndex adapters — any text, any metadata on a message, odd roles, junk inputs — raises
nothing but a :class:`PSMError` (or is stored), and the user's store keeps working afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psm_core import PSM, PSMError, RecallResult

pytest.importorskip("langchain_core")
pytest.importorskip("llama_index.core")

from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage  # noqa: E402
from llama_index.core.llms import ChatMessage as LIChatMessage  # noqa: E402
from llama_index.core.llms import MessageRole  # noqa: E402

from langchain_psm import PSMChatMessageHistory, PSMMemory, PSMRetriever  # noqa: E402
from llamaindex_psm import PSMMemory as LIPSMMemory  # noqa: E402

TEXT = st.text(max_size=120)
JUNK = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), TEXT, st.lists(TEXT, max_size=3), st.binary(max_size=5),
                 st.dictionaries(TEXT, st.integers(), max_size=2))  # fmt: skip
ROLE = st.one_of(
    st.sampled_from(["user", "assistant", "system", "developer", "tool", "Caroline"]), st.text(min_size=1, max_size=12)
)
LC_MESSAGE = st.one_of(
    st.builds(lambda t: HumanMessage(content=t), TEXT),
    st.builds(lambda t: AIMessage(content=t), TEXT),
    st.builds(lambda t: SystemMessage(content=t), TEXT),
    st.builds(lambda t, r: ChatMessage(content=t, role=r), TEXT, ROLE),
    st.builds(
        lambda t, m: HumanMessage(content=t, additional_kwargs=m), TEXT, st.dictionaries(st.text(max_size=5), JUNK, max_size=2)
    ),
)
LI_MESSAGE = st.builds(lambda t, r: LIChatMessage(role=r, content=t), TEXT, st.sampled_from(list(MessageRole)))

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _only_psm_errors(call: Any) -> None:
    try:
        call()
    except PSMError:
        pass


@FUZZ
@given(query=JUNK, k=st.one_of(st.integers(-3, 30), JUNK))
def test_retriever_invoke(psm: PSM, query: Any, k: Any) -> None:
    psm.for_user("alice").remember("Alice lives in Lisbon.")
    _only_psm_errors(lambda: PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": k}).invoke(query))
    assert len(PSMRetriever(psm=psm, user_id="alice").invoke("Lisbon")) >= 1


@FUZZ
@given(messages=st.lists(LC_MESSAGE, max_size=4))
def test_chat_history_add_messages(psm: PSM, messages: list[Any]) -> None:
    hist = PSMChatMessageHistory("alice", "s1", psm=psm)
    _only_psm_errors(lambda: hist.add_messages(messages))
    assert all(m.type != "system" for m in hist.messages)
    assert isinstance(psm.for_user("alice").recall("anything", k=2), RecallResult)


@FUZZ
@given(inputs=st.dictionaries(st.sampled_from(["input", "question", "x"]), JUNK, max_size=2),
       outputs=st.dictionaries(st.sampled_from(["output", "answer", "y"]), JUNK, max_size=2))  # fmt: skip
def test_langchain_memory_save_and_load(psm: PSM, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    memory = PSMMemory(psm=psm, user_id="alice", session_id="s1")
    _only_psm_errors(lambda: memory.save_context(inputs, outputs))
    _only_psm_errors(lambda: memory.load_memory_variables(inputs))
    assert isinstance(memory.load_memory_variables({"input": "where do I live?"}), dict)


@FUZZ
@given(messages=st.lists(LI_MESSAGE, max_size=4), query=st.one_of(st.none(), TEXT))
def test_llamaindex_memory_put_and_get(psm: PSM, messages: list[Any], query: Any) -> None:
    memory = LIPSMMemory.from_defaults(psm=psm, user_id="alice", session_id="s1")
    for m in messages:
        _only_psm_errors(lambda m=m: memory.put(m))
    _only_psm_errors(lambda: memory.get(query))
    got = memory.get("where do I live?")
    put = {str(m.content) for m in messages if m.role is MessageRole.SYSTEM}  # the app's own system turns in its window
    assert all(m.role is not MessageRole.SYSTEM or "<memories>" in str(m.content) or str(m.content) in put for m in got)

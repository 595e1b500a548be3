"""PSMRetriever: the langchain-tests standard retriever tests, metadata, isolation, and a real LCEL
RAG chain (fake chat model standing in for a remote LLM) whose memories are linked to the LLM run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_psm import PSMFeedbackCallbackHandler, PSMRetriever
from psm_core import PSM, InvalidUserIdError, PSMSettings

ALICE = [
    "Alice moved to Lisbon last spring.",
    "Alice's dog Rex is a three-year-old beagle.",
    "Alice is allergic to peanuts.",
    "Alice works as a marine biologist at the aquarium.",
    "Alice plans a trip to Japan in October.",
]
BOB = ["Bob lives in Oslo and works as a carpenter.", "Bob's dog Luna is a husky."]


def seed(psm: PSM) -> None:
    for text in ALICE:
        psm.for_user("alice").remember(text)
    for text in BOB:
        psm.for_user("bob").remember(text)


@pytest.fixture(scope="class")
def seeded_psm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PSM]:
    with PSM(PSMSettings(home=tmp_path_factory.mktemp("psm-retriever"))) as psm:
        seed(psm)
        yield psm


class TestPSMRetrieverStandard(RetrieversIntegrationTests):
    """langchain-tests' standard retriever contract (k in the constructor and per call, sync and async)."""

    psm: PSM

    @pytest.fixture(autouse=True)
    def _psm(self, seeded_psm: PSM) -> None:
        type(self).psm = seeded_psm

    @property
    def retriever_constructor(self) -> type[PSMRetriever]:
        return PSMRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"psm": self.psm, "user_id": "alice"}

    @property
    def retriever_query_example(self) -> str:
        return "Where does Alice live and what is her dog like?"


def test_documents_carry_the_memory_metadata(psm: PSM) -> None:
    seed(psm)
    fact = psm.for_user("alice").remember("Alice's favourite dish is bacalhau.", confidence=0.7, provenance=["ep-1", "ep-2"])
    docs = PSMRetriever(psm=psm, user_id="alice", k=2).invoke("What is Alice's favourite dish?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert top.page_content == fact.text and top.id == fact.id
    meta = top.metadata
    assert meta["id"] == fact.id and meta["tier"] == "semantic" and meta["kind"] == "fact"
    assert meta["confidence"] == pytest.approx(0.7) and meta["provenance"] == ["ep-1", "ep-2"]
    assert 0.0 < meta["strength"] <= 1.0
    assert meta["score"] >= docs[1].metadata["score"]
    assert {"similarity", "status", "observed_at", "session_id", "role"} <= set(meta)


def test_tiers_and_k_per_call(psm: PSM) -> None:
    seed(psm)
    psm.for_user("alice").observe("I just booked flights to Tokyo for October 3rd!", session_id="s1")
    retriever = PSMRetriever(psm=psm, user_id="alice", k=5, tiers=["episodic"])
    docs = retriever.invoke("When is the Japan trip?", k=1)
    assert [d.metadata["tier"] for d in docs] == ["episodic"]
    assert len(retriever.invoke("Japan trip")) == 1, "only one episodic memory exists"
    with pytest.raises(TypeError):
        retriever.invoke("Japan", top_k=2)


def test_two_users_never_see_each_other(psm: PSM) -> None:
    seed(psm)
    for user, own, other in (("alice", ALICE, BOB), ("bob", BOB, ALICE)):
        docs = PSMRetriever(psm=psm, user_id=user, k=20).invoke(
            "Where does Bob live and what is his dog called? Oslo Luna Lisbon Rex"
        )
        texts = {d.page_content for d in docs}
        assert texts == set(own)
        assert not texts & set(other)
    with pytest.raises(InvalidUserIdError):
        PSMRetriever(psm=psm, user_id="*")


class RunIds(BaseCallbackHandler):
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kw: Any
    ) -> None:
        self.ids.append(str(run_id))


def test_rag_chain_links_documents_to_the_llm_run(psm: PSM) -> None:
    seed(psm)
    handler, runs = PSMFeedbackCallbackHandler(psm), RunIds()
    retriever = PSMRetriever(psm=psm, user_id="alice", k=2, session_id="rag", feedback=handler)
    prompt = ChatPromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")

    def join(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    chain = {"context": retriever | join, "question": RunnablePassthrough()} | prompt | FakeListChatModel(responses=["Lisbon."])
    assert chain.invoke("Where does Alice live?", config={"callbacks": [handler, runs]}).content == "Lisbon."
    [run_id] = runs.ids
    [(rid, _key)] = psm.feedback_log.retrievals_for_run(run_id)
    surfaced = [psm.for_user("alice").get(i).text for i in psm.feedback_log.surfaced_ids(rid)]
    assert len(surfaced) == 2 and ALICE[0] in surfaced

"""PSMRetriever: a ``BaseRetriever`` over one user's memories, returning ``Document``s.

Each document's ``page_content`` is the memory text, its ``id`` the memory id, and its metadata
carries tier, kind, role, strength, confidence, provenance, score, similarity, status and times.
``page_content`` is the raw stored text: put documents into a prompt with :func:`format_documents`
(quoted data in a delimited block, as the other adapters do), not by joining their texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from langchain_psm._common import default_psm
from langchain_psm.callbacks import FeedbackTracker
from psm_core import PSM, RecallResult, ScoredMemory, UserMemory
from psm_core.errors import InvalidInputError
from psm_core.recall import DEFAULT_HEADER
from psm_core.render import quote, render_block, render_line
from psm_core.text import validate_user_id
from psm_core.types import Status, Tier

__all__ = ["SEARCH_KWARGS", "PSMRetriever", "format_documents", "memory_to_document"]


def memory_to_document(memory: ScoredMemory) -> Document:
    """A LangChain ``Document`` for a recalled memory (text, id and its PSM metadata)."""
    r = memory.record
    meta: dict[str, Any] = {
        "id": r.id,
        "tier": r.tier.value,
        "kind": r.kind.value,
        "role": r.role,
        "strength": r.strength,
        "confidence": r.confidence,
        "provenance": list(r.provenance),
        "score": memory.score,
        "similarity": memory.similarity,
        "status": r.status.value,
        "observed_at": r.observed_at.isoformat(),
        "session_id": r.session_id,
        "valid_to": r.valid_to.isoformat() if r.valid_to is not None else None,
    }
    return Document(page_content=r.text, metadata=meta, id=r.id)


def format_documents(documents: Sequence[Document], header: str = DEFAULT_HEADER) -> str:
    """Documents as a prompt block of quoted data, like ``RecallResult.format_context`` ("" when there are none).

    A PSM memory's line is rendered again from its document (date, role, quoted text, status note); any
    other document is its quoted ``page_content``. Usable as an LCEL step: ``retriever | format_documents``.
    """
    lines = [_line(doc) for doc in documents]
    return render_block(header, lines) if lines else ""


def _line(doc: Document) -> str:
    meta = doc.metadata
    try:
        valid_to = meta.get("valid_to")
        return render_line(
            doc.page_content,
            when=datetime.fromisoformat(meta["observed_at"]),
            role=str(meta["role"]),
            tier=Tier(meta["tier"]),
            status=Status(meta["status"]),
            valid_to=datetime.fromisoformat(valid_to) if valid_to else None,
        )
    except (KeyError, TypeError, ValueError):  # not a document of PSMRetriever
        return f"- {quote(doc.page_content)}"


SEARCH_KWARGS = ("include_superseded", "k", "tiers", "token_budget")
"""Keys of ``search_kwargs`` (as LangChain's vector-store retrievers take them): ``recall`` arguments."""


class PSMRetriever(BaseRetriever):
    """Recall ``k`` memories of ``user_id`` for a query (``invoke(query, k=3)`` overrides ``k`` per call).

    ``tiers`` defaults to episodic, semantic and archival; ``token_budget`` caps the rendered size.
    ``search_kwargs`` (``{"k": 1}``, as LangChain's vector-store retrievers take it) sets ``k``, ``tiers``,
    ``token_budget`` or ``include_superseded`` too, over the fields of the same name; a ``k`` passed to
    ``invoke`` wins over both. With ``feedback`` (a PSMFeedbackCallbackHandler) the documents' memories are
    linked to the LLM run whose prompt receives them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    psm: PSM = Field(default_factory=default_psm, exclude=True)
    user_id: str
    k: int = Field(default=4, ge=1)
    tiers: list[str] | None = None
    token_budget: int | None = Field(default=None, ge=1)
    session_id: str | None = None
    include_superseded: bool = False
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    feedback: FeedbackTracker | None = Field(default=None, exclude=True)

    def __init__(self, **data: Any) -> None:
        validate_user_id(data.get("user_id"))  # a PSM error, not a pydantic one
        unknown = set(data.get("search_kwargs") or {}) - set(SEARCH_KWARGS)
        if unknown:
            raise InvalidInputError(f"search_kwargs takes {list(SEARCH_KWARGS)}, not {sorted(unknown)}")
        super().__init__(**data)

    def _recall_kwargs(self, k: int | None) -> dict[str, Any]:
        """``recall``'s arguments: the fields, then ``search_kwargs`` over them, then ``k`` of the call."""
        kwargs: dict[str, Any] = {
            "k": self.k,
            "tiers": self.tiers,
            "token_budget": self.token_budget,
            "include_superseded": self.include_superseded,
        }
        kwargs.update(self.search_kwargs)
        if k is not None:
            kwargs["k"] = k
        return kwargs

    @property
    def user_memory(self) -> UserMemory:
        return self.psm.for_user(self.user_id)

    def _documents(self, result: RecallResult) -> list[Document]:
        if self.feedback is not None:
            self.feedback.expect(self.user_id, result, session_id=self.session_id)
        return [memory_to_document(m) for m in result.memories]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return self._documents(self.user_memory.recall(query, **self._recall_kwargs(k)))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return self._documents(await self.user_memory.arecall(query, **self._recall_kwargs(k)))

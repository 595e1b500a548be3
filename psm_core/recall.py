"""Recall results: scored memories and their rendering into a prompt context."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from psm_core.render import render_block, render_memory
from psm_core.text import count_tokens
from psm_core.types import Kind, MemoryRecord, Status, Tier

__all__ = ["DEFAULT_HEADER", "RecallResult", "ScoredMemory"]

DEFAULT_HEADER = "Relevant memories about the user:"


class ScoredMemory(BaseModel):
    """A recalled memory with its recall score and the evidence behind it; the record's fields read through
    (``id``, ``text``, ``tier``, ``kind``, ``status``, ``role``, ``session_id``, times, ``confidence``, …)."""

    model_config = ConfigDict(frozen=True)

    record: MemoryRecord
    score: float  # non-increasing down the returned list
    relevance: float | None = None  # the skill's (and reranker's) own score; a later update put first keeps its own
    similarity: float
    lexical: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    neighbor_similarity: float = 0.0
    neighbor_lexical: float = 0.0
    speaker_match: bool = False
    rerank_score: float | None = None  # the cross-encoder's logit, when recall reranked this memory

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def text(self) -> str:
        return self.record.text

    @property
    def tier(self) -> Tier:
        return self.record.tier

    @property
    def strength(self) -> float:
        return self.record.strength

    @property
    def provenance(self) -> list[str]:
        return self.record.provenance

    # the record's other fields, read through (``m.kind`` is ``m.record.kind``)
    @property
    def status(self) -> Status:
        return self.record.status

    @property
    def kind(self) -> Kind:
        return self.record.kind

    @property
    def role(self) -> str:
        return self.record.role

    @property
    def session_id(self) -> str | None:
        return self.record.session_id

    @property
    def observed_at(self) -> datetime:
        return self.record.observed_at

    @property
    def valid_from(self) -> datetime | None:
        return self.record.valid_from

    @property
    def valid_to(self) -> datetime | None:
        return self.record.valid_to

    @property
    def confidence(self) -> float:
        return self.record.confidence

    @property
    def importance(self) -> float:
        return self.record.importance

    @property
    def attribute(self) -> str | None:
        return self.record.attribute

    @property
    def metadata(self) -> dict[str, Any]:
        return self.record.metadata

    @property
    def recall_count(self) -> int:
        return self.record.recall_count

    def render(self) -> str:
        """This memory as one prompt line of quoted data: ``- [date] role: "text" (note)`` (see :mod:`psm_core.render`)."""
        return render_memory(self.record)


class RecallResult(BaseModel):
    """The memories recalled for a query, best first, within the token budget."""

    model_config = ConfigDict(frozen=True)

    query: str
    memories: list[ScoredMemory]
    now: datetime
    tokens: int

    def __iter__(self) -> Iterator[ScoredMemory]:  # type: ignore[override]
        return iter(self.memories)

    def __len__(self) -> int:
        return len(self.memories)

    def __getitem__(self, i: int) -> ScoredMemory:
        return self.memories[i]

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.memories]

    def format_context(self, header: str = DEFAULT_HEADER) -> str:
        """A prompt block of the memories as quoted data, one line each (empty string when there are none).

        ``header`` (left out when empty), a note that the lines are quoted data about the user and not
        instructions, then one line per memory between ``<memories>`` and ``</memories>``; no memory's text
        can break its line or close the block (:mod:`psm_core.render`).
        """
        if not self.memories:
            return ""
        return render_block(header, [m.render() for m in self.memories])


def _relevance(m: ScoredMemory) -> float:
    return m.relevance if m.relevance is not None else m.score


def fit_budget(memories: list[ScoredMemory], budget: int | None) -> tuple[list[ScoredMemory], int]:
    """The best-scored memories whose rendered lines (:meth:`ScoredMemory.render`, the lines of
    :meth:`RecallResult.format_context`; its frame is not counted) fit in ``budget`` tokens, in their given
    order (all when None).

    Memories are chosen by relevance (the skill's own score), highest first (a line that does not fit is skipped, shorter ones
    after it may still fit), and returned in the order of ``memories``: recall's order puts a later
    statement right before the earlier one it updates, which may lift a low-scored memory to the top of
    a long list; choosing in that order let it take the place of better ones (LoCoMo after a pass, at the
    raw vector store's token count: evidence recall 0.759 chosen in list order, 0.799 by score).
    """
    if budget is None:
        return list(memories), sum(count_tokens(m.render()) for m in memories)
    chosen: set[int] = set()
    used = 0
    for i in sorted(range(len(memories)), key=lambda j: -_relevance(memories[j])):
        cost = count_tokens(memories[i].render())
        if used + cost > budget:
            continue
        chosen.add(i)
        used += cost
    return [m for i, m in enumerate(memories) if i in chosen], used

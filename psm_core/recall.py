"""Recall results: scored memories and their rendering into a prompt context."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from psm_core.text import count_tokens
from psm_core.types import MemoryRecord, Status, Tier

__all__ = ["RecallResult", "ScoredMemory"]


class ScoredMemory(BaseModel):
    """A recalled memory with its recall score and the evidence behind it."""

    model_config = ConfigDict(frozen=True)

    record: MemoryRecord
    score: float
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

    def render(self) -> str:
        r = self.record
        when = r.observed_at.strftime("%Y-%m-%d")
        generic = r.role.lower() in ("user", "assistant", "system", "human", "ai")
        who = f"{r.role}: " if r.role and (r.tier is not Tier.SEMANTIC or not generic) else ""
        note = ""
        if r.status is Status.SUPERSEDED and r.valid_to is not None:
            note = f" (no longer true since {r.valid_to.strftime('%Y-%m-%d')})"
        elif r.status is Status.FLAGGED:
            note = " (disputed)"
        return f"- [{when}] {who}{r.text}{note}"


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

    def format_context(self, header: str = "Relevant memories about the user:") -> str:
        """A prompt block listing the memories (empty string when there are none)."""
        if not self.memories:
            return ""
        return "\n".join([header, *(m.render() for m in self.memories)])


def fit_budget(memories: list[ScoredMemory], budget: int | None) -> tuple[list[ScoredMemory], int]:
    """The best-scored memories whose rendered lines fit in ``budget`` tokens, in their given order (all
    when None).

    Memories are chosen by score, highest first (a line that does not fit is skipped, shorter ones
    after it may still fit), and returned in the order of ``memories``: recall's order puts a later
    statement right before the earlier one it updates, which may lift a low-scored memory to the top of
    a long list; choosing in that order let it take the place of better ones (LoCoMo after a pass, at the
    raw vector store's token count: evidence recall 0.759 chosen in list order, 0.799 by score).
    """
    if budget is None:
        return list(memories), sum(count_tokens(m.render()) for m in memories)
    chosen: set[int] = set()
    used = 0
    for i in sorted(range(len(memories)), key=lambda j: -memories[j].score):
        cost = count_tokens(memories[i].render())
        if used + cost > budget:
            continue
        chosen.add(i)
        used += cost
    return [m for i, m in enumerate(memories) if i in chosen], used

"""The memory-skill interface: the six decisions a PSM makes about a user's memories.

```
MemorySkill (abstract)
├── BaselinePolicy   documented heuristics (importance gate, Generative-Agents recall score)
└── (PSM-mini, PSM-LM: trained skills, same interface)
```
Operations, each with a batched form: ``gate`` (keep this event? kind, emotional weight,
confidence), ``interfere`` (relation of a new statement to an existing one), ``weigh`` (recall
scores for candidates of a query), ``decay`` (decay rate per day), ``extract_patterns`` (episodes →
semantic patterns with provenance), ``is_correction`` (does the user's turn correct the answer?).
Recall also asks ``query_vector`` where to look for a query (the identity unless a skill learned better).
Facts from single statements ask ``read_attributes`` (which personal attribute a statement is about,
:mod:`psm_core.attributes`) and ``relate_batch`` (how a new statement relates to an earlier one of the
same speaker: duplicate, update, contradiction, complement, unrelated); both have rule-based defaults
here that a trained skill replaces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from psm_core.types import Event, Kind, MemoryRecord

__all__ = [
    "AttributeReading",
    "Candidate",
    "Correction",
    "DelegatingSkill",
    "GateDecision",
    "Interference",
    "MemorySkill",
    "Pattern",
    "Relation",
]


class GateDecision(BaseModel):
    """Whether to keep an event, and how to file it."""

    model_config = ConfigDict(frozen=True)

    keep: bool
    kind: Kind = Kind.FACT
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    emotional_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


class Relation(str, Enum):
    """How a new statement relates to an existing memory."""

    UNRELATED = "unrelated"
    DUPLICATE = "duplicate"
    UPDATE = "update"
    CONTRADICTION = "contradiction"
    COMPLEMENT = "complement"


class Interference(BaseModel):
    model_config = ConfigDict(frozen=True)

    relation: Relation
    probability: float = Field(ge=0.0, le=1.0)


class Pattern(BaseModel):
    """A semantic statement distilled from episodes, with the episodes it covers."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1)
    kind: Kind = Kind.FACT
    confidence: float = Field(ge=0.0, le=1.0)
    episode_ids: list[str] = Field(min_length=1)


class AttributeReading(BaseModel):
    """Which attribute of the taxonomy (:mod:`psm_core.attributes`) a statement is about; ``none`` when it is
    not a personal statement."""

    model_config = ConfigDict(frozen=True)

    attribute: str
    probability: float = Field(ge=0.0, le=1.0)
    fact: str | None = None  # the skill's own wording of the fact (an LM writes it); None: the statement, tidied


class Correction(BaseModel):
    model_config = ConfigDict(frozen=True)

    is_correction: bool
    probability: float = Field(ge=0.0, le=1.0)


@dataclass
class Candidate:
    """A memory proposed for a query, with the content-free evidence for weighting it.

    ``similarity`` is the cosine between query and memory; ``lexical`` the BM25 score divided by
    the best BM25 score of this query (0 when absent); ranks are 0-based, None when absent;
    ``neighbor_similarity`` / ``neighbor_lexical`` are the best of those over the turns just before
    and after this one in its session (evidence often spans adjacent turns); ``speaker_match`` is
    whether the query names this memory's speaker; ``session_relevance`` is the best similarity/BM25
    blend of another candidate from the same session (a session that matches elsewhere is relevant);
    ``temporal_match`` is 1 when the memory was observed inside the time the query names ("in May
    2023", "last week"), fading outside it, and 0 when the query names no time;
    ``sentence_similarity`` is the best cosine between the query and one of the memory's first-person
    sentences, None until a consolidation pass has embedded them.
    """

    record: MemoryRecord
    similarity: float = 0.0
    lexical: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None
    neighbor_similarity: float = 0.0
    neighbor_lexical: float = 0.0
    speaker_match: bool = False
    session_relevance: float = 0.0
    temporal_match: float = 0.0
    sentence_similarity: float | None = None
    features: dict[str, float] = field(default_factory=dict)


class MemorySkill(ABC):
    """The decisions of a memory skill. Implementations must be deterministic for equal inputs."""

    name: str = "skill"

    @abstractmethod
    def gate(self, event: Event, context: Sequence[Event] = (), vector: NDArray[np.float32] | None = None) -> GateDecision:
        """Decide whether ``event`` is worth remembering, given recent ``context`` turns.

        ``vector`` is the event's retrieval vector: the embedding of the turn (prefixed by a named
        speaker) combined with that of the preceding turn of its session (``psm_core.index.contextual_vectors``).
        """

    def gate_batch(
        self,
        events: Sequence[Event],
        vectors: NDArray[np.float32] | None = None,
        contexts: Sequence[Sequence[Event]] | None = None,
    ) -> list[GateDecision]:
        return [
            self.gate(e, contexts[i] if contexts else (), None if vectors is None else vectors[i]) for i, e in enumerate(events)
        ]

    @abstractmethod
    def interfere(self, new: str, existing: str, similarity: float | None = None) -> Interference:
        """How ``new`` relates to ``existing`` (duplicate, update, contradiction, complement, unrelated)."""

    def interfere_batch(
        self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float] | None = None
    ) -> list[Interference]:
        return [self.interfere(n, e, None if similarities is None else similarities[i]) for i, (n, e) in enumerate(pairs)]

    def query_vector(self, vector: NDArray[np.float32]) -> NDArray[np.float32]:
        """Where recall looks for a query: its embedding ``vector`` (L2-normalized), mapped to the vector
        the memories are searched and compared with. The identity here; a trained skill may move a
        question towards the way answers are phrased (PSM-mini's query adapter)."""
        return vector

    @abstractmethod
    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        """Recall scores for ``candidates`` of ``query`` at user time ``now`` (higher is better)."""

    @abstractmethod
    def decay(self, record: MemoryRecord) -> float:
        """Decay rate per day for ``record`` (strength halves every ln 2 / rate days)."""

    def decay_batch(self, records: Sequence[MemoryRecord]) -> list[float]:
        return [self.decay(r) for r in records]

    @abstractmethod
    def extract_patterns(self, episodes: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> list[Pattern]:
        """Semantic patterns supported by ``episodes`` (``vectors`` are their embeddings, row-aligned)."""

    @abstractmethod
    def is_correction(self, user_turn: str, previous_answer: str) -> Correction:
        """Does ``user_turn`` correct ``previous_answer``? The strongest negative feedback signal."""

    def is_correction_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Correction]:
        return [self.is_correction(u, a) for u, a in pairs]

    def read_attributes(self, texts: Sequence[str], vectors: NDArray[np.float32] | None = None) -> list[AttributeReading]:
        """The attribute each statement is about (``vectors``: the statements' plain embeddings, when known).
        Default: the taxonomy's cue words (:func:`psm_core.statements.cue_attribute`)."""
        from psm_core.statements import cue_attribute

        return [AttributeReading(attribute=a, probability=p) for a, p in map(cue_attribute, texts)]

    def relate_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Interference]:
        """How each new statement relates to an earlier statement of the same speaker (``(new, old)``
        pairs of plain statements). Default: :meth:`interfere_batch`."""
        return self.interfere_batch(pairs)


class DelegatingSkill(MemorySkill):
    """A skill that passes every operation (batched forms included) to ``base``; wrappers override
    only what they change (a utility policy on ``weigh``/``decay``, a recorder of ``weigh``)."""

    def __init__(self, base: MemorySkill) -> None:
        self.base = base
        self.name = base.name

    def gate(self, event: Event, context: Sequence[Event] = (), vector: NDArray[np.float32] | None = None) -> GateDecision:
        return self.base.gate(event, context, vector)

    def gate_batch(
        self,
        events: Sequence[Event],
        vectors: NDArray[np.float32] | None = None,
        contexts: Sequence[Sequence[Event]] | None = None,
    ) -> list[GateDecision]:
        return self.base.gate_batch(events, vectors, contexts)

    def interfere(self, new: str, existing: str, similarity: float | None = None) -> Interference:
        return self.base.interfere(new, existing, similarity)

    def interfere_batch(
        self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float] | None = None
    ) -> list[Interference]:
        return self.base.interfere_batch(pairs, similarities)

    def query_vector(self, vector: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.base.query_vector(vector)

    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        return self.base.weigh(query, candidates, now)

    def decay(self, record: MemoryRecord) -> float:
        return self.base.decay(record)

    def decay_batch(self, records: Sequence[MemoryRecord]) -> list[float]:
        return self.base.decay_batch(records)

    def extract_patterns(self, episodes: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> list[Pattern]:
        return self.base.extract_patterns(episodes, vectors)

    def is_correction(self, user_turn: str, previous_answer: str) -> Correction:
        return self.base.is_correction(user_turn, previous_answer)

    def is_correction_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Correction]:
        return self.base.is_correction_batch(pairs)

    def read_attributes(self, texts: Sequence[str], vectors: NDArray[np.float32] | None = None) -> list[AttributeReading]:
        return self.base.read_attributes(texts, vectors)

    def relate_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Interference]:
        return self.base.relate_batch(pairs)

"""Settings of the sleep-time consolidation pass, the job queue and the background worker."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from psm_core.types import Kind

__all__ = ["ConsolidationConfig"]


class ConsolidationConfig(BaseModel):
    """Thresholds and schedules of consolidation (frozen; pass one to :class:`Consolidator`).

    | field | default | meaning |
    |---|---|---|
    | min_confidence | 0.5 | patterns below this confidence are not turned into semantic facts |
    | duplicate_threshold | 0.5 | interference probability at which a pattern merges into an existing fact |
    | update_threshold | 0.55 | probability at which an update supersedes the older fact |
    | contradiction_threshold | 0.55 | probability at which a contradiction is flagged for review |
    | split_threshold | 0.55 | probability at which a pattern whose newest episode updates its statement is split in time |
    | pattern_cohesion | 0.75 | statement cosine every member of a pattern needs with its canonical statement (others are regrouped) |
    | max_cover | 16 | most episodes one semantic fact covers (the closest to its statement) |
    | fact_kinds | all but chitchat | kinds a pattern may have to become a fact (a group mostly of chit-chat is chit-chat) |
    | supersede_kinds | fact, preference, relation | kinds of statements that can be superseded or flagged (states; events and plans never) |
    | supersede_min_similarity | 0.65 | statement cosine two statements need to supersede or contradict each other (about the same thing) |
    | conflict_candidates | 5 | existing facts compared with each new pattern (nearest by cosine) |
    | conflict_min_similarity | 0.5 | facts less similar than this are never compared |
    | link_candidates | 10 | earlier episodes (same speaker, other sessions, nearest) each new episode may be linked to as restating or updating them (0: no links) |
    | link_min_similarity | 0.6 | cosine two first-person sentences of the two episodes need (about the same thing) |
    | link_threshold | 0.5 | probability at which the skill's "unrelated" verdict on those sentences vetoes the link (recall puts a linked later episode first) |
    | context_episodes | 1000 | already-seen episodic records (newest first) re-read as context for new ones |
    | pattern_vectors | text | vectors the skill compares: ``text`` (embeddings of the statements, cached) or ``stored`` (retrieval vectors, with speaker and preceding turn) |
    | max_batch | 2000 | episodes given to ``extract_patterns`` at once (time-ordered chunks) |
    | archive_strength | None | also archive uncovered episodes whose strength at user time fell below this (None: never) |
    | reinforce_gain | 0.1 | strength gained per recall since the last pass: s += gain * (1 - s) |
    | helpful_gain | 0.2 | strength gained per unit of positive feedback |
    | negative_gain | 0.5 | strength lost per unit of negative feedback: s *= 1 + gain * value (value < 0) |
    | correction_confidence | 0.5 | a correction (value -1) multiplies confidence by this |
    | min_strength | 0.01 | floor of strength after negative feedback |
    | lease_seconds | 300 | job lease; an expired lease is delivered again (at least once) |
    | max_attempts | 5 | deliveries of a job before it is marked failed |
    | backoff_seconds / backoff_max_seconds | 5 / 600 | exponential backoff between attempts (tenacity) |
    | write_retries | 8 | optimistic-concurrency retries of a write batch before giving up |
    | idle_minutes | 15 | a loaded user with unconsolidated episodes and no new ones for this long is queued |
    | poll_seconds | 5 | how often the worker looks for jobs and idle users |
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    duplicate_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    update_threshold: float = Field(default=0.55, ge=0.0, le=1.0)
    contradiction_threshold: float = Field(default=0.55, ge=0.0, le=1.0)
    split_threshold: float = Field(default=0.55, ge=0.0, le=1.0)
    pattern_cohesion: float = Field(default=0.75, ge=-1.0, le=1.0)
    max_cover: int = Field(default=16, ge=2)
    fact_kinds: tuple[Kind, ...] = (Kind.FACT, Kind.PREFERENCE, Kind.EVENT, Kind.PLAN, Kind.RELATION)
    supersede_kinds: tuple[Kind, ...] = (Kind.FACT, Kind.PREFERENCE, Kind.RELATION)
    supersede_min_similarity: float = Field(default=0.65, ge=-1.0, le=1.0)
    conflict_candidates: int = Field(default=5, ge=1)
    conflict_min_similarity: float = Field(default=0.5, ge=-1.0, le=1.0)
    link_candidates: int = Field(default=10, ge=0)
    link_min_similarity: float = Field(default=0.6, ge=-1.0, le=1.0)
    link_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    context_episodes: int = Field(default=1000, ge=0)
    pattern_vectors: Literal["text", "stored"] = "text"
    max_batch: int = Field(default=2000, ge=2)
    archive_strength: float | None = Field(default=None, ge=0.0, le=1.0)
    reinforce_gain: float = Field(default=0.1, ge=0.0, le=1.0)
    helpful_gain: float = Field(default=0.2, ge=0.0, le=1.0)
    negative_gain: float = Field(default=0.5, ge=0.0, le=1.0)
    correction_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    min_strength: float = Field(default=0.01, ge=0.0, le=1.0)
    lease_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=5.0, ge=0)
    backoff_max_seconds: float = Field(default=600.0, ge=0)
    write_retries: int = Field(default=8, ge=1)
    idle_minutes: float = Field(default=15.0, ge=0)
    poll_seconds: float = Field(default=5.0, gt=0)

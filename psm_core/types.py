"""Records, tiers and kinds: the data model of a user's memory store.

```
Tier     sensory → working → episodic → semantic → archival
Kind     fact, preference, event, plan, relation, chitchat
Status   active, superseded, flagged, archived
Event          one observed conversation turn (input to ``observe``)
MemoryRecord   one stored memory with strength, decay, provenance, validity and version
```
All times are timezone-aware; naive datetimes are rejected rather than guessed.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Event",
    "Kind",
    "MemoryRecord",
    "PERSISTENT_TIERS",
    "Status",
    "Tier",
    "new_record_id",
    "utcnow",
]


class Tier(str, Enum):
    """Where a memory lives; lifespans grow from left to right."""

    SENSORY = "sensory"
    WORKING = "working"
    EPISODIC = "episodic"
    SEMANTIC = "semantic"
    ARCHIVAL = "archival"


PERSISTENT_TIERS: tuple[Tier, ...] = (Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL)


class Kind(str, Enum):
    """What a memory is about."""

    FACT = "fact"
    PREFERENCE = "preference"
    EVENT = "event"
    PLAN = "plan"
    RELATION = "relation"
    CHITCHAT = "chitchat"


class Status(str, Enum):
    """Lifecycle of a memory. Nothing is silently deleted: superseded facts keep provenance."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    FLAGGED = "flagged"
    ARCHIVED = "archived"


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)


def new_record_id() -> str:
    """A fresh random record id."""
    return uuid.uuid4().hex


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return value


class Event(BaseModel):
    """One observed turn of a conversation, before the relevance gate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    role: str = "user"
    session_id: str | None = None
    timestamp: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _tz(cls, v: datetime | None) -> datetime | None:
        return _aware(v, "timestamp")


class MemoryRecord(BaseModel):
    """One memory of one user, in one tier.

    ``strength`` is in [0, 1] at ``last_access`` and fades with ``decay_rate`` (per day, exponential);
    ``provenance`` lists the ids of the records this one was derived from (episodes for a semantic fact);
    ``valid_from``/``valid_to`` bound when a fact held (``valid_to`` is set when it is superseded);
    ``version`` increases on every write, for optimistic concurrency;
    ``context`` is the preceding turn of the session (speaker and text, truncated), used only to
    retrieve this turn better — it is not part of what the memory says;
    ``attribute`` is the personal attribute a fact is about (:mod:`psm_core.attributes`; None for episodes
    and facts without one);
    ``metadata`` belongs to the caller (JSON values, validated at the door); ``ledger`` is the library's
    own bookkeeping (:mod:`psm_core.ledger`), never written by callers.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=new_record_id, min_length=1)
    user_id: str = Field(min_length=1)
    tier: Tier = Tier.EPISODIC
    text: str
    kind: Kind = Kind.FACT
    role: str = "user"
    session_id: str | None = None
    context: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    observed_at: datetime = Field(default_factory=utcnow)
    last_access: datetime | None = None
    strength: float = Field(default=1.0, ge=0.0, le=1.0)
    decay_rate: float = Field(default=0.05, ge=0.0)
    recall_count: int = Field(default=0, ge=0)
    emotional_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    provenance: list[str] = Field(default_factory=list)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    status: Status = Status.ACTIVE
    version: int = Field(default=1, ge=1)
    attribute: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    ledger: dict[str, Any] = Field(default_factory=dict)

    @field_validator("created_at", "observed_at", "last_access", "valid_from", "valid_to")
    @classmethod
    def _tz(cls, v: datetime | None, info: Any) -> datetime | None:
        return _aware(v, info.field_name)

    @field_validator("strength", "decay_rate", "emotional_weight", "confidence", "importance")
    @classmethod
    def _finite(cls, v: float, info: Any) -> float:
        if not math.isfinite(v):
            raise ValueError(f"{info.field_name} must be a finite number")
        return v

    @model_validator(mode="after")
    def _interval(self) -> MemoryRecord:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    @property
    def half_life_days(self) -> float:
        """Days for strength to halve at this record's decay rate (inf when it does not decay)."""
        return math.inf if self.decay_rate == 0 else math.log(2) / self.decay_rate

    def strength_at(self, when: datetime) -> float:
        """Strength after exponential decay from the last access (or observation) to ``when``."""
        ref = self.last_access or self.observed_at
        days = max(0.0, (when - ref).total_seconds() / 86400.0)
        return self.strength * math.exp(-self.decay_rate * days)

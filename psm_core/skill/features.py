"""Content-free features of a recall candidate: the only thing shared weights may learn from.

Similarities, ranks, ages, strengths, counts, tiers, kinds, confidences — never text or embeddings.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from psm_core.skill.base import Candidate
from psm_core.types import Kind, Status, Tier

__all__ = ["FEATURE_NAMES", "candidate_features", "feature_matrix"]

_TIERS = (Tier.WORKING, Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL)
_KINDS = tuple(Kind)

FEATURE_NAMES: tuple[str, ...] = (
    "similarity",
    "lexical",
    "dense_rrf",
    "lexical_rrf",
    "neighbor_similarity",
    "neighbor_lexical",
    "speaker_match",
    "log_age_days",
    "log_since_access_days",
    "strength_now",
    "log_recall_count",
    "importance",
    "emotional_weight",
    "confidence",
    "superseded",
    "flagged",
    *(f"tier_{t.value}" for t in _TIERS),
    *(f"kind_{k.value}" for k in _KINDS),
)


def candidate_features(c: Candidate, now: datetime) -> dict[str, float]:
    """The named content-free features of one candidate at user time ``now``."""
    r = c.record
    age = max(0.0, (now - r.observed_at).total_seconds() / 86400)
    since = max(0.0, (now - (r.last_access or r.observed_at)).total_seconds() / 86400)
    f = {
        "similarity": float(c.similarity),
        "lexical": float(c.lexical),
        "dense_rrf": 0.0 if c.dense_rank is None else 10.0 / (10 + c.dense_rank),
        "lexical_rrf": 0.0 if c.lexical_rank is None else 10.0 / (10 + c.lexical_rank),
        "neighbor_similarity": float(c.neighbor_similarity),
        "neighbor_lexical": float(c.neighbor_lexical),
        "speaker_match": float(c.speaker_match),
        "log_age_days": math.log1p(age),
        "log_since_access_days": math.log1p(since),
        "strength_now": r.strength_at(now),
        "log_recall_count": math.log1p(r.recall_count),
        "importance": r.importance,
        "emotional_weight": r.emotional_weight,
        "confidence": r.confidence,
        "superseded": float(r.status is Status.SUPERSEDED),
        "flagged": float(r.status is Status.FLAGGED),
    }
    for t in _TIERS:
        f[f"tier_{t.value}"] = float(r.tier is t)
    for k in _KINDS:
        f[f"kind_{k.value}"] = float(r.kind is k)
    return f


def feature_matrix(cands: list[Candidate], now: datetime) -> NDArray[np.float32]:
    """Rows of :data:`FEATURE_NAMES` for ``cands``."""
    return np.array([[candidate_features(c, now)[n] for n in FEATURE_NAMES] for c in cands], dtype=np.float32).reshape(
        len(cands), len(FEATURE_NAMES)
    )

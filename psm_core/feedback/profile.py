"""A user's utility profile: which content-free traits their helpful memories had (the bandit context).

For every outcome on a surfaced memory, the profile accumulates ``value * (x - mean_x)`` for each
trait in :data:`PROFILE_TRAITS`, where ``mean_x`` is the trait's mean over the memories surfaced by
the same retrieval (a contrast: "the memories that helped were more recent than the others"). The
profile is the running sum divided by ``count + PROFILE_PRIOR`` (shrunk towards 0 for new users),
plus ``mass = count / (count + PROFILE_PRIOR)``: how much evidence the user has given (0 for a new
user; the policy acts on a user only in proportion to it).

It holds numbers only, lives in the feedback log next to the user's events and is erased with them;
the shared policy learns how to use it, never its values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["PROFILE_KEYS", "PROFILE_PRIOR", "PROFILE_TRAITS", "profile_increment", "profile_vector"]

PROFILE_TRAITS: tuple[str, ...] = (
    "similarity",
    "log_age_days",
    "log_since_access_days",
    "strength_now",
    "log_recall_count",
    "importance",
    "emotional_weight",
    "confidence",
    "tier_semantic",
    "kind_fact",
    "kind_preference",
    "kind_event",
    "kind_plan",
    "kind_relation",
    "kind_chitchat",
)
"""Features of :data:`psm_core.skill.features.FEATURE_NAMES` whose contrast with utility is tracked per user."""

PROFILE_KEYS: tuple[str, ...] = (*PROFILE_TRAITS, "mass")
"""The entries of a profile vector: the trait contrasts, then the evidence mass."""

PROFILE_PRIOR = 10.0
"""Pseudo-count of zero-valued outcomes: a profile needs a few outcomes before it departs from 0."""


def profile_increment(surfaced: Sequence[Sequence[float]], chosen: Sequence[int], value: float) -> NDArray[np.float64]:
    """The sum of ``value * (x_i - mean_x)`` over rows ``chosen`` of ``surfaced`` (trait rows of one retrieval)."""
    x = np.asarray(surfaced, dtype=np.float64).reshape(len(surfaced), len(PROFILE_TRAITS))
    if not len(x) or not chosen:
        return np.zeros(len(PROFILE_TRAITS))
    d = x[list(chosen)] - x.mean(axis=0)
    return np.asarray(value * d.sum(axis=0), dtype=np.float64)


def profile_vector(sums: Mapping[str, float] | Sequence[float], count: float) -> NDArray[np.float64]:
    """The profile (:data:`PROFILE_KEYS` order) from accumulated ``sums`` (by trait name or in trait order) and outcome ``count``."""
    if isinstance(sums, Mapping):
        s = np.array([float(sums.get(t, 0.0)) for t in PROFILE_TRAITS])
    else:
        s = np.asarray(sums, dtype=np.float64)
    n = max(0.0, float(count))
    return np.append(s / (n + PROFILE_PRIOR), n / (n + PROFILE_PRIOR))

"""The learned utility policy: a residual on any skill's recall scores and a multiplier on its decay.

```
UtilityPolicy   linear scorer over content-free inputs (numbers only; zeros = no change)
  rank inputs   FEATURE_NAMES x the user's evidence mass + trait x user-profile interactions
  decay inputs  query-free record features x mass + their profile interactions
PolicySkill     wraps any MemorySkill: weigh = base.weigh + residual, decay = base.decay * multiplier
```
The profile (``psm_core.feedback.profile``) is the per-user context; the weights are shared and
hold no user's content. Every input is scaled by the user's evidence (mass or profile), so a user
who has given no feedback gets exactly the base skill: a policy learned on one population never
changes rankings for a user it knows nothing about. Versions live under ``PSM_HOME/policy``
(``psm_core.feedback.versions``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.feedback.profile import PROFILE_KEYS, PROFILE_TRAITS
from psm_core.skill.base import Candidate, DelegatingSkill, MemorySkill
from psm_core.skill.features import FEATURE_NAMES, candidate_features
from psm_core.types import MemoryRecord

__all__ = [
    "DECAY_FEATURES",
    "DECAY_INPUTS",
    "PolicySkill",
    "RANK_INPUTS",
    "RELEVANCE_INPUTS",
    "UtilityPolicy",
    "centred",
    "decay_inputs",
    "profile_mass",
    "rank_inputs",
]

_QUERY_OR_TIME = {
    "similarity", "lexical", "dense_rrf", "lexical_rrf", "neighbor_similarity", "neighbor_lexical",
    "speaker_match", "log_age_days", "log_since_access_days", "strength_now",
}  # fmt: skip
DECAY_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in _QUERY_OR_TIME)
"""Record features the decay multiplier sees (nothing that depends on a query or on the clock)."""

_TRAIT_IDX = [FEATURE_NAMES.index(t) for t in PROFILE_TRAITS]
_DECAY_IDX = [FEATURE_NAMES.index(n) for n in DECAY_FEATURES]
_DECAY_TRAITS = [i for i, t in enumerate(PROFILE_TRAITS) if t in DECAY_FEATURES]

_MASS = PROFILE_KEYS.index("mass")
RANK_INPUTS: tuple[str, ...] = (*(f"{n}*mass" for n in FEATURE_NAMES), *(f"{t}*profile" for t in PROFILE_TRAITS))
DECAY_INPUTS: tuple[str, ...] = (*(f"{n}*mass" for n in DECAY_FEATURES), *(f"{PROFILE_TRAITS[i]}*profile" for i in _DECAY_TRAITS))
RELEVANCE_INPUTS: tuple[str, ...] = tuple(
    f"{n}*mass"
    for n in ("similarity", "lexical", "dense_rrf", "lexical_rrf", "neighbor_similarity", "neighbor_lexical", "speaker_match")
)
"""Rank inputs whose weights ``learn`` keeps non-negative: utility may re-weigh relevance, never invert it."""
DECAY_BOUND = math.log(2.0)
"""The decay multiplier stays within [1/2, 2] of the base schedule."""


def rank_inputs(features: NDArray[Any], profile: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rank inputs (rows of :data:`RANK_INPUTS`) from feature rows and the user's profile.

    ``profile`` is one vector (:data:`PROFILE_KEYS` order) or one row per feature row.
    """
    f = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    p = np.asarray(profile, dtype=np.float64)
    mass = p[..., _MASS : _MASS + 1]
    return np.hstack([f * mass, f[:, _TRAIT_IDX] * p[..., : len(PROFILE_TRAITS)]])


def decay_inputs(features: NDArray[Any], profile: NDArray[np.float64]) -> NDArray[np.float64]:
    """Decay inputs (rows of :data:`DECAY_INPUTS`) from feature rows and the profile (one vector or one row each)."""
    f = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    p = np.asarray(profile, dtype=np.float64)
    traits = f[:, [_TRAIT_IDX[i] for i in _DECAY_TRAITS]]
    return np.hstack([f[:, _DECAY_IDX] * p[..., _MASS : _MASS + 1], traits * p[..., _DECAY_TRAITS]])


def _zeros(n: int) -> NDArray[np.float64]:
    return np.zeros(n, dtype=np.float64)


def _ones(n: int) -> NDArray[np.float64]:
    return np.ones(n, dtype=np.float64)


@dataclass
class UtilityPolicy:
    """Shared weights: ``residual = B tanh(z . w / B)`` and ``decay x exp(-clip(z_d . g))`` with
    ``z = (x - mass * mean) / std``.

    ``B`` (``rank_bound``) is a trust region in units of the base skill's scores: the policy can move
    a memory by at most B, enough to re-rank memories of similar relevance, never enough to lift an
    unrelated one over clearly relevant ones.

    The mean is scaled by the user's evidence ``mass`` like the inputs themselves, so a user without
    feedback (mass 0, all inputs 0) gets residual 0 and multiplier 1 exactly, and a user with plenty
    of feedback gets the centred model that was trained. ``version`` is 0 for a policy that was never
    saved. All arrays are float64 numbers, nothing else.
    """

    rank_mean: NDArray[np.float64]
    rank_std: NDArray[np.float64]
    rank_w: NDArray[np.float64]
    decay_mean: NDArray[np.float64]
    decay_std: NDArray[np.float64]
    decay_w: NDArray[np.float64]
    rank_bound: NDArray[np.float64] = field(default_factory=lambda: np.ones(1))
    version: int = 0

    @classmethod
    def zeros(cls) -> UtilityPolicy:
        """The untrained policy: no residual, multiplier 1 (identical to the base skill)."""
        r, d = len(RANK_INPUTS), len(DECAY_INPUTS)
        return cls(_zeros(r), _ones(r), _zeros(r), _zeros(d), _ones(d), _zeros(d))

    def __post_init__(self) -> None:
        shapes = {
            "rank_mean": len(RANK_INPUTS), "rank_std": len(RANK_INPUTS), "rank_w": len(RANK_INPUTS),
            "decay_mean": len(DECAY_INPUTS), "decay_std": len(DECAY_INPUTS), "decay_w": len(DECAY_INPUTS),
            "rank_bound": 1,
        }  # fmt: skip
        for name, n in shapes.items():
            arr = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"policy array {name} must be {n} finite numbers, got shape {arr.shape}")
            setattr(self, name, arr)
        if not self.rank_bound[0] > 0:
            raise ValueError(f"policy rank_bound must be positive, got {self.rank_bound[0]}")
        self.rank_std = np.where(self.rank_std > 1e-9, self.rank_std, 1.0)
        self.decay_std = np.where(self.decay_std > 1e-9, self.decay_std, 1.0)

    @property
    def is_zero(self) -> bool:
        return not (np.any(self.rank_w) or np.any(self.decay_w))

    def arrays(self) -> dict[str, NDArray[np.float64]]:
        """The parameters by name (what the weights file holds)."""
        names = ("rank_mean", "rank_std", "rank_w", "rank_bound", "decay_mean", "decay_std", "decay_w")
        return {n: np.asarray(getattr(self, n), dtype=np.float64) for n in names}

    def with_version(self, version: int) -> UtilityPolicy:
        return UtilityPolicy(**self.arrays(), version=version)

    def residual(self, inputs: NDArray[np.float64], mass: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Score residuals for rows of :data:`RANK_INPUTS` of users with evidence ``mass`` (per row or one)."""
        z = centred(inputs, mass, self.rank_mean, self.rank_std)
        bound = float(self.rank_bound[0])
        return np.asarray(bound * np.tanh((z @ self.rank_w) / bound), dtype=np.float64)

    def decay_multiplier(self, inputs: NDArray[np.float64], mass: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Multipliers in [1/2, 2] of the base decay rate for rows of :data:`DECAY_INPUTS` (useful -> slower)."""
        z = centred(inputs, mass, self.decay_mean, self.decay_std)
        return np.asarray(np.exp(-np.clip(z @ self.decay_w, -DECAY_BOUND, DECAY_BOUND)), dtype=np.float64)


def centred(
    inputs: NDArray[np.float64], mass: NDArray[np.float64] | float, mean: NDArray[np.float64], std: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``(x - mass * mean) / std`` row by row (``mass`` per row or one for all)."""
    x = np.asarray(inputs, dtype=np.float64)
    m = np.asarray(mass, dtype=np.float64).reshape(-1, 1) if np.ndim(mass) else float(mass)
    return np.asarray((x - m * mean) / std, dtype=np.float64)


def profile_mass(profile: NDArray[np.float64]) -> NDArray[np.float64]:
    """The evidence mass of profile vectors (:data:`PROFILE_KEYS` order; one vector or rows)."""
    return np.asarray(np.asarray(profile, dtype=np.float64)[..., _MASS], dtype=np.float64)


ProfileFn = Callable[[str], Mapping[str, float]]


class PolicySkill(DelegatingSkill):
    """``base`` with a utility policy on top: every operation delegates, ``weigh`` and ``decay`` are adjusted.

    ``profile(user_id)`` gives the user's utility profile (``FeedbackLog.user_profile``); without it
    the profile is zero and only the shared, user-independent part of the policy applies.
    """

    def __init__(self, base: MemorySkill, policy: UtilityPolicy, profile: ProfileFn | None = None) -> None:
        super().__init__(base)
        self.policy = policy
        self._profile = profile
        self.name = f"{base.name}+policy-v{policy.version}"

    def __getattr__(self, item: str) -> Any:  # attributes specific to the base skill
        if item in ("base", "policy", "_profile"):
            raise AttributeError(item)
        return getattr(self.base, item)

    def __repr__(self) -> str:
        return f"PolicySkill(base={self.base.name!r}, version={self.policy.version})"

    def profile_of(self, user_id: str) -> NDArray[np.float64]:
        """The profile vector of ``user_id`` in :data:`PROFILE_KEYS` order (zeros without a source)."""
        if self._profile is None:
            return np.zeros(len(PROFILE_KEYS))
        p = self._profile(user_id)
        return np.array([float(p.get(t, 0.0)) for t in PROFILE_KEYS], dtype=np.float64)

    # -- adjusted -------------------------------------------------------------------------------
    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        scores = np.asarray(self.base.weigh(query, candidates, now), dtype=np.float64)
        if not len(candidates) or not np.any(self.policy.rank_w):
            return scores
        feats = np.array([[f[n] for n in FEATURE_NAMES] for f in (candidate_features(c, now) for c in candidates)])
        profile = self.profile_of(candidates[0].record.user_id)
        return scores + self.policy.residual(rank_inputs(feats, profile), float(profile_mass(profile)))

    def decay(self, record: MemoryRecord) -> float:
        return self.decay_batch([record])[0]

    def decay_batch(self, records: Sequence[MemoryRecord]) -> list[float]:
        rates = list(self.base.decay_batch(records))
        if not records or not np.any(self.policy.decay_w):
            return rates
        profiles: dict[str, NDArray[np.float64]] = {}
        rows, masses = [], []
        for r in records:
            if r.user_id not in profiles:
                profiles[r.user_id] = self.profile_of(r.user_id)
            f = candidate_features(Candidate(r), r.observed_at)
            row = np.array([[f[n] for n in FEATURE_NAMES]])
            rows.append(decay_inputs(row, profiles[r.user_id])[0])
            masses.append(float(profile_mass(profiles[r.user_id])))
        mult = self.policy.decay_multiplier(np.vstack(rows), np.array(masses))
        return [float(rate * m) for rate, m in zip(rates, mult)]

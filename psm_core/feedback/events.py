"""Feedback events as arrays for learning, and the ranking metric the safety gate uses.

```
Events            one row per surfaced memory with an outcome, grouped by retrieval (time order)
events_from_view  FeedbackLog.training_view() rows -> Events (base score recovered per policy version)
ndcg_per_event    NDCG@k of each retrieval with both helpful and unhelpful memories
```
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.feedback.policy import UtilityPolicy, decay_inputs, profile_mass, rank_inputs
from psm_core.feedback.profile import PROFILE_KEYS
from psm_core.feedback.versions import PolicyStore
from psm_core.skill.features import FEATURE_NAMES

__all__ = ["Events", "events_from_view", "ndcg", "ndcg_per_event"]

logger = logging.getLogger(__name__)


@dataclass
class Events:
    """Feedback events as arrays: one row per surfaced memory with an outcome, grouped by retrieval."""

    features: NDArray[np.float64]  # [n, FEATURE_NAMES]
    profile: NDArray[np.float64]  # [n, PROFILE_KEYS] (the user's profile when the retrieval was logged)
    base: NDArray[np.float64]  # [n] the base skill's score
    value: NDArray[np.float64]  # [n] outcome value in [-1, 1]
    group: NDArray[np.int64]  # [n] retrieval index 0..G-1, in time order
    dropped: int = 0  # retrievals ranked by a policy version that is no longer available
    version: NDArray[np.int64] | None = None  # [n] the policy version that ranked the row (0: the skill alone)

    @property
    def unpoliced(self) -> NDArray[np.bool_]:
        """Rows ranked by the skill alone."""
        return np.ones(len(self.base), dtype=bool) if self.version is None else np.asarray(self.version == 0)

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self.group) else 0

    def take(self, groups: NDArray[np.int64]) -> Events:
        """The events of retrieval indices ``groups`` (renumbered from 0, order kept)."""
        keep = np.isin(self.group, groups)
        _, new = np.unique(self.group[keep], return_inverse=True)
        version = None if self.version is None else self.version[keep]
        return Events(
            self.features[keep], self.profile[keep], self.base[keep], self.value[keep], new.astype(np.int64), 0, version
        )

    def rank_x(self) -> NDArray[np.float64]:
        return rank_inputs(self.features, self.profile)

    def decay_x(self) -> NDArray[np.float64]:
        return decay_inputs(self.features, self.profile)


def events_from_view(rows: Sequence[dict[str, float]], store: PolicyStore | None = None) -> Events:
    """Arrays from :meth:`FeedbackLog.training_view` rows (several outcomes of one memory are averaged)."""
    merged: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        key = (int(r["retrieval"]), int(r["rank"]))
        m = merged.get(key)
        if m is None:
            merged[key] = {"row": r, "values": [float(r["value"])]}
        else:
            m["values"].append(float(r["value"]))
    policies: dict[int, UtilityPolicy | None] = {0: None}
    feats, profs, base, value, group, versions = [], [], [], [], [], []
    gid: dict[int, int] = {}
    dropped: set[int] = set()
    for (ret, _rank), m in sorted(merged.items()):
        r = m["row"]
        v = int(r.get("policy_version", 0))
        if v not in policies:
            try:
                policies[v] = store.load(v) if store is not None else None
            except Exception as exc:  # noqa: BLE001 - any unusable version drops its events
                logger.warning("policy v%d unavailable (%s): its events are skipped", v, exc)
                policies[v] = None
        pol = policies[v]
        if v and pol is None:
            dropped.add(ret)
            continue
        f = np.array([float(r[n]) for n in FEATURE_NAMES])
        p = np.array([float(r.get(f"p_{t}", 0.0)) for t in PROFILE_KEYS])
        s = float(r["score"])
        versions.append(v)
        if pol is not None:
            s -= float(pol.residual(rank_inputs(f, p), float(profile_mass(p)))[0])
        feats.append(f)
        profs.append(p)
        base.append(s)
        value.append(float(np.mean(m["values"])))
        group.append(gid.setdefault(ret, len(gid)))
    return Events(
        np.array(feats).reshape(-1, len(FEATURE_NAMES)), np.array(profs).reshape(-1, len(PROFILE_KEYS)),
        np.array(base, dtype=np.float64), np.array(value, dtype=np.float64), np.array(group, dtype=np.int64),
        len(dropped), np.array(versions, dtype=np.int64),
    )  # fmt: skip


def ndcg(scores: NDArray[np.float64], value: NDArray[np.float64], group: NDArray[np.int64], k: int = 5) -> tuple[float, int]:
    """Mean NDCG@k over groups with both a helpful (value > 0) and an unhelpful memory; and their count."""
    per = ndcg_per_event(scores, value, group, k)
    return (float(per.mean()) if len(per) else 0.0), len(per)


def ndcg_per_event(
    scores: NDArray[np.float64], value: NDArray[np.float64], group: NDArray[np.int64], k: int = 5
) -> NDArray[np.float64]:
    """NDCG@k of each group with both a helpful (value > 0) and an unhelpful memory, in group order."""
    out: list[float] = []
    gain = np.clip(value, 0.0, None)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        gg = gain[idx]
        if not (gg > 0).any() or (gg > 0).all():
            continue
        order = np.argsort(-scores[idx], kind="stable")[:k]
        ideal = np.sort(gg)[::-1][:k]
        out.append(float((gg[order] * disc[: len(order)]).sum() / (ideal * disc[: len(ideal)]).sum()))
    return np.array(out, dtype=np.float64)

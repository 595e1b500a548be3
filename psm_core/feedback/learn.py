"""Learning the utility policy from the feedback log, behind a held-out safety gate.

```
events      training_view() rows grouped by retrieval (one event = one retrieval with outcomes)
base        the skill's own score: logged score minus the residual of the policy that ranked it
split       by time: the oldest (1 - holdout) events train, the newest are held out
rank head   pairwise logistic loss within each retrieval (better outcome above worse, weighted by
            the gap: helpful over corrected counts most) + a pointwise term weighted by |value|
            (so retrievals where everything was corrected teach too) + L2
decay head  logistic regression of "helpful" on query-free record features (useful -> slower decay)
scaling     ``z = (x - mass * mean) / std`` (see ``UtilityPolicy``): no feedback, no change
step        with a current policy, the fit starts from its weights (same scaling) and pays
            ``proximal`` x the squared distance to them: the data were collected under it
trust       the residual is bounded: B tanh(u / B), B = ``bound_factor`` x the mean score span of
            the logged top-k lists (it re-ranks near-ties, never lifts an unrelated memory over
            relevant ones); relevance weights stay non-negative
gate        NDCG@k of the held-out retrievals re-ranked by base + residual: the new weights replace
            the current ones only when at least ``min_holdout`` held-out events can judge them, the
            mean gain is >= ``margin`` and its one-sided 95% lower bound is > 0; the decay head only
            when it beats a constant predictor's held-out log-loss
```
Only numbers reach this module: features, ranks, scores, outcome values, profiles.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.feedback.events import Events, events_from_view, ndcg, ndcg_per_event
from psm_core.feedback.log import FeedbackLog
from psm_core.feedback.policy import (
    RANK_INPUTS,
    RELEVANCE_INPUTS,
    UtilityPolicy,
    centred,
    profile_mass,
)
from psm_core.feedback.versions import PolicyStore

__all__ = ["Events", "LearnReport", "events_from_view", "learn", "ndcg", "ndcg_per_event", "update_policy"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def _pairs(
    value: NDArray[np.float64], group: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    hi, lo, w = [], [], []
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        for a in idx:
            for b in idx:
                if value[a] > value[b]:
                    hi.append(a)
                    lo.append(b)
                    w.append(value[a] - value[b])
    return np.array(hi, dtype=np.int64), np.array(lo, dtype=np.int64), np.array(w, dtype=np.float64)


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def _adam(
    grad: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    n: int,
    iters: int,
    lr: float,
    progress: Progress | None,
    nonneg: NDArray[np.bool_] | None = None,
    start: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    theta = np.zeros(n) if start is None else np.array(start, dtype=np.float64)
    m, v = np.zeros(n), np.zeros(n)
    for i in range(1, iters + 1):
        g = grad(theta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta -= lr * (m / (1 - 0.9**i)) / (np.sqrt(v / (1 - 0.999**i)) + 1e-8)
        if nonneg is not None:
            theta[nonneg] = np.maximum(theta[nonneg], 0.0)
        if progress is not None and (i % 10 == 0 or i == iters):
            progress(i, iters)
    return theta


def _fit_rank(
    ev: Events,
    z: NDArray[np.float64],
    *,
    bound: float,
    l2: float,
    pointwise: float,
    iters: int,
    progress: Progress | None,
    anchor: NDArray[np.float64] | None = None,
    proximal: float = 0.0,
) -> NDArray[np.float64]:
    """Rank weights; with ``anchor`` (the current weights) the fit starts there and pays
    ``proximal * |w - anchor|^2``: a conservative step from the policy that produced the data."""
    hi, lo, pw = _pairs(ev.value, ev.group)
    y = np.where(ev.value > 0, 1.0, -1.0)
    c = np.abs(ev.value)
    pw_sum, c_sum = max(pw.sum(), 1e-9), max(c.sum(), 1e-9)
    d = z.shape[1]

    def grad(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        w, b = theta[:d], theta[d]
        t = np.tanh((z @ w) / bound)
        s = ev.base + bound * t
        gs = np.zeros_like(s)
        if len(hi):
            gp = -pw * _sigmoid(-(s[hi] - s[lo])) / pw_sum
            np.add.at(gs, hi, gp)
            np.add.at(gs, lo, -gp)
        gpt = -c * y * _sigmoid(-y * (s + b)) / c_sum * pointwise
        gs += gpt
        reg = 2 * l2 * w + (2 * proximal * (w - anchor) if anchor is not None else 0.0)
        return np.concatenate([z.T @ (gs * (1.0 - t * t)) + reg, [gpt.sum()]])

    nonneg = np.array([n in RELEVANCE_INPUTS for n in RANK_INPUTS] + [False])
    start = None if anchor is None else np.append(anchor, 0.0)
    return _adam(grad, d + 1, iters, 0.05, progress, nonneg, start)[:d]


def _trust_region(ev: Events, current: UtilityPolicy | None, factor: float) -> float:
    """``factor`` x the mean score span of top-k lists the skill ranked alone; the current bound when
    there are none (under a policy, the base scores of a served list spread wider by construction,
    which would widen the region at every update)."""
    spans, alone = [], []
    for g in range(ev.n_groups):
        idx = np.flatnonzero(ev.group == g)
        if len(idx) > 1:
            spans.append(float(np.ptp(ev.base[idx])))
            if ev.unpoliced[idx[0]]:
                alone.append(spans[-1])
    if alone:
        return max(1e-3, factor * float(np.mean(alone)))
    if current is not None and np.any(current.rank_w):
        return float(current.rank_bound[0])
    return max(1e-3, factor * float(np.mean(spans))) if spans else 1e-3


def _standardizer(x: NDArray[np.float64], mass: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``mean`` and ``std`` such that ``(x - mass * mean) / std`` is centred with unit variance over ``x``."""
    if not len(x):
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    mean = x.sum(axis=0) / max(float(mass.sum()), 1e-9)
    sd = (x - mass[:, None] * mean).std(axis=0)
    return mean, np.asarray(np.where(sd > 1e-9, sd, 1.0), dtype=np.float64)


def _logloss(logit: NDArray[np.float64], y: NDArray[np.float64], c: NDArray[np.float64]) -> float:
    return float((c * np.logaddexp(0.0, -y * logit)).sum() / max(c.sum(), 1e-9))


@dataclass
class LearnReport:
    """What one ``learn`` call found and decided."""

    accepted: bool
    reason: str
    policy: UtilityPolicy | None
    events: int = 0
    train_events: int = 0
    holdout_events: int = 0
    holdout_scored: int = 0
    dropped_events: int = 0
    ndcg_base: float = 0.0
    ndcg_current: float = 0.0
    ndcg_candidate: float = 0.0
    gain_lower: float = 0.0
    bound: float = 0.0
    current_worse_than_skill: bool = False
    decay_used: bool = False
    decay_logloss_constant: float = 0.0
    decay_logloss_candidate: float = 0.0
    seconds: float = 0.0
    version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The report as JSON-able numbers (what the manifest records)."""
        keys = ("accepted", "reason", "events", "train_events", "holdout_events", "holdout_scored", "dropped_events",
                "ndcg_base", "ndcg_current", "ndcg_candidate", "gain_lower", "bound", "current_worse_than_skill", "decay_used", "decay_logloss_constant",
                "decay_logloss_candidate", "seconds")  # fmt: skip
        out = {k: getattr(self, k) for k in keys}
        return {k: ((round(v, 6) if math.isfinite(v) else None) if isinstance(v, float) else v) for k, v in out.items()}


def learn(
    log: FeedbackLog | Events,
    current: UtilityPolicy | None = None,
    *,
    store: PolicyStore | None = None,
    since: datetime | None = None,
    min_events: int = 200,
    holdout: float = 0.2,
    margin: float = 0.005,
    min_holdout: int = 30,
    bound_factor: float = 2.0,
    proximal: float = 0.1,
    k: int = 5,
    l2: float = 1e-3,
    pointwise: float = 0.5,
    iters: int = 300,
    progress: Progress | None = None,
) -> LearnReport:
    """Train a candidate policy on the older events and keep it only if it beats ``current`` on the newer ones.

    ``log`` is the feedback log (or prepared :class:`Events`); ``store`` resolves the policy versions
    that ranked logged retrievals (their residual is removed to recover the base score); ``since``
    limits learning to events logged from then on.
    Returns a report whose ``policy`` is the candidate when accepted, else ``current``.
    """
    t0 = time.perf_counter()
    ev = log if isinstance(log, Events) else events_from_view(log.training_view(since), store)
    G = ev.n_groups
    rep = LearnReport(accepted=False, reason="", policy=current, events=G, dropped_events=ev.dropped)
    if G < max(2, min_events):
        rep.reason = f"{G} feedback events, fewer than the {min_events} required"
        return rep
    cut = int(round(G * (1.0 - holdout)))
    train, held = ev.take(np.arange(cut)), ev.take(np.arange(cut, G))
    rep.train_events, rep.holdout_events = cut, G - cut
    xt, xh = train.rank_x(), held.rank_x()
    mt, mh = profile_mass(train.profile), profile_mass(held.profile)
    bound = _trust_region(train, current, bound_factor)
    anchor = None
    if current is not None and np.any(current.rank_w):  # a conservative step from the current weights
        mean, std, anchor = current.rank_mean, current.rank_std, current.rank_w
    else:
        mean, std = _standardizer(xt, mt)
    zt_rank = centred(xt, mt, mean, std)
    w = _fit_rank(train, zt_rank, bound=bound, l2=l2, pointwise=pointwise, iters=iters, progress=progress,
                  anchor=anchor, proximal=proximal)  # fmt: skip
    cand = UtilityPolicy.zeros()
    cand.rank_mean, cand.rank_std, cand.rank_w, cand.rank_bound = mean, std, w, np.array([bound])
    # decay head: logistic regression of "helpful" on query-free record features
    dt, dh = train.decay_x(), held.decay_x()
    dmean, dstd = _standardizer(dt, mt)
    yt, yh = np.where(train.value > 0, 1.0, -1.0), np.where(held.value > 0, 1.0, -1.0)
    ct, ch = np.abs(train.value), np.abs(held.value)
    zt, zh = centred(dt, mt, dmean, dstd), centred(dh, mh, dmean, dstd)
    prior = float(np.log(max((ct * (yt > 0)).sum(), 1e-6) / max((ct * (yt < 0)).sum(), 1e-6)))

    def dgrad(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        logit = zt @ theta[:-1] + theta[-1]
        g = -ct * yt * _sigmoid(-yt * logit) / max(ct.sum(), 1e-9)
        return np.concatenate([zt.T @ g + 2 * l2 * theta[:-1], [g.sum()]])

    theta = _adam(dgrad, zt.shape[1] + 1, iters, 0.05, None)
    rep.decay_logloss_constant = _logloss(np.full(len(yh), prior), yh, ch)
    rep.decay_logloss_candidate = _logloss(zh @ theta[:-1] + theta[-1], yh, ch)
    if rep.decay_logloss_candidate < 0.99 * rep.decay_logloss_constant:
        cand.decay_mean, cand.decay_std, cand.decay_w = dmean, dstd, 0.5 * theta[:-1]
        rep.decay_used = True
    # the gate
    cur = current or UtilityPolicy.zeros()
    base_ev = ndcg_per_event(held.base, held.value, held.group, k)
    cur_ev = ndcg_per_event(held.base + cur.residual(xh, mh), held.value, held.group, k)
    cand_ev = ndcg_per_event(held.base + cand.residual(xh, mh), held.value, held.group, k)
    rep.holdout_scored = n = len(base_ev)
    rep.ndcg_base, rep.ndcg_current, rep.ndcg_candidate = (float(a.mean()) if n else 0.0 for a in (base_ev, cur_ev, cand_ev))
    gain = cand_ev - cur_ev
    rep.gain_lower = float(gain.mean() - 1.645 * gain.std(ddof=1) / np.sqrt(n)) if n > 1 else float("-inf")
    rep.bound = bound
    rep.seconds = round(time.perf_counter() - t0, 3)
    if n < max(1, min_holdout):
        rep.reason = (
            f"rejected: {n} held-out events with both helpful and unhelpful memories, fewer than the {min_holdout} required"
        )
    elif rep.ndcg_candidate >= rep.ndcg_current + margin and rep.gain_lower > 0:
        rep.accepted, rep.policy = True, cand
        rep.reason = f"held-out NDCG@{k} {rep.ndcg_current:.4f} -> {rep.ndcg_candidate:.4f} (95% lower bound of the gain {rep.gain_lower:+.4f})"
    else:
        rep.reason = (
            f"rejected: held-out NDCG@{k} {rep.ndcg_candidate:.4f} against the current {rep.ndcg_current:.4f} "
            f"(needs +{margin} and a 95% lower bound above 0; it is {rep.gain_lower:+.4f})"
        )
    if current is not None and n > 1 and np.any(current.rank_w):
        lag = cur_ev - base_ev
        upper = float(lag.mean() + 1.645 * lag.std(ddof=1) / np.sqrt(n))
        if upper < 0:
            rep.current_worse_than_skill = True
            rep.reason += (
                f"; warning: the active policy ranks held-out events worse than the skill alone "
                f"(NDCG@{k} {rep.ndcg_current:.4f} < {rep.ndcg_base:.4f}): consider `psm learn --rollback 0`"
            )
            logger.warning("the active utility policy underperforms the skill alone on held-out feedback")
    logger.info("learn: %d events, %s", G, rep.reason)
    return rep


def update_policy(log: FeedbackLog, store: PolicyStore, *, progress: Progress | None = None, **kwargs: Any) -> LearnReport:
    """``learn`` from ``log`` against the active policy of ``store``; save and activate the result if accepted."""
    current = store.active()
    rep = learn(log, current, store=store, progress=progress, **kwargs)
    if rep.accepted and rep.policy is not None:
        counts = log.counts()
        info = {"metrics": rep.metrics(), "log": {k: counts[k] for k in ("retrievals_with_outcomes", "outcomes", "users")}}
        rep.version = store.save(rep.policy, info)
        store.activate(rep.version)
        rep.policy = rep.policy.with_version(rep.version)
    else:
        rep.version = store.active_version() or None
    return rep

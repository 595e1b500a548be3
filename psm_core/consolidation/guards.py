"""Guards a pass applies to any skill's decisions before they change the store.

* **Cohesion.** A pattern must be a tight group of restatements: every member's statement vector
  is within ``pattern_cohesion`` (cosine) of the pattern's canonical statement, and one fact covers
  at most ``max_cover`` episodes (the closest). Members that fail are regrouped around their own
  medoids (:func:`cohesive_groups`); groups of two or more become patterns of their own, the rest
  stay plain episodes. This stops chains of pairwise links (a ~ b ~ c ~ …) from becoming one
  "fact" covering a whole conversation.
* **Kinds.** Patterns mostly of chit-chat distil nothing (``fact_kinds``). Only statements of a
  state (fact, preference, relation: ``supersede_kinds``) can supersede, be superseded or be
  flagged: an event or a plan that happened is never made untrue by a later one (:func:`may_conflict`).
* **Same thing.** A supersession or a conflict also needs the same speaker and the two statements
  to be about the same thing (cosine ≥ ``supersede_min_similarity``), besides the skill's probability.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.index import speaker_line
from psm_core.skill.base import Pattern
from psm_core.types import Kind, MemoryRecord

__all__ = ["Statement", "cohesive_groups", "group_kind", "may_conflict", "plain_statement", "validate_patterns"]


class Statement(Protocol):
    """What the guards read of a record or a planned fact."""

    @property
    def kind(self) -> Kind: ...

    @property
    def role(self) -> str: ...


def plain_statement(text: str, role: str) -> str:
    """``text`` without a leading ``"<speaker>: "`` (a record keeps its speaker in ``role``)."""
    prefix = speaker_line(role, "") if role else ""
    if prefix and text.startswith(prefix) and text[len(prefix) :].strip():
        return text[len(prefix) :]
    return text


def cohesive_groups(
    rows: Sequence[int],
    vectors: NDArray[np.float32],
    anchor: NDArray[np.float32] | None,
    cohesion: float,
    max_cover: int,
    min_support: int = 2,
) -> tuple[list[int], list[tuple[int, list[int]]]]:
    """Tight groups among ``rows`` (indices into the L2-normalized ``vectors``).

    Returns the rows within ``cohesion`` of ``anchor`` (closest first, at most ``max_cover``; empty
    when fewer than ``min_support``), then ``(medoid, members)`` groups found greedily among the
    rest: the row with the most rows within ``cohesion`` of it (ties: the higher mean similarity,
    then the earlier row) gathers them. Rows within reach of a group but beyond ``max_cover`` are
    left out, as are rows in no group."""
    left = list(dict.fromkeys(rows))
    main: list[int] = []
    if anchor is not None and left:
        sims = vectors[left] @ anchor
        close = [left[k] for k in np.argsort(-sims, kind="stable") if sims[k] >= cohesion]
        if len(close) >= min_support:
            main = close[:max_cover]
            left = [r for r in left if r not in set(close)]
    groups: list[tuple[int, list[int]]] = []
    while len(left) >= min_support:
        sub = vectors[left]
        sims = sub @ sub.T
        counts = (sims >= cohesion).sum(1)
        means = sims.mean(1)
        best = min(range(len(left)), key=lambda k: (-int(counts[k]), -float(means[k]), k))
        if counts[best] < min_support:
            break
        order = np.argsort(-sims[best], kind="stable")
        close = [left[k] for k in order if sims[best, k] >= cohesion]
        groups.append((left[best], close[:max_cover]))
        taken = set(close)
        left = [r for r in left if r not in taken]
    return main, groups


def group_kind(episodes: Sequence[MemoryRecord], rows: Sequence[int], proposed: Kind | None = None) -> Kind:
    """The kind of a group: chit-chat when most members are chit-chat, else ``proposed`` (the
    skill's) or the most common other kind (ties: the earliest member's)."""
    kinds = [episodes[r].kind for r in rows]
    chat = sum(k is Kind.CHITCHAT for k in kinds)
    if chat * 2 > len(kinds):
        return Kind.CHITCHAT
    if proposed is not None and proposed is not Kind.CHITCHAT:
        return proposed
    counts = Counter(k for k in kinds if k is not Kind.CHITCHAT)
    top = max(counts.values())
    return next(k for k in kinds if k is not Kind.CHITCHAT and counts[k] == top)


def validate_patterns(
    patterns: Sequence[Pattern],
    by_id: dict[str, int],
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    anchors: NDArray[np.float32],
    cfg: ConsolidationConfig,
) -> tuple[list[tuple[Pattern, int]], int]:
    """Cohesive patterns with their source episode (row), and how many patterns were changed.

    ``anchors`` are the statement vectors of the patterns' texts (row-aligned with ``patterns``).
    A pattern keeps its text when at least two members are close to it; its other members are
    regrouped (a regrouped pattern is stated by its medoid episode). Patterns whose kind is not in
    ``cfg.fact_kinds`` are dropped."""
    out: list[tuple[Pattern, int]] = []
    changed = 0
    for p, anchor in zip(patterns, anchors):
        rows = [by_id[i] for i in dict.fromkeys(p.episode_ids)]
        main, groups = cohesive_groups(rows, vectors, anchor, cfg.pattern_cohesion, cfg.max_cover)
        if len(main) != len(rows):
            changed += 1
        if main:
            kind = group_kind(episodes, main, p.kind)
            if kind in cfg.fact_kinds:
                exact = [r for r in main if plain_statement(p.text, episodes[r].role) == episodes[r].text]
                src = exact[0] if exact else main[0]
                out.append((p.model_copy(update={"kind": kind, "episode_ids": sorted(episodes[r].id for r in main)}), src))
        for medoid, members in groups:
            kind = group_kind(episodes, members)
            if kind in cfg.fact_kinds:
                ids = sorted(episodes[r].id for r in members)
                out.append((Pattern(text=episodes[medoid].text, kind=kind, confidence=p.confidence, episode_ids=ids), medoid))
    return out, changed


def may_conflict(
    old: MemoryRecord | Statement, new: MemoryRecord | Statement, similarity: float, cfg: ConsolidationConfig
) -> bool:
    """Whether statement ``new`` may supersede (or contradict) the earlier statement ``old`` whose
    statement vector has cosine ``similarity`` with it: both state something (a kind in
    ``cfg.supersede_kinds``: an event or a plan is never made untrue by a later one), the same
    speaker says both, and they are about the same thing (``cfg.supersede_min_similarity``)."""
    return (
        old.kind in cfg.supersede_kinds
        and new.kind in cfg.supersede_kinds
        and old.role == new.role
        and similarity >= cfg.supersede_min_similarity
    )

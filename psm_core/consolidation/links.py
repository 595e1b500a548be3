"""Update links: which later episodes update (or contradict) an earlier one.

A pass compares each new episode with the earlier episodes of the same speaker in other sessions
that are nearest to it (statement cosine at least ``link_min_similarity``, at most
``link_candidates`` of them) and asks the skill's interference whether it updates or contradicts
them. Where it does (probability at least ``link_threshold``), the earlier episode records the
later one in its ledger (``updated_by``). Nothing is superseded or hidden: a conversation turn
stays a true record of what was said, and one turn can hold several things. Recall uses the
links only to order: when both are surfaced, the later statement comes first
(:func:`psm_core.ordering.newer_first`), so the current value leads the prompt and the old one follows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.skill.base import MemorySkill, Relation
from psm_core.types import MemoryRecord

__all__ = ["find_update_links"]


def find_update_links(
    skill: MemorySkill,
    cfg: ConsolidationConfig,
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    new_ids: set[str],
) -> dict[str, list[str]]:
    """``{earlier id: sorted later ids}`` for the new episodes among ``episodes`` (time-ordered,
    row-aligned with the L2-normalized statement ``vectors``). Deterministic for a snapshot: rerunning
    finds the same links."""
    if cfg.link_candidates == 0 or not new_ids or len(episodes) < 2:
        return {}
    roles = np.array([e.role for e in episodes], dtype=object)
    sessions = np.array([e.session_id for e in episodes], dtype=object)
    pairs: list[tuple[int, int, float]] = []  # (later, earlier, cosine)
    for j, e in enumerate(episodes):
        if e.id not in new_ids or j == 0:
            continue
        sims = vectors[:j] @ vectors[j]
        # same speaker, another session (two turns without a session are never linked), close enough
        ok = (roles[:j] == e.role) & (sessions[:j] != e.session_id) & (sims >= cfg.link_min_similarity)
        rows = np.flatnonzero(ok)
        best = rows[np.argsort(-sims[rows], kind="stable")[: cfg.link_candidates]]
        pairs.extend((j, int(i), float(sims[i])) for i in best)
    if not pairs:
        return {}
    links: dict[str, set[str]] = {}
    for start in range(0, len(pairs), max(1, cfg.max_batch)):
        chunk = pairs[start : start + max(1, cfg.max_batch)]
        rels = skill.interfere_batch([(episodes[j].text, episodes[i].text) for j, i, _ in chunk], [s for *_, s in chunk])
        for (j, i, _), rel in zip(chunk, rels):
            if rel.relation in (Relation.UPDATE, Relation.CONTRADICTION) and rel.probability >= cfg.link_threshold:
                links.setdefault(episodes[i].id, set()).add(episodes[j].id)
    return {k: sorted(v) for k, v in sorted(links.items())}

"""Recall order between a statement and the later statements that update it.

The consolidation pass records, in an episode's ledger (``metadata["_psm"]["updated_by"]``), the
later episodes that update or contradict it (:mod:`psm_core.consolidation.links`). When recall
surfaces both, the later one is put first, so a prompt reads the current value before the old one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from psm_core.types import MemoryRecord

__all__ = ["SPREAD_DEPTH", "UPDATED_BY", "UPDATE_MARGIN", "newer_first", "updated_by"]

UPDATED_BY = "updated_by"
"""Ledger key (under ``metadata["_psm"]``) listing the ids of later records that update a record."""

_LEDGER = "_psm"


def updated_by(record: MemoryRecord) -> frozenset[str]:
    """Ids of the later records that update ``record`` (empty when none)."""
    led = record.metadata.get(_LEDGER)
    ids = led.get(UPDATED_BY) if isinstance(led, dict) else None
    return frozenset(str(i) for i in ids) if isinstance(ids, list) else frozenset()


UPDATE_MARGIN = 0.25
"""A later statement moves ahead of the one it updates only when its recall score is within this share
of the listed scores' spread below it: about as relevant to the query (a far less relevant update
stays where the skill ranked it)."""

SPREAD_DEPTH = 10
"""Recall measures that spread over at least this many listed memories, so that a short list (``k=3``)
is ordered as the head of a longer one: ``recall(q, k=3)`` lists the first three of ``recall(q, k=10)``."""


def newer_first(
    ids: Sequence[str],
    links: Mapping[str, frozenset[str]],
    scores: Sequence[float] | None = None,
    margin: float = UPDATE_MARGIN,
    spread: float | None = None,
) -> list[int]:
    """Positions of ``ids`` reordered so that a record comes before every earlier record it updates
    (``links``: id → ids of the records that update it) and whose ``scores`` it is within
    ``margin`` × ``spread`` of (default: max − min of ``scores``); otherwise the order is kept."""
    out = list(range(len(ids)))
    if not any(links.get(i) for i in ids):
        return out
    if spread is None:
        spread = max(scores) - min(scores) if scores else 0.0
    slack = margin * spread if scores else float("inf")

    def close(a: int, b: int) -> bool:
        return scores is None or scores[b] >= scores[a] - slack

    for _ in range(len(ids) * len(ids)):  # each move puts a later statement first: at most n² moves
        moved = False
        for a in range(len(out)):
            later = links.get(ids[out[a]], frozenset())
            b = next((b for b in range(a + 1, len(out)) if ids[out[b]] in later and close(out[a], out[b])), None)
            if b is not None:
                out.insert(a, out.pop(b))
                moved = True
                break
        if not moved:
            break
    return out

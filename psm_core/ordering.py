"""Recall order between a statement and the later statements that restate, update or contradict it.

The consolidation pass records, in an episode's ledger (``record.ledger["updated_by"]``), the
later episodes that say something about the same thing (:mod:`psm_core.consolidation.links`). When
recall surfaces both, the later one is put first, so a prompt reads the current value before the
old one; the old one stays in the list, right after it.

Recall reorders the top ``max(k, LIST_DEPTH)`` memories and then keeps ``k``, so that a short list is
the head of a longer one: ``recall(q, k=3)`` lists the first three of ``recall(q, k=10)``. In a long
list a later statement ranked 40th can move right before the 2nd; that order is for reading, not for
choosing: a token budget keeps the best-*scored* memories that fit (:func:`psm_core.recall.fit_budget`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from psm_core.ledger import MAX_UPDATED_BY, UPDATED_BY, updated_by

__all__ = ["LIST_DEPTH", "MAX_UPDATED_BY", "UPDATED_BY", "newer_first", "updated_by"]

LIST_DEPTH = 10
"""Recall orders at least this many memories before it cuts the list to ``k``."""


def newer_first(ids: Sequence[str], links: Mapping[str, frozenset[str]]) -> list[int]:
    """Positions of ``ids`` reordered so that a record comes right before every earlier record it
    updates (``links``: id → ids of the records that update it); otherwise the order is kept."""
    out = list(range(len(ids)))
    if not any(links.get(i) for i in ids):
        return out
    for _ in range(len(ids) * len(ids)):  # each move puts a later statement first: at most n² moves
        moved = False
        for a in range(len(out)):
            later = links.get(ids[out[a]], frozenset())
            b = next((b for b in range(a + 1, len(out)) if ids[out[b]] in later), None)
            if b is not None:
                out.insert(a, out.pop(b))
                moved = True
                break
        if not moved:
            break
    return out

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

from collections.abc import Callable, Mapping, Sequence

from psm_core.index import normalized
from psm_core.ledger import MAX_UPDATED_BY, UPDATED_BY, updated_by
from psm_core.types import MemoryRecord, Status, Tier

__all__ = [
    "LIST_DEPTH",
    "MAX_UPDATED_BY",
    "UPDATED_BY",
    "monotone",
    "newer_first",
    "represented",
    "updated_by",
    "with_updates",
]

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


def represented(
    records: Sequence[MemoryRecord],
    order: Sequence[int],
    limit: int,
    covering: Callable[[str], Sequence[MemoryRecord]],
    *,
    include_superseded: bool = False,
) -> list[tuple[int, MemoryRecord]]:
    """The first ``limit`` memories of ``order`` (positions in ``records``, best first), one per fact.

    A memory and the facts distilled from it are one memory: an episode is represented by the newest
    live fact citing it (``covering(id)``: the semantic records whose provenance holds it) when that fact
    says more than the episode alone (it merges several episodes, corrects one, or is flagged), at the
    rank of its best-ranked member, so a statement is shown once however often it was said, and a fact
    never pushes its own episode out of the list. (Superseded facts represent nothing unless recall asks
    for them.) Returns (position of the best member, the representative record) pairs."""
    out: list[tuple[int, MemoryRecord]] = []
    listed: set[str] = set()
    for i in order:
        rec = records[i]
        rep = rec
        if rec.tier is not Tier.SEMANTIC:
            live = [f for f in covering(rec.id) if (f.status is not Status.SUPERSEDED or include_superseded) and _adds(f, rec)]
            if live:
                rep = max(live, key=lambda f: (f.status is not Status.SUPERSEDED, f.valid_from or f.observed_at, f.id))
        if rep.id in listed or rec.id in listed:
            continue
        listed.add(rep.id)
        listed.update(rep.provenance)
        out.append((int(i), rep))
        if include_superseded and rec.tier is not Tier.SEMANTIC:  # the history of what it said, right after it
            for old in sorted(covering(rec.id), key=lambda f: (f.valid_from or f.observed_at, f.id), reverse=True):
                if old.status is Status.SUPERSEDED and old.id not in listed and len(out) < limit:
                    listed.add(old.id)
                    out.append((int(i), old))
        if len(out) >= limit:
            break
    return out


def _adds(fact: MemoryRecord, episode: MemoryRecord) -> bool:
    """Whether ``fact`` says more than ``episode`` alone: other episodes, other words, or a status."""
    return len(fact.provenance) > 1 or fact.status is not Status.ACTIVE or normalized(fact.text) not in normalized(episode.text)


def monotone(scores: Sequence[float]) -> list[float]:
    """``scores`` of a list in its final order, made non-increasing: each position takes the highest score
    not yet used by an earlier position (a later statement put before the one it updates takes its place
    and its score)."""
    return sorted(scores, reverse=True)


def with_updates(
    listed: Sequence[tuple[int, MemoryRecord]],
    limit: int,
    lookup: Callable[[str], MemoryRecord | None],
    relevant: Callable[[MemoryRecord, MemoryRecord], bool] = lambda new, old: True,
) -> list[tuple[int, MemoryRecord]]:
    """``listed`` with, right before a memory that a later statement replaced (ledger ``no_longer``), that
    later statement's current fact when the list lacks it and ``relevant(new, old)`` (the caller checks it
    answers the query about as well): asking about a state shows its current value even when the question's
    words match the old statement better. At most ``limit`` long."""
    out: list[tuple[int, MemoryRecord]] = []
    shown = {rep.id for _, rep in listed} | {p for _, rep in listed for p in rep.provenance}
    for i, rep in listed:
        if rep.ledger.get("no_longer") or rep.status is Status.SUPERSEDED:
            later = [r for r in map(lookup, sorted(updated_by(rep))) if r is not None and r.status is not Status.SUPERSEDED]
            facts = [r for r in later if r.tier is Tier.SEMANTIC] or later
            if facts:
                newest = max(facts, key=lambda r: (r.valid_from or r.observed_at, r.id))
                if newest.id not in shown and not set(newest.provenance) & shown and relevant(newest, rep):
                    shown.add(newest.id)
                    out.append((i, newest))
        out.append((i, rep))
    return out[:limit]

"""Where a memory came from: the observed episodes behind it, through its provenance.

A consolidated fact names the episodes it was distilled from in ``provenance``; a fact distilled from a
fact (a superseded value kept as history) names that fact. :func:`sources` follows those links down to
the records that have no provenance of their own, the episodes as they were observed, and returns them
oldest first, so the same store always gives the same answer (provenance lists are sorted by record id,
and record ids are random).
"""

from __future__ import annotations

from collections.abc import Callable

from psm_core.errors import NotFoundError
from psm_core.types import MemoryRecord

__all__ = ["MAX_DEPTH", "sources"]

MAX_DEPTH = 8  # provenance levels followed; consolidation builds at most two or three


def sources(record: MemoryRecord, get: Callable[[str], MemoryRecord], max_depth: int = MAX_DEPTH) -> list[MemoryRecord]:
    """The records without provenance that ``record`` was built from, oldest first (``observed_at``, then id).

    ``get`` looks a record up by id and raises :class:`~psm_core.errors.NotFoundError` for one that is
    gone (a forgotten episode is skipped, as are links deeper than ``max_depth`` and cycles). A record
    without provenance has no sources: it is an episode itself."""
    found: dict[str, MemoryRecord] = {}
    seen = {record.id}
    level = list(record.provenance)
    for _ in range(max(0, max_depth)):
        nxt: list[str] = []
        for pid in level:
            if pid in seen:
                continue
            seen.add(pid)
            try:
                src = get(pid)
            except NotFoundError:
                continue
            if src.provenance:
                nxt.extend(src.provenance)
            else:
                found[src.id] = src
        if not nxt:
            break
        level = nxt
    return sorted(found.values(), key=lambda r: (r.observed_at, r.id))

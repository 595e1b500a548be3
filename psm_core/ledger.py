"""The library's bookkeeping on a record (``MemoryRecord.ledger``), kept apart from the caller's ``metadata``.

```
seen           id of the pass that first saw an episode
recalls        recall count already turned into strength by a pass (increments exactly once)
feedback       highest feedback outcome id already applied
source         the record a consolidated fact took its text from (forget() deletes the fact with it)
pass           id of the pass that created a fact
updated_by     ids of later records that restate or update this one (recall puts them first)
superseded_by  the later record that updated the sentence a history fact keeps (or the fact that replaced a fact)
no_longer      (an episode) the date from which what it said no longer holds, when a later statement updated it
retracted      (a fact) a correction showed it was never true
```
Only the library writes the ledger: ``remember``/``observe``/``update`` never accept it, and callers'
metadata cannot reach it (``"_psm"`` is a reserved metadata key). Every reader here is defensive:
a value of the wrong type reads as absent, so no stored value can make a pass fail.
Stores written before the ledger was a field kept it in ``metadata["_psm"]``; the codec moves it.
"""

from __future__ import annotations

from typing import Any

from psm_core.types import MemoryRecord

__all__ = [
    "FEEDBACK",
    "LEGACY_KEY",
    "MAX_UPDATED_BY",
    "NO_LONGER",
    "PASS",
    "RECALLS",
    "RETRACTED",
    "SEEN",
    "SOURCE",
    "SUPERSEDED_BY",
    "UPDATED_BY",
    "ledger",
    "ledger_int",
    "source",
    "updated_by",
]

LEGACY_KEY = "_psm"
"""Metadata key of the ledger in stores written by earlier versions (reserved: callers cannot write it)."""

SEEN = "seen"
RECALLS = "recalls"
FEEDBACK = "feedback"
SOURCE = "source"
PASS = "pass"
UPDATED_BY = "updated_by"
SUPERSEDED_BY = "superseded_by"
NO_LONGER = "no_longer"
RETRACTED = "retracted"

MAX_UPDATED_BY = 32
"""Most later records one record's ledger lists (the latest); a topic restated in every session stays bounded."""


def ledger(record: MemoryRecord) -> dict[str, Any]:
    """A copy of ``record``'s ledger (empty when it has none)."""
    return dict(record.ledger)


def ledger_int(record: MemoryRecord, key: str) -> int:
    """The integer under ``key`` (0 when absent or not an integer)."""
    value = record.ledger.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def source(record: MemoryRecord) -> str | None:
    """The record a consolidated fact took its text from, if any."""
    value = record.ledger.get(SOURCE)
    return value if isinstance(value, str) else None


def updated_by(record: MemoryRecord) -> frozenset[str]:
    """Ids of the later records that update ``record`` (empty when none)."""
    ids = record.ledger.get(UPDATED_BY)
    return frozenset(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else frozenset()

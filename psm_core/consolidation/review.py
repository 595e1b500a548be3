"""The review queue: contradictions the pass flagged, and how a person resolved them.

PSM never decides what is true. A contradiction between two facts is flagged (the newer fact's
status is ``flagged``) and listed by :func:`review_queue`; :func:`resolve` applies a decision —
keep the ``new`` fact (the old one is superseded), the ``old`` one (the new one is superseded) or
``both`` — and logs it. Nothing is deleted either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from psm_core.consolidation.db import StateDB
from psm_core.consolidation.plan import ConflictSpec
from psm_core.errors import InvalidInputError, NotFoundError, VersionConflictError
from psm_core.ledger import ledger
from psm_core.types import MemoryRecord, Status

if TYPE_CHECKING:
    from psm_core.memory import UserMemory

__all__ = ["Conflict", "Keep", "ReviewLog", "resolve", "review_queue"]

logger = logging.getLogger(__name__)

Keep = Literal["new", "old", "both"]


class Conflict(BaseModel):
    """A flagged contradiction between a newer fact (``new_id``) and an older one (``old_id``)."""

    conflict_id: str
    user_id: str
    new_id: str
    old_id: str
    relation: str
    probability: float
    state: Literal["open", "resolved"]
    created_at: datetime
    resolved_at: datetime | None = None
    keep: Keep | None = None
    new_text: str | None = None
    old_text: str | None = None


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


class ReviewLog:
    """Conflict rows and their resolutions (ids only, no text) in the consolidation database (either engine)."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def open(self, user_key: str, specs: Sequence[ConflictSpec]) -> int:
        """Record flagged conflicts (idempotent: a conflict id is recorded once); returns rows added."""
        now = time.time()
        added = 0
        with self.db.tx() as tx:
            for c in specs:
                added += tx.execute(
                    "INSERT INTO conflicts (conflict_id, user_key, new_id, old_id, relation, probability, state, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT (conflict_id) DO NOTHING",
                    (c.conflict_id, user_key, c.new_id, c.old_id, c.relation, c.probability, now),
                )
        return added

    def rows(self, user_key: str, state: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM conflicts WHERE user_key=?", [user_key]
        if state is not None:
            sql += " AND state=?"
            args.append(state)
        return self.db.query(sql + " ORDER BY created_at, conflict_id", args)

    def get(self, user_key: str, conflict_id: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT * FROM conflicts WHERE user_key=? AND conflict_id=?", (user_key, conflict_id))
        return rows[0] if rows else None

    def resolutions(self, user_key: str) -> list[dict[str, Any]]:
        """The resolution log of a user, oldest first."""
        return self.db.query("SELECT * FROM resolutions WHERE user_key=? ORDER BY resolution_id", (user_key,))

    def mark_resolved(self, user_key: str, conflict_id: str, keep: Keep, source: str) -> bool:
        """Mark an open conflict resolved and log it; False when it was no longer open (resolved elsewhere)."""
        now = time.time()
        with self.db.tx() as tx:
            if not tx.execute(
                "UPDATE conflicts SET state='resolved', resolved_at=?, keep=? WHERE conflict_id=? AND user_key=? AND state='open'",
                (now, keep, conflict_id, user_key),
            ):
                return False
            tx.execute(
                "INSERT INTO resolutions (conflict_id, user_key, keep, source, resolved_at) VALUES (?, ?, ?, ?, ?)",
                (conflict_id, user_key, keep, source, now),
            )
        return True


def _conflict(mem: UserMemory, row: dict[str, Any]) -> Conflict:
    texts: list[str | None] = []
    for rid in (row["new_id"], row["old_id"]):
        try:
            texts.append(mem.get(rid).text)
        except NotFoundError:
            texts.append(None)
    return Conflict(
        conflict_id=row["conflict_id"], user_id=mem.user_id, new_id=row["new_id"], old_id=row["old_id"],
        relation=row["relation"], probability=row["probability"], state=row["state"], created_at=datetime.fromtimestamp(row["created_at"], tz=timezone.utc),
        resolved_at=_ts(row["resolved_at"]), keep=row["keep"], new_text=texts[0], old_text=texts[1],
    )  # fmt: skip


def review_queue(mem: UserMemory, log: ReviewLog, *, include_resolved: bool = False) -> list[Conflict]:
    """The user's flagged conflicts awaiting review (all of them with ``include_resolved``)."""
    return [_conflict(mem, r) for r in log.rows(mem.key, None if include_resolved else "open")]


def _set(mem: UserMemory, record_id: str, note: dict[str, Any], **changes: Any) -> MemoryRecord | None:
    """Update one record with optimistic concurrency (re-read and retry on a version conflict)."""
    for attempt in Retrying(stop=stop_after_attempt(8), retry=retry_if_exception_type(VersionConflictError), reraise=True):
        with attempt:
            try:
                cur = mem.get(record_id)
            except NotFoundError:
                return None
            return mem._update(record_id, cur.version, {"ledger": {**ledger(cur), **note}, **changes})
    return None  # pragma: no cover - tenacity reraises


def resolve(mem: UserMemory, log: ReviewLog, conflict_id: str, keep: str, *, source: str = "api") -> Conflict:
    """Resolve a flagged conflict: keep the ``new`` fact, the ``old`` one or ``both``; logged."""
    if keep not in ("new", "old", "both"):
        raise InvalidInputError(f"keep must be 'new', 'old' or 'both', got {keep!r}")
    row = log.get(mem.key, conflict_id)
    if row is None:
        raise NotFoundError(conflict_id)
    if row["state"] == "resolved":
        raise InvalidInputError(f"conflict {conflict_id} was already resolved (kept {row['keep']!r})")
    new_id, old_id = row["new_id"], row["old_id"]
    records = {}
    for rid in (new_id, old_id):
        try:
            records[rid] = mem.get(rid)
        except NotFoundError:
            pass
    new, old = records.get(new_id), records.get(old_id)
    if keep == "new":
        if old is not None:
            start = new.valid_from if new is not None and new.valid_from else old.observed_at
            until = max(old.valid_from or start, start)
            _set(mem, old_id, {"resolved": conflict_id}, status=Status.SUPERSEDED, valid_to=until)
        _set(mem, new_id, {"resolved": conflict_id}, status=Status.ACTIVE)
    elif keep == "old":
        if new is not None:
            until = new.valid_from or new.observed_at
            _set(mem, new_id, {"resolved": conflict_id, "rejected": True}, status=Status.SUPERSEDED, valid_to=until)
        _set(mem, old_id, {"resolved": conflict_id}, status=Status.ACTIVE)
    else:
        for rid in (new_id, old_id):
            _set(mem, rid, {"resolved": conflict_id}, status=Status.ACTIVE)
    log.mark_resolved(mem.key, conflict_id, keep, source)  # type: ignore[arg-type]
    logger.info("user %s resolved conflict %s: kept %s (%s)", mem.key[:8], conflict_id[:8], keep, source)
    return _conflict(mem, log.get(mem.key, conflict_id) or row)

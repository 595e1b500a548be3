"""A durable per-user job queue in SQLite: leases with expiry, retries with backoff.

Delivery is at least once (an expired lease is delivered again); the pass it runs is idempotent
(deterministic fact ids, a journaled plan), so the effect is exactly once. At most one job per
user is pending; enqueueing while one runs marks it to run ``again`` when it completes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel
from tenacity import RetryCallState, wait_exponential

from psm_core.consolidation.db import StateDB
from psm_core.stores.chroma import user_key

__all__ = ["Job", "JobQueue", "JobState"]

logger = logging.getLogger(__name__)

JobState = Literal["queued", "leased", "done", "failed"]
_KEEP_DONE_S = 7 * 86400.0


class Job(BaseModel):
    """One consolidation job of one user."""

    job_id: str
    user_id: str
    reason: str
    state: JobState
    attempts: int
    not_before: float
    lease_owner: str | None = None
    lease_expires: float | None = None
    created_at: float
    updated_at: float
    error: str | None = None
    result: dict[str, Any] | None = None


def _job(row: dict[str, Any]) -> Job:
    row = {k: v for k, v in row.items() if k not in ("user_key", "again")}
    row["result"] = json.loads(row["result"]) if row.get("result") else None
    return Job.model_validate(row)


class JobQueue:
    """Jobs per user with leases, retries and exponential backoff (computed by tenacity)."""

    def __init__(
        self,
        db: StateDB,
        *,
        lease_seconds: float = 300.0,
        max_attempts: int = 5,
        backoff_seconds: float = 5.0,
        backoff_max_seconds: float = 600.0,
    ) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self._wait = wait_exponential(multiplier=backoff_seconds, max=backoff_max_seconds)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before delivering a job again after ``attempts`` failed deliveries."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempts)
        return float(self._wait(state))

    def enqueue(self, user_id: str, reason: str = "explicit", *, delay: float = 0.0) -> str:
        """Queue a pass for ``user_id``; returns the pending job's id (existing one when already queued)."""
        key = user_key(user_id)
        now = time.time()
        with self.db.tx() as con:
            row = con.execute(
                "SELECT job_id, state FROM jobs WHERE user_key=? AND state IN ('queued','leased')", (key,)
            ).fetchone()
            if row is not None:
                if row[1] == "leased":
                    con.execute("UPDATE jobs SET again=1, updated_at=? WHERE job_id=?", (now, row[0]))
                return str(row[0])
            job_id = uuid.uuid4().hex
            con.execute(
                "INSERT INTO jobs (job_id, user_key, user_id, reason, state, not_before, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, key, user_id, reason, now + delay, now, now),
            )
        logger.info("queued consolidation job %s (%s) for user %s", job_id[:8], reason, key[:8])
        return job_id

    def lease(self, owner: str, *, lease_seconds: float | None = None) -> Job | None:
        """Take the next due job (or one whose lease expired) for ``owner``; None when none is due."""
        now = time.time()
        expires = now + (lease_seconds or self.lease_seconds)
        with self.db.tx() as con:
            row = con.execute(
                "SELECT job_id FROM jobs WHERE (state='queued' AND not_before<=?) OR (state='leased' AND lease_expires<?) "
                "ORDER BY not_before, created_at LIMIT 1",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE jobs SET state='leased', lease_owner=?, lease_expires=?, attempts=attempts+1, updated_at=? WHERE job_id=?",
                (owner, expires, now, row[0]),
            )
        return self.get(str(row[0]))

    def heartbeat(self, job_id: str, owner: str, *, lease_seconds: float | None = None) -> bool:
        """Extend ``owner``'s lease; False when the lease was lost (expired and taken, or erased)."""
        expires = time.time() + (lease_seconds or self.lease_seconds)
        n = self.db.execute(
            "UPDATE jobs SET lease_expires=? WHERE job_id=? AND lease_owner=? AND state='leased'", (expires, job_id, owner)
        )
        return n == 1

    def complete(self, job_id: str, owner: str, result: dict[str, Any] | None = None) -> None:
        """Mark a leased job done (queued again at once when new work arrived while it ran)."""
        now = time.time()
        with self.db.tx() as con:
            row = con.execute(
                "SELECT again FROM jobs WHERE job_id=? AND lease_owner=? AND state='leased'", (job_id, owner)
            ).fetchone()
            if row is None:
                logger.warning("job %s: lease lost before completion (its pass is idempotent)", job_id[:8])
                return
            if row[0]:
                con.execute(
                    "UPDATE jobs SET state='queued', again=0, attempts=0, not_before=?, lease_owner=NULL, lease_expires=NULL, "
                    "updated_at=?, result=? WHERE job_id=?",
                    (now, now, json.dumps(result, default=str) if result else None, job_id),
                )
            else:
                con.execute(
                    "UPDATE jobs SET state='done', lease_owner=NULL, lease_expires=NULL, updated_at=?, result=?, error=NULL "
                    "WHERE job_id=?",
                    (now, json.dumps(result, default=str) if result else None, job_id),
                )
            con.execute("DELETE FROM jobs WHERE state='done' AND updated_at<?", (now - _KEEP_DONE_S,))

    def fail(self, job_id: str, owner: str, error: str) -> JobState | None:
        """Record a failed delivery: queued again after a backoff, or failed after ``max_attempts``."""
        now = time.time()
        with self.db.tx() as con:
            row = con.execute(
                "SELECT attempts FROM jobs WHERE job_id=? AND lease_owner=? AND state='leased'", (job_id, owner)
            ).fetchone()
            if row is None:
                return None
            attempts = int(row[0])
            if attempts >= self.max_attempts:
                con.execute(
                    "UPDATE jobs SET state='failed', lease_owner=NULL, lease_expires=NULL, updated_at=?, error=? WHERE job_id=?",
                    (now, error[:2000], job_id),
                )
                state: JobState = "failed"
            else:
                con.execute(
                    "UPDATE jobs SET state='queued', not_before=?, lease_owner=NULL, lease_expires=NULL, updated_at=?, error=? "
                    "WHERE job_id=?",
                    (now + self.backoff(attempts), now, error[:2000], job_id),
                )
                state = "queued"
        logger.warning("consolidation job %s failed (attempt %d, now %s): %s", job_id[:8], attempts, state, error[:200])
        return state

    def get(self, job_id: str) -> Job | None:
        rows = self.db.query("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, user_id: str | None = None, state: JobState | None = None) -> list[Job]:
        """Jobs (of one user, in one state, when given), oldest first."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if user_id is not None:
            sql += " AND user_key=?"
            args.append(user_key(user_id))
        if state is not None:
            sql += " AND state=?"
            args.append(state)
        return [_job(r) for r in self.db.query(sql + " ORDER BY created_at", args)]

    def pending(self) -> int:
        """Jobs queued or leased."""
        return int(self.db.query("SELECT count(*) AS n FROM jobs WHERE state IN ('queued','leased')")[0]["n"])

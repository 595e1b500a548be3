"""A durable per-user job queue (SQLite or PostgreSQL): leases with expiry, retries with backoff.

Delivery is at least once (an expired lease is delivered again); the pass it runs is idempotent
(deterministic fact ids, a journaled plan), so the effect is exactly once. At most one job per
user is pending; enqueueing while one runs marks it to run ``again`` when it completes.
Workers in many processes (on many machines, with PostgreSQL) share one queue: a claim is exclusive,
a live worker's lease is extended from a thread (:meth:`JobQueue.keep_alive`), and a dead worker's
lease expires, so its job is delivered again and the pass resumes from its journal.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel
from tenacity import RetryCallState, wait_exponential

from psm_core.consolidation.db import StateDB
from psm_core.consolidation.writes import ConsolidationAborted
from psm_core.stores.chroma import user_key

__all__ = ["Job", "JobQueue", "JobState", "Lease", "LeaseLost"]

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


class LeaseLost(ConsolidationAborted):
    """This worker's lease of a job expired and another worker took the job; the pass stops at its next
    step, and the new holder resumes it from the journal."""


class Lease:
    """A job lease kept alive by a daemon thread (see :meth:`JobQueue.keep_alive`)."""

    def __init__(self, queue: JobQueue, job_id: str, owner: str, every: float) -> None:
        self.queue, self.job_id, self.owner, self.every = queue, job_id, owner, every
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"psm-lease-{job_id[:8]}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        """Raise :class:`LeaseLost` when the lease was lost."""
        if self.lost:
            raise LeaseLost(f"job {self.job_id[:8]}: the lease of {self.owner} expired and another worker took it over")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if not self.queue.heartbeat(self.job_id, self.owner):
                    self._lost.set()
                    return
            except Exception:  # the database is unreachable for now: try again at the next beat
                logger.warning("job %s: heartbeat failed", self.job_id[:8], exc_info=True)


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
        job_id = uuid.uuid4().hex
        with self.db.tx() as tx:
            while True:  # another process may queue the same user at the same moment: then take theirs
                row = tx.one(
                    f"SELECT job_id, state FROM jobs WHERE user_key=? AND state IN ('queued','leased'){self.db.for_update}",
                    (key,),
                )
                if row is not None:
                    if row["state"] == "leased":
                        tx.execute("UPDATE jobs SET again=1, updated_at=? WHERE job_id=?", (now, row["job_id"]))
                    return str(row["job_id"])
                added = tx.execute(
                    "INSERT INTO jobs (job_id, user_key, user_id, reason, state, not_before, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (user_key) WHERE state IN ('queued', 'leased') DO NOTHING",
                    (job_id, key, user_id, reason, now + delay, now, now),
                )
                if added:
                    break
        logger.info("queued consolidation job %s (%s) for user %s", job_id[:8], reason, key[:8])
        return job_id

    def lease(self, owner: str, *, lease_seconds: float | None = None) -> Job | None:
        """Claim the next due job (or one whose lease expired) for ``owner``; None when none is due.

        Two workers never hold the same job: on SQLite the claim runs under ``BEGIN IMMEDIATE``, on
        PostgreSQL ``FOR UPDATE SKIP LOCKED`` passes over a job another worker is claiming.
        """
        now = time.time()
        expires = now + (lease_seconds or self.lease_seconds)
        with self.db.tx() as tx:
            row = tx.one(
                "SELECT job_id FROM jobs WHERE (state='queued' AND not_before<=?) OR (state='leased' AND lease_expires<?) "
                f"ORDER BY not_before, created_at LIMIT 1{self.db.skip_locked}",
                (now, now),
            )
            if row is None:
                return None
            tx.execute(
                "UPDATE jobs SET state='leased', lease_owner=?, lease_expires=?, attempts=attempts+1, updated_at=? WHERE job_id=?",
                (owner, expires, now, row["job_id"]),
            )
            claimed = tx.one("SELECT * FROM jobs WHERE job_id=?", (row["job_id"],))
        return _job(claimed) if claimed else None

    def heartbeat(self, job_id: str, owner: str, *, lease_seconds: float | None = None) -> bool:
        """Extend ``owner``'s lease; False when the lease was lost (expired and taken, or erased)."""
        expires = time.time() + (lease_seconds or self.lease_seconds)
        n = self.db.execute(
            "UPDATE jobs SET lease_expires=? WHERE job_id=? AND lease_owner=? AND state='leased'", (expires, job_id, owner)
        )
        return n == 1

    @contextmanager
    def keep_alive(self, job_id: str, owner: str, *, every: float | None = None) -> Iterator[Lease]:
        """Heartbeat ``owner``'s lease of a job from a thread while the block runs (every third of the lease);
        :attr:`Lease.lost` turns true when another worker took the job over."""
        lease = Lease(self, job_id, owner, every or self.lease_seconds / 3.0)
        lease.start()
        try:
            yield lease
        finally:
            lease.stop()

    def complete(self, job_id: str, owner: str, result: dict[str, Any] | None = None) -> None:
        """Mark a leased job done (queued again at once when new work arrived while it ran)."""
        now = time.time()
        with self.db.tx() as tx:
            row = tx.one(
                f"SELECT again FROM jobs WHERE job_id=? AND lease_owner=? AND state='leased'{self.db.for_update}", (job_id, owner)
            )
            if row is None:
                logger.warning("job %s: lease lost before completion (its pass is idempotent)", job_id[:8])
                return
            if row["again"]:
                tx.execute(
                    "UPDATE jobs SET state='queued', again=0, attempts=0, not_before=?, lease_owner=NULL, lease_expires=NULL, "
                    "updated_at=?, result=? WHERE job_id=?",
                    (now, now, json.dumps(result, default=str) if result else None, job_id),
                )
            else:
                tx.execute(
                    "UPDATE jobs SET state='done', lease_owner=NULL, lease_expires=NULL, updated_at=?, result=?, error=NULL "
                    "WHERE job_id=?",
                    (now, json.dumps(result, default=str) if result else None, job_id),
                )
            tx.execute("DELETE FROM jobs WHERE state='done' AND updated_at<?", (now - _KEEP_DONE_S,))

    def fail(self, job_id: str, owner: str, error: str) -> JobState | None:
        """Record a failed delivery: queued again after a backoff, or failed after ``max_attempts``."""
        now = time.time()
        with self.db.tx() as tx:
            row = tx.one(
                f"SELECT attempts FROM jobs WHERE job_id=? AND lease_owner=? AND state='leased'{self.db.for_update}",
                (job_id, owner),
            )
            if row is None:
                return None
            attempts = int(row["attempts"])
            if attempts >= self.max_attempts:
                tx.execute(
                    "UPDATE jobs SET state='failed', lease_owner=NULL, lease_expires=NULL, updated_at=?, error=? WHERE job_id=?",
                    (now, error[:2000], job_id),
                )
                state: JobState = "failed"
            else:
                tx.execute(
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

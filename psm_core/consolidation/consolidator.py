"""The consolidation service of a :class:`~psm_core.PSM`: passes, the job queue, review, the worker.

Obtain it as ``psm.consolidation`` (created on first use). State lives in
``PSM_HOME/consolidation.sqlite3``, or in PostgreSQL when ``PSM_DATABASE_URL`` is set (shared by the
processes and workers of a deployment); erasing a user deletes their jobs, journal and review rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.consolidation.db import StateDB
from psm_core.consolidation.jobs import Job, JobQueue, LeaseLost
from psm_core.consolidation.pass_ import ConsolidationPass, PassReport
from psm_core.consolidation.review import Conflict, ReviewLog, resolve, review_queue
from psm_core.consolidation.vectors import TextVectors
from psm_core.consolidation.worker import Worker
from psm_core.consolidation.writes import ConsolidationAborted, Hook
from psm_core.coordination import backend_for
from psm_core.ledger import ledger
from psm_core.stores.chroma import user_key
from psm_core.types import Status, Tier, utcnow

if TYPE_CHECKING:
    from psm_core.memory import UserMemory
    from psm_core.psm import PSM

__all__ = ["Consolidator"]

logger = logging.getLogger(__name__)


class Consolidator:
    """Runs sleep-time passes for the users of one PSM, directly or through the durable queue."""

    def __init__(self, psm: PSM, config: ConsolidationConfig | None = None) -> None:
        self.psm = psm
        self.config = config or ConsolidationConfig()
        self.db = StateDB(backend_for(psm.settings, "consolidation.sqlite3"))
        cfg = self.config
        self.queue = JobQueue(self.db, lease_seconds=cfg.lease_seconds, max_attempts=cfg.max_attempts,
                              backoff_seconds=cfg.backoff_seconds, backoff_max_seconds=cfg.backoff_max_seconds)  # fmt: skip
        self.review = ReviewLog(self.db)
        self._erased: dict[str, int] = {}
        self._lock = threading.Lock()
        self._user_locks: dict[str, threading.Lock] = {}
        self._worker: Worker | None = None
        self._vectors = TextVectors(psm.embed)

    # -- passes ---------------------------------------------------------------------------------
    def _user_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._user_locks.setdefault(key, threading.Lock())

    def consolidate(self, user_id: str, *, now: datetime | None = None, hook: Hook | None = None) -> PassReport:
        """Run one pass for ``user_id`` now (resuming an interrupted one); ``now`` defaults to the user's time.

        One pass of a user runs at a time: across threads (a lock) and across processes sharing a
        PostgreSQL database (an advisory lock on the user)."""
        mem = self.psm.for_user(user_id)
        with self._user_lock(mem.key), self.db.lock(f"pass:{mem.key}"):
            gen = self._erased.get(mem.key, 0)
            run = ConsolidationPass(mem, self.db, self.review, self.config,
                                    alive=lambda: self._erased.get(mem.key, 0) == gen, hook=hook, vectors=self._vectors)  # fmt: skip
            try:
                return run.run(now)
            except LeaseLost:
                raise
            except ConsolidationAborted:
                logger.info("user %s was erased during consolidation; pass stopped", mem.key[:8])
                return PassReport(user_id=mem.user_id, pass_id="", skill=self.psm.skill.name, now=now or utcnow(), aborted=True)

    def consolidate_all(self, *, now: datetime | None = None, progress: bool = False) -> dict[str, PassReport]:
        """One pass for every user with persistent memories."""
        users = self.psm.users()
        if progress:
            from tqdm.auto import tqdm

            users = list(tqdm(users, desc="consolidating", unit="user"))
        return {u: self.consolidate(u, now=now) for u in users}

    def run_job(self, job: Job, owner: str) -> PassReport:
        """Run a leased job's pass, its lease kept alive by a heartbeat thread; raises :class:`LeaseLost`
        (at the pass's next step or write) when the lease expired and another worker took the job."""
        with self.queue.keep_alive(job.job_id, owner) as lease:

            def beat(event: str) -> None:
                lease.check()

            return self.consolidate(job.user_id, hook=beat)

    # -- triggers -------------------------------------------------------------------------------
    def end_session(self, user_id: str, session_id: str | None = None) -> str:
        """Queue a pass for ``user_id`` because a session ended; returns the job id."""
        job_id = self.queue.enqueue(user_id, reason="session_end")
        logger.info("session %s of user %s ended: consolidation queued", session_id, user_key(user_id)[:8])
        if self._worker is not None:
            self._worker.wake()
        return job_id

    def unconsolidated(self, mem: UserMemory) -> tuple[int, datetime | None]:
        """(episodes not yet seen by a pass, wall-clock time of the newest of them) of a loaded user."""
        idx = mem._index
        if not idx.loaded:
            return 0, None
        with idx.lock:
            unseen = [r.created_at for r in idx.records.values()
                      if r.tier is Tier.EPISODIC and r.status is Status.ACTIVE and not ledger(r).get("seen")]  # fmt: skip
        return len(unseen), max(unseen, default=None)

    def enqueue_idle(self, idle_seconds: float | None = None) -> list[str]:
        """Queue a pass for each user loaded in this process whose unconsolidated episodes are older than ``idle_seconds``."""
        idle = self.config.idle_minutes * 60.0 if idle_seconds is None else idle_seconds
        with self.psm._users_lock:
            mems = list(self.psm._users.values())
        pending = {j.user_id for j in self.queue.jobs(state="queued")} | {j.user_id for j in self.queue.jobs(state="leased")}
        jobs = []
        now = time.time()
        for mem in mems:
            if mem.user_id in pending or self._user_lock(mem.key).locked():
                continue
            n, newest = self.unconsolidated(mem)
            if n and newest is not None and now - newest.timestamp() >= idle:
                jobs.append(self.queue.enqueue(mem.user_id, reason="idle"))
        return jobs

    # -- review ---------------------------------------------------------------------------------
    def flag(self, user_id: str, conflicts: Sequence[tuple[str, str, float]]) -> int:
        """Open review conflicts between newer facts and the older ones they contradict ((new id, old id,
        probability) triples, decided when a statement was observed); returns how many were new."""
        from psm_core.consolidation.plan import ConflictSpec, conflict_id

        specs = [ConflictSpec(conflict_id=conflict_id(n, o), new_id=n, old_id=o, relation="contradiction", probability=round(p, 4))
                 for n, o, p in conflicts]  # fmt: skip
        return self.review.open(user_key(user_id), specs)

    def review_queue(self, user_id: str, *, include_resolved: bool = False) -> list[Conflict]:
        return review_queue(self.psm.for_user(user_id), self.review, include_resolved=include_resolved)

    def resolve(self, user_id: str, conflict_id: str, keep: str, *, source: str = "api") -> Conflict:
        return resolve(self.psm.for_user(user_id), self.review, conflict_id, keep, source=source)

    def resolutions(self, user_id: str) -> list[dict[str, Any]]:
        """The logged resolutions of ``user_id``'s conflicts, oldest first."""
        return self.review.resolutions(user_key(user_id))

    # -- worker ---------------------------------------------------------------------------------
    def start_worker(self, *, poll_seconds: float | None = None, idle_minutes: float | None = None) -> Worker:
        """Start the background worker thread (one per PSM); returns it."""
        with self._lock:
            if self._worker is None or not self._worker.running:
                self._worker = Worker(self, poll_seconds=poll_seconds, idle_minutes=idle_minutes).start()
            return self._worker

    def stop_worker(self, timeout: float | None = 60.0) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout)

    @contextmanager
    def worker(self, *, poll_seconds: float | None = None, idle_minutes: float | None = None) -> Iterator[Worker]:
        """Run the background worker for the duration of a ``with`` block."""
        w = self.start_worker(poll_seconds=poll_seconds, idle_minutes=idle_minutes)
        try:
            yield w
        finally:
            self.stop_worker()

    # -- lifecycle ------------------------------------------------------------------------------
    def on_erase(self, user_id: str) -> None:
        """Erase hook: stop a running pass of the user and delete their jobs, journal and review rows."""
        key = user_key(user_id)
        with self._lock:
            self._erased[key] = self._erased.get(key, 0) + 1
        self.db.erase_user(key)

    def close(self) -> None:
        self.stop_worker()
        self.db.close()

"""The background worker: a thread that queues idle users and runs due consolidation jobs.

```python
with psm.worker():            # or psm.start_worker() ... psm.stop_worker()
    mem.observe(...)
    mem.end_session("s1")     # queues a pass; the worker runs it
```
A failed job is retried with exponential backoff; a job whose worker died is delivered again when
its lease expires. Stopping waits for the job in progress to finish its current pass.

Workers in several processes, on several machines, share one queue when their PSMs share a
PostgreSQL database (``PSM_DATABASE_URL``): each claims a job exclusively (``SKIP LOCKED``), keeps
its lease alive from a heartbeat thread while the pass runs, and stops a pass whose lease another
worker took over (:class:`~psm_core.consolidation.jobs.LeaseLost`); ``psm worker`` runs one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING

from psm_core.consolidation.jobs import LeaseLost

if TYPE_CHECKING:
    from psm_core.consolidation.consolidator import Consolidator
    from psm_core.consolidation.pass_ import PassReport

__all__ = ["Worker"]

logger = logging.getLogger(__name__)


class Worker:
    """Runs :meth:`run_once` every ``poll_seconds`` (or at once when woken) on a daemon thread."""

    def __init__(
        self, consolidator: Consolidator, *, poll_seconds: float | None = None, idle_minutes: float | None = None
    ) -> None:
        self.consolidator = consolidator
        cfg = consolidator.config
        self.poll_seconds = cfg.poll_seconds if poll_seconds is None else poll_seconds
        self.idle_minutes = cfg.idle_minutes if idle_minutes is None else idle_minutes
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.processed = 0
        self.failed = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Worker(owner={self.owner!r}, running={self.running}, processed={self.processed}, failed={self.failed})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Worker:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="psm-consolidation", daemon=True)
        self._thread.start()
        logger.info("consolidation worker %s started", self.owner)
        return self

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop after the job in progress (waits up to ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("consolidation worker %s still finishing a pass after %ss", self.owner, timeout)
            self._thread = None
        logger.info("consolidation worker %s stopped (%d jobs done, %d failed)", self.owner, self.processed, self.failed)

    def run_once(self) -> list[PassReport]:
        """Queue idle users, then run every due job; returns the reports of the passes run."""
        con = self.consolidator
        con.enqueue_idle(self.idle_minutes * 60.0)
        reports: list[PassReport] = []
        while not self._stop.is_set():
            job = con.queue.lease(self.owner)
            if job is None:
                break
            try:
                rep = con.run_job(job, self.owner)
            except LeaseLost as exc:  # another worker holds the job now and resumes the pass from its journal
                logger.warning("consolidation job %s of user %s: %s", job.job_id[:8], job.user_id, exc)
                continue
            except Exception as exc:  # every failure is retried with backoff, then marked failed
                self.failed += 1
                logger.exception("consolidation job %s of user %s failed", job.job_id[:8], job.user_id)
                con.queue.fail(job.job_id, self.owner, f"{type(exc).__name__}: {exc}")
                continue
            con.queue.complete(job.job_id, self.owner, rep.changes() | {"pass_id": rep.pass_id, "aborted": int(rep.aborted)})
            self.processed += 1
            reports.append(rep)
        return reports

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep the worker alive; the queue keeps the jobs
                logger.exception("consolidation worker loop error")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

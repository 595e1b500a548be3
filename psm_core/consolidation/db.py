"""The consolidation state database (``PSM_HOME/consolidation.sqlite3``).

```
jobs         durable queue: one pending job per user, leases with expiry, attempts, backoff
journal      the plan of a pass in progress (user key → plan JSON); a rerun resumes it
passes       per-user pass counter, last pass time and summary
conflicts    contradictions flagged for review (record ids only, never text)
resolutions  how each reviewed conflict was resolved, by whom, when
```
Every table is keyed by the user key; :meth:`StateDB.erase_user` deletes a user's rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psm_core.errors import StoreError

__all__ = ["StateDB"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, user_key TEXT NOT NULL, user_id TEXT NOT NULL, reason TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, again INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL, lease_owner TEXT, lease_expires REAL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, error TEXT, result TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_pending ON jobs(user_key) WHERE state IN ('queued', 'leased');
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(state, not_before);
CREATE TABLE IF NOT EXISTS journal (
    user_key TEXT PRIMARY KEY, pass_id TEXT NOT NULL, plan TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS passes (
    user_key TEXT PRIMARY KEY, passes INTEGER NOT NULL, last_pass_at REAL NOT NULL, last_user_time TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS conflicts (
    conflict_id TEXT PRIMARY KEY, user_key TEXT NOT NULL, new_id TEXT NOT NULL, old_id TEXT NOT NULL,
    relation TEXT NOT NULL, probability REAL NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL,
    resolved_at REAL, keep TEXT
);
CREATE INDEX IF NOT EXISTS conflicts_user ON conflicts(user_key, state);
CREATE TABLE IF NOT EXISTS resolutions (
    resolution_id INTEGER PRIMARY KEY AUTOINCREMENT, conflict_id TEXT NOT NULL, user_key TEXT NOT NULL,
    keep TEXT NOT NULL, source TEXT NOT NULL, resolved_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS resolutions_user ON resolutions(user_key);
"""
_USER_TABLES = ("jobs", "journal", "passes", "conflicts", "resolutions")


class StateDB:
    """One SQLite connection (WAL, autocommit) shared by the queue, the journal and the review log."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        try:
            self._con = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA secure_delete=ON")  # deleted rows (a journaled plan's texts) are zeroed
            self._con.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the consolidation database {path}: {exc}") from exc
        self._closed = False

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): all of it commits, or none of it."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        with self._lock:
            cur = self._con.execute(sql, tuple(args))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the rows changed."""
        with self.tx() as con:
            return con.execute(sql, tuple(args)).rowcount

    def erase_user(self, user_key: str) -> None:
        """Delete every row of the user ``user_key`` from every table; no byte of them stays in the files
        (secure delete zeroes the pages, the checkpoint empties the write-ahead log)."""
        with self.tx() as con:
            for table in _USER_TABLES:
                con.execute(f"DELETE FROM {table} WHERE user_key=?", (user_key,))
        with self._lock:
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

"""The consolidation state database: ``PSM_HOME/consolidation.sqlite3``, or PostgreSQL (``PSM_DATABASE_URL``).

```
jobs         durable queue: one pending job per user, leases with expiry, attempts, backoff
journal      the plan of a pass in progress (user key → plan JSON); a rerun resumes it
passes       per-user pass counter, last pass time and summary
conflicts    contradictions flagged for review (record ids only, never text)
resolutions  how each reviewed conflict was resolved, by whom, when
revisions    per-user revision of the shared state (:meth:`~psm_core.coordination.Database.bump_revision`)
```
Every table is keyed by the user key; :meth:`StateDB.erase_user` deletes a user's rows (and bumps
their revision, so every process sees the erase). SQL is written once for both engines
(:mod:`psm_core.coordination`).
"""

from __future__ import annotations

from pathlib import Path

from psm_core.coordination import Backend, Database, SQLiteBackend

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
CREATE TABLE IF NOT EXISTS revisions (user_key TEXT PRIMARY KEY, rev INTEGER NOT NULL);
"""
_USER_TABLES = ("jobs", "journal", "passes", "conflicts", "resolutions")


class StateDB(Database):
    """The queue, the journal, the pass counters and the review log, in one database.

    ``StateDB(path)`` opens (or creates) a SQLite file; ``StateDB(backend)`` uses a backend from
    :func:`psm_core.coordination.connect` (PostgreSQL for many processes).
    """

    def __init__(self, target: Path | Backend) -> None:
        super().__init__(SQLiteBackend(target) if isinstance(target, Path) else target)
        self.ensure(_SCHEMA)
        self._revisions = True

    @property
    def path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        return self.backend.path if isinstance(self.backend, SQLiteBackend) else None

    def erase_user(self, user_key: str) -> None:
        """Delete every row of the user ``user_key`` from every table and bump their revision; on SQLite
        no byte of them stays in the files (secure delete zeroes the pages, the checkpoint empties the log)."""
        self.delete_user(_USER_TABLES, user_key)
        self.bump_revision(user_key)
        self.reclaim()

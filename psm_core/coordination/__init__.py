"""Coordination state in a SQL database: SQLite embedded (the default), PostgreSQL for many processes.

```
Database            the engine-neutral API (base.py): tx, query, execute, revisions, named locks
Backend             one connection and one dialect (base.py)
├── SQLiteBackend   PSM_HOME/<name>.sqlite3 (sqlite.py)
└── PostgresBackend PSM_DATABASE_URL (postgres.py; extra ``postgres``)
connect()           the backend of a URL or a file;  backend_for()  the backend a PSMSettings selects
```
What lives there: the consolidation job queue, the pass journal, pass counters, the review log,
the feedback log and per-user revisions (docs/deployment.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from psm_core.coordination.base import Backend, Database, Tx
from psm_core.coordination.sqlite import SQLiteBackend
from psm_core.errors import ConfigurationError

if TYPE_CHECKING:
    from psm_core.config import PSMSettings

__all__ = ["Backend", "Database", "SQLiteBackend", "Tx", "backend_for", "connect"]


def connect(url: str | None, path: Path | None = None) -> Backend:
    """PostgreSQL at ``url`` (``postgresql://...``), or the SQLite file ``path`` when ``url`` is None."""
    if not url:
        if path is None:
            raise ConfigurationError("no database: pass a PostgreSQL URL or a SQLite file path")
        return SQLiteBackend(path)
    from psm_core.coordination.postgres import PostgresBackend

    return PostgresBackend(url)


def backend_for(settings: PSMSettings, filename: str) -> Backend:
    """The database ``settings`` select: ``database_url``, else ``home/filename`` (SQLite)."""
    return connect(settings.database_url, settings.home / filename)

"""The coordination database: what Chroma cannot give (compare-and-set, job claims, journals, logs).

```
Backend                 one connection and the SQL dialect of one engine (abstract)
├── SQLiteBackend       a file under PSM_HOME: WAL, autocommit, BEGIN IMMEDIATE (sqlite.py)
└── PostgresBackend     PSM_DATABASE_URL: row locks, SKIP LOCKED, advisory locks (postgres.py)
Database                the engine-neutral API every user of the state calls: tx, query, execute,
                        per-user revisions (compare-and-set), named locks
Tx                      the statements of one transaction (or of one autocommit read)
```
SQL is written once, in the dialect both engines accept: ``?`` placeholders (a backend translates
them), ``INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE`` (never ``INSERT OR IGNORE`` /
``INSERT OR REPLACE``), qualified columns in an upsert's ``SET`` (``passes.passes + 1``), and
:attr:`Database.for_update` / :attr:`Database.skip_locked` after a ``SELECT`` whose rows the
transaction goes on to change (empty on SQLite, where ``BEGIN IMMEDIATE`` already serializes writers).
DDL is written for SQLite; :meth:`Backend.ddl` adapts its types (``REAL`` → ``DOUBLE PRECISION``, ...).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

__all__ = ["Backend", "Database", "Tx"]

_REVISIONS = "CREATE TABLE IF NOT EXISTS revisions (user_key TEXT PRIMARY KEY, rev INTEGER NOT NULL)"


class Tx:
    """Statements of one transaction on a DB-API connection; ``?`` placeholders, rows as dicts or tuples."""

    def __init__(self, con: Any, translate: Callable[[str], str], *, returning_ids: bool) -> None:
        self._con = con
        self._sql = translate
        self._returning = returning_ids

    def _run(self, sql: str, args: Sequence[Any]) -> Any:
        cur = self._con.cursor()
        cur.execute(self._sql(sql), tuple(args))
        return cur

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; returns the rows it changed."""
        cur = self._run(sql, args)
        try:
            return int(cur.rowcount)
        finally:
            cur.close()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement for each of ``rows``; returns the rows changed in all."""
        if not rows:
            return 0
        cur = self._con.cursor()
        try:
            cur.executemany(self._sql(sql), [tuple(r) for r in rows])
            return int(cur.rowcount)
        finally:
            cur.close()

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query as tuples."""
        cur = self._run(sql, args)
        try:
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query as dicts (column name → value)."""
        cur = self._run(sql, args)
        try:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            cur.close()

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row of a query as a dict, or None."""
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def insert(self, sql: str, args: Sequence[Any], id_column: str) -> int:
        """Run an ``INSERT`` into a table with a generated integer key; returns the new row's ``id_column``."""
        if self._returning:
            return int(self.rows(f"{sql} RETURNING {id_column}", args)[0][0])
        cur = self._run(sql, args)
        try:
            return int(cur.lastrowid or 0)
        finally:
            cur.close()


class Backend(ABC):
    """One connection to one engine, and that engine's dialect. Thread-safe: one statement or transaction at a time."""

    name: str
    """``sqlite`` or ``postgresql``."""
    for_update: str = ""
    """Suffix of a ``SELECT`` whose rows the transaction changes next (a row lock where the engine has them)."""
    skip_locked: str = ""
    """Suffix of a ``SELECT`` that claims rows: rows locked by another transaction are passed over."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @abstractmethod
    def session(self, *, write: bool) -> AbstractContextManager[Tx]:
        """A transaction (``write``: all of it commits, or none of it) or an autocommit read session."""

    @abstractmethod
    def ddl(self, sql: str) -> str:
        """A DDL statement written for SQLite, in this engine's dialect."""

    @abstractmethod
    def columns_sql(self, table: str) -> tuple[str, tuple[Any, ...]]:
        """A query whose first column lists the columns of ``table``."""

    def schema_lock(self, tx: Tx) -> None:  # noqa: B027 - optional hook
        """Serialize schema changes of several processes (inside the DDL transaction)."""

    def lock(self, name: str) -> AbstractContextManager[None]:
        """A lock named ``name`` across processes (held until the block ends); a no-op where one process writes."""
        return _nothing()

    def reclaim(self, *, vacuum: bool = False) -> None:  # noqa: B027 - optional hook
        """Give deleted rows' space back and wipe them from the files (SQLite); the server's own vacuum elsewhere."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, for messages (never a password)."""

    @abstractmethod
    def close(self) -> None: ...


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class Database:
    """Engine-neutral access to a coordination database (``?`` placeholders; dialect from :class:`Backend`)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._revisions = False

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def for_update(self) -> str:
        return self.backend.for_update

    @property
    def skip_locked(self) -> str:
        return self.backend.skip_locked

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backend.describe()})"

    def close(self) -> None:
        self.backend.close()

    # -- statements -----------------------------------------------------------------------------
    def tx(self) -> AbstractContextManager[Tx]:
        """A write transaction: all of it commits, or none of it."""
        return self.backend.session(write=True)

    def read(self) -> AbstractContextManager[Tx]:
        """A session for several reads (autocommit: each statement sees the latest committed data)."""
        return self.backend.session(write=False)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        with self.backend.session(write=False) as tx:
            return tx.query(sql, args)

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query as tuples."""
        with self.backend.session(write=False) as tx:
            return tx.rows(sql, args)

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the rows changed."""
        with self.tx() as tx:
            return tx.execute(sql, args)

    def ensure(self, schema: str, migrate: Callable[[Tx], None] | None = None) -> None:
        """Create the tables of ``schema`` (``;``-separated SQLite DDL) when missing, then run ``migrate``;
        one process at a time, in one transaction."""
        with self.tx() as tx:
            self.backend.schema_lock(tx)
            for stmt in (s.strip() for s in schema.split(";")):
                if stmt:
                    tx.execute(self.backend.ddl(stmt))
            if migrate is not None:
                migrate(tx)

    def columns(self, tx: Tx, table: str) -> set[str]:
        """The column names of ``table``."""
        sql, args = self.backend.columns_sql(table)
        return {str(r[0]) for r in tx.rows(sql, args)}

    def delete_user(self, tables: Sequence[str], user_key: str) -> None:
        """Delete the rows of ``user_key`` from ``tables`` in one transaction."""
        with self.tx() as tx:
            for table in tables:
                tx.execute(f"DELETE FROM {table} WHERE user_key=?", (user_key,))

    def reclaim(self, *, vacuum: bool = False) -> None:
        self.backend.reclaim(vacuum=vacuum)

    def lock(self, name: str) -> AbstractContextManager[None]:
        """Hold the cross-process lock ``name`` for a block (PostgreSQL advisory lock; a no-op on SQLite,
        whose embedded home has one writer process). Not a thread lock: threads of one process share it."""
        return self.backend.lock(name)

    # -- per-user revisions ---------------------------------------------------------------------
    def _revision_table(self) -> None:
        if not self._revisions:
            self.ensure(_REVISIONS)
            self._revisions = True

    def revision(self, user_key: str) -> int:
        """The revision of a user's shared state (0 before the first bump)."""
        self._revision_table()
        row = self.one("SELECT rev FROM revisions WHERE user_key=?", (user_key,))
        return int(row["rev"]) if row else 0

    def bump_revision(self, user_key: str) -> int:
        """Count a change of the user's shared state; returns the new revision (atomic across processes)."""
        self._revision_table()
        with self.tx() as tx:
            tx.execute(
                "INSERT INTO revisions (user_key, rev) VALUES (?, 1) ON CONFLICT (user_key) DO UPDATE SET rev = revisions.rev + 1",
                (user_key,),
            )
            return int(tx.rows("SELECT rev FROM revisions WHERE user_key=?", (user_key,))[0][0])

    def compare_and_bump(self, user_key: str, expected: int) -> bool:
        """Bump the revision only when it is still ``expected`` (compare-and-set); False when another
        writer moved it first (reload, then retry)."""
        self._revision_table()
        with self.tx() as tx:
            if expected == 0:
                n = tx.execute(
                    "INSERT INTO revisions (user_key, rev) VALUES (?, 1) ON CONFLICT (user_key) DO NOTHING", (user_key,)
                )
            else:
                n = tx.execute("UPDATE revisions SET rev = rev + 1 WHERE user_key = ? AND rev = ?", (user_key, expected))
        return n == 1

"""The embedded coordination database: one SQLite file (WAL, autocommit, ``BEGIN IMMEDIATE`` writes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psm_core.coordination.base import Backend, Tx
from psm_core.errors import StoreError

__all__ = ["SQLiteBackend"]


def _same(sql: str) -> str:
    return sql


class SQLiteBackend(Backend):
    """One connection to a SQLite file, shared by the threads of a process.

    Writers are serialized by ``BEGIN IMMEDIATE``, so a ``SELECT`` then ``UPDATE`` in one transaction
    needs no row lock. Deleted rows are zeroed (``secure_delete``); :meth:`reclaim` empties the
    write-ahead log (and vacuums), so erased data leaves the files.
    """

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._con = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA secure_delete=ON")  # deleted rows (a journaled plan's texts) are zeroed
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}; run `psm doctor`") from exc
        self._closed = False

    def describe(self) -> str:
        return str(self.path)

    @contextmanager
    def session(self, *, write: bool) -> Iterator[Tx]:
        with self._lock:
            tx = Tx(self._con, _same, returning_ids=False)
            try:
                if not write:
                    yield tx
                    return
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    yield tx
                    self._con.execute("COMMIT")
                except BaseException:
                    if self._con.in_transaction:
                        self._con.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite database {self.path}: {exc}") from exc

    def ddl(self, sql: str) -> str:
        return sql

    def columns_sql(self, table: str) -> tuple[str, tuple[Any, ...]]:
        return "SELECT name FROM pragma_table_info(?)", (table,)

    def reclaim(self, *, vacuum: bool = False) -> None:
        with self._lock:
            if vacuum:
                self._con.execute("VACUUM")
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()

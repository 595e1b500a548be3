"""Maintenance of an embedded store's files: compaction (run in a child process) and ``psm doctor``.

```
compact(chroma_dir)   purge the log of deleted collections, optimize the full-text index, remove the
                      segment folders of deleted collections, VACUUM: nothing of an erased user is left
check(home)           integrity of chroma.sqlite3, consolidation.sqlite3 and feedback.sqlite3
repair(home)          for each damaged state file (consolidation, feedback): keep it as <file>.damaged-<time>,
                      rebuild it by VACUUM INTO, else by copying every readable row into a fresh file
salvage_records(db)   every readable (id, text, packed record) of a Chroma file, for ``psm doctor`` to
                      rebuild the store from (a record is its text and its packed fields; vectors are
                      recomputed)
```
Compaction runs as ``python -m psm_core.stores.maintenance compact DIR`` while the PSM holds its store
closed (:meth:`psm_core.stores.chroma.ChromaStore.compact`): Chroma's engine carries its own SQLite
library, and a second SQLite in the same process (Python's ``sqlite3``) releases the first one's POSIX
locks when it closes the file, which corrupts the database under traffic. ``check``/``repair`` run only
while no PSM has the home open (the CLI takes the home's lock first).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

__all__ = ["CHROMA_DB", "DATABASES", "FileHealth", "check", "compact", "parse_report", "repair", "salvage_records"]

CHROMA_DB = "chroma/chroma.sqlite3"
DATABASES = (CHROMA_DB, "consolidation.sqlite3", "feedback.sqlite3")
"""The SQLite files under a PSM home, relative to it."""

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REPORT = "psm-compact-report "


class FileHealth(BaseModel):
    """What ``psm doctor`` found (and did) for one database file."""

    path: str
    ok: bool
    problems: list[str] = []
    repaired: bool = False
    backup: str | None = None
    rows_copied: int | None = None
    rows_lost: int | None = None


def compact(chroma_dir: Path) -> dict[str, int]:
    """Compact Chroma's files under ``chroma_dir`` (no client may have them open in this process)."""
    db = chroma_dir / "chroma.sqlite3"
    if not db.exists():
        return {}
    before = db.stat().st_size
    con = sqlite3.connect(str(db), timeout=120, isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout=120000")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        purged = 0
        if "embeddings_queue" in tables and "collections" in tables:
            cur = con.execute(
                "DELETE FROM embeddings_queue WHERE topic NOT IN (SELECT 'persistent://default/default/' || id FROM collections)"
            )
            purged = max(0, cur.rowcount)
        if "embedding_fulltext_search" in tables:  # merge the index's segments: deleted rows' tokens go
            con.execute("INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES('optimize')")
        live = {r[0] for r in con.execute("SELECT id FROM segments")} if "segments" in tables else None
        removed = 0
        if live is not None:
            for d in chroma_dir.iterdir():
                if d.is_dir() and _UUID.fullmatch(d.name) and d.name not in live:
                    shutil.rmtree(d)
                    removed += 1
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    zeroed = sum(_zero_spare_capacity(d) for d in chroma_dir.iterdir() if d.is_dir() and _UUID.fullmatch(d.name))
    return {"log_rows": purged, "segment_dirs": removed, "spare_bytes_zeroed": zeroed, "bytes_before": before,
            "bytes_after": db.stat().st_size}  # fmt: skip


_HNSW_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")


def _zero_spare_capacity(segment: Path) -> int:
    """Zero the unused capacity of a vector segment's ``data_level0.bin``: the HNSW index allocates room for
    more elements than it holds and writes that room out as it found it in memory, which can hold any text
    the process handled (an erased user's too). The header says how much is in use; a file whose header does
    not read as expected is left alone. Returns the bytes zeroed."""
    header, data = segment / "header.bin", segment / "data_level0.bin"
    if not header.exists() or not data.exists():
        return 0
    raw = header.read_bytes()
    if len(raw) < _HNSW_HEADER.size:
        return 0
    version, _offset, max_elements, current, per_element, *_ = _HNSW_HEADER.unpack_from(raw)
    size = data.stat().st_size
    if version != 1 or per_element <= 0 or not 0 <= current <= max_elements or size != max_elements * per_element:
        return 0
    start = current * per_element
    if start >= size:
        return 0
    with data.open("r+b") as f:
        f.seek(start)
        left = size - start
        while left:
            n = min(left, 1 << 20)
            f.write(b"\0" * n)
            left -= n
    return size - start


def parse_report(stdout: str) -> dict[str, int]:
    """The report a compaction child printed (empty when it printed none)."""
    for line in stdout.splitlines():
        if line.startswith(_REPORT):
            return {k: int(v) for k, v in json.loads(line[len(_REPORT) :]).items()}
    return {}


def _integrity(path: Path) -> list[str]:
    """Problems ``PRAGMA integrity_check`` reports (empty when the file is sound)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows[:20]


def check(home: Path) -> list[FileHealth]:
    """The health of every database file under ``home`` (missing files are skipped)."""
    out = []
    for rel in DATABASES:
        path = home / rel
        if path.exists():
            problems = _integrity(path)
            out.append(FileHealth(path=str(path), ok=not problems, problems=problems))
    return out


def _salvage(src: Path, dst: Path) -> tuple[int, int]:
    """Copy every readable row of every table of ``src`` into a fresh ``dst`` with the same schema."""
    copied = lost = 0
    old = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    new = sqlite3.connect(str(dst))
    try:
        schema = old.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        tables = [(n, q) for t, n, q in schema if t == "table" and not n.startswith("sqlite_")]
        virtual = {n for n, q in tables if q.upper().startswith("CREATE VIRTUAL")}
        shadow = {n for n, _ in tables for v in virtual if n.startswith(v + "_")}
        for name, sql in tables:
            if name not in shadow:
                new.execute(sql)
        for name, _ in tables:
            if name in shadow or name in virtual:
                continue
            try:
                rows = old.execute(f'SELECT * FROM "{name}"')
                for row in rows:
                    try:
                        new.execute(f'INSERT INTO "{name}" VALUES ({",".join("?" * len(row))})', row)
                        copied += 1
                    except sqlite3.DatabaseError:
                        lost += 1
            except sqlite3.DatabaseError:
                lost += 1  # the rest of this table is unreadable
        for t, _, sql in schema:
            if t in ("index", "trigger", "view"):
                try:
                    new.execute(sql)
                except sqlite3.DatabaseError:
                    pass  # an index over rows that did not survive; the table is usable without it
        for v in virtual:  # rebuild full-text indexes from their content
            try:
                new.execute(f'INSERT INTO "{v}"("{v}") VALUES(\'rebuild\')')
            except sqlite3.DatabaseError:
                pass
        new.commit()
    finally:
        old.close()
        new.close()
    return copied, lost


def salvage_records(db: Path) -> tuple[list[tuple[str, str, str]], int]:
    """(record id, text, packed record JSON) of every record that can still be read from the Chroma file
    ``db``, and how many rows could not be read. Rows without a packed record (the user registry, sentence
    vectors) are skipped: both are rebuilt from the records."""
    out: list[tuple[str, str, str]] = []
    lost = 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        try:
            ids = [r[0] for r in con.execute("SELECT id FROM embeddings")]
        except sqlite3.DatabaseError:
            ids = list(range(1, 1 + _max_rowid(con)))  # the table's b-tree is damaged: probe row by row
        for rowid in ids:
            try:
                eid = con.execute("SELECT embedding_id FROM embeddings WHERE id=?", (rowid,)).fetchone()
                meta = dict(con.execute("SELECT key, string_value FROM embedding_metadata WHERE id=?", (rowid,)).fetchall())
            except sqlite3.DatabaseError:
                lost += 1
                continue
            packed, doc = meta.get("record"), meta.get("chroma:document")
            if eid is None or not isinstance(packed, str) or not packed.startswith("{"):
                continue
            out.append((eid[0], doc or "", packed))
    finally:
        con.close()
    return out, lost


def _max_rowid(con: sqlite3.Connection) -> int:
    for sql in ("SELECT max(id) FROM embedding_metadata", "SELECT seq FROM sqlite_sequence WHERE name='embeddings'"):
        try:
            row = con.execute(sql).fetchone()
            if row and row[0]:
                return int(row[0])
        except sqlite3.DatabaseError:
            continue
    return 0


def repair(home: Path) -> list[FileHealth]:
    """Rebuild every damaged state database under ``home`` (not Chroma's: ``psm doctor`` rebuilds that
    from :func:`salvage_records`); the damaged file is kept beside it."""
    out = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for health in check(home):
        if health.ok or health.path == str(home / CHROMA_DB):
            out.append(health)
            continue
        path = Path(health.path)
        backup = path.with_name(f"{path.name}.damaged-{stamp}")
        shutil.copy2(path, backup)
        fresh = path.with_name(f"{path.name}.rebuilt")
        fresh.unlink(missing_ok=True)
        copied = lost = None
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                con.execute("VACUUM INTO ?", (str(fresh),))
            finally:
                con.close()
            if _integrity(fresh):
                raise sqlite3.DatabaseError("the copy is damaged too")
        except sqlite3.DatabaseError:
            fresh.unlink(missing_ok=True)
            copied, lost = _salvage(path, fresh)
        for suffix in ("-journal", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        fresh.replace(path)
        problems = _integrity(path)
        out.append(
            FileHealth(path=str(path), ok=not problems, problems=problems or health.problems, repaired=True,
                       backup=str(backup), rows_copied=copied, rows_lost=lost)
        )  # fmt: skip
    return out


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "compact":
        report = compact(Path(argv[1]))
        sys.stdout.write(_REPORT + json.dumps(report) + "\n")
        return 0
    sys.stderr.write("usage: python -m psm_core.stores.maintenance compact CHROMA_DIR\n")
    return 2


if __name__ == "__main__":  # pragma: no cover - run as a child process by ChromaStore.compact
    sys.exit(main(sys.argv[1:]))

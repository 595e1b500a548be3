"""``psm doctor``: check (and with ``--repair`` rebuild) the files of an embedded PSM home.

```
psm doctor --home DIR            integrity of every database file, then every user's records decoded
psm doctor --home DIR --repair   rebuild damaged files (the damaged copy is kept beside each), then check
```
A damaged Chroma store is rebuilt from what can still be read of it: every record is its text plus its
packed fields, so the records are written into a fresh store and their vectors recomputed with the
home's embedder (sentence vectors come back with the next consolidation pass). The damaged ``chroma``
folder is kept as ``chroma.damaged-<time>``.
Runs only while no process has the home open (it takes the home's lock). Exit status 0 when the home is
healthy (after a repair, when the repair left it healthy), 1 otherwise. See docs/security.md.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from filelock import FileLock, Timeout

from psm_core.config import PSMSettings
from psm_core.errors import PSMError, StoreLockedError
from psm_core.stores.codec import from_chroma
from psm_core.stores.maintenance import CHROMA_DB, FileHealth, check, repair, salvage_records
from psm_core.types import MemoryRecord, Tier

__all__ = ["diagnose", "rebuild_chroma", "register"]


def rebuild_chroma(home: Path) -> FileHealth:
    """Rebuild the Chroma store of ``home`` from its readable records (the damaged folder is kept)."""
    from psm_core.index import record_vectors
    from psm_core.psm import PSM

    db = home / CHROMA_DB
    rows, lost = salvage_records(db) if db.exists() else ([], 0)
    records: list[MemoryRecord] = []
    for rid, doc, packed in rows:
        try:
            records.append(from_chroma(rid, doc, {"record": packed}))
        except PSMError:
            lost += 1
    backup = home / f"chroma.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    shutil.move(str(home / "chroma"), str(backup))
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        by_user: dict[tuple[str, Tier], list[MemoryRecord]] = {}
        for r in {r.id: r for r in sorted(records, key=lambda r: r.version)}.values():  # one copy per id
            by_user.setdefault((r.user_id, r.tier), []).append(r)
        for (user, tier), recs in sorted(by_user.items()):
            psm.store.register_user(user)
            psm.store.upsert(psm.for_user(user).key, tier, recs, record_vectors(lambda t: psm.embed(t, progress=True), recs))
    problems = check(home)[0].problems if check(home) else []
    return FileHealth(path=str(db), ok=not problems, problems=problems, repaired=True, backup=str(backup),
                      rows_copied=len(records), rows_lost=lost)  # fmt: skip


def diagnose(home: Path, *, fix: bool = False) -> tuple[list[FileHealth], dict[str, int], list[str]]:
    """(file health, records per user, problems found while decoding users) of the home ``home``."""
    lock = FileLock(str(home / ".psm.lock"), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise StoreLockedError(str(home), "is open in another process: close it before running psm doctor") from exc
    try:
        files = repair(home) if fix else check(home)
    finally:
        lock.release(force=True)
    chroma = str(home / CHROMA_DB)
    users, problems = _decode(home) if all(f.ok for f in files) else ({}, [])
    if fix and (problems or any(f.path == chroma and not f.ok for f in files)):
        files = [f for f in files if f.path != chroma] + [rebuild_chroma(home)]
        users, problems = _decode(home)
    return files, users, problems


def _decode(home: Path) -> tuple[dict[str, int], list[str]]:
    """Records per user, read through a PSM, and the problems met doing so."""
    from psm_core.psm import PSM

    users: dict[str, int] = {}
    problems: list[str] = []
    if not (home / "chroma").exists():
        return users, problems
    try:
        with PSM(PSMSettings(home=home, skill="baseline")) as psm:
            for user in psm.users():
                try:
                    users[user] = len(psm.for_user(user).records())
                except PSMError as exc:
                    problems.append(f"user {user!r}: {exc}")
    except PSMError as exc:
        problems.append(str(exc))
    return users, problems


def _doctor(args: argparse.Namespace) -> int:
    home = Path(args.home).expanduser() if getattr(args, "home", None) else PSMSettings().home
    if not home.exists():
        raise PSMError(f"no PSM home at {home}: pass --home DIR")
    files, users, problems = diagnose(home, fix=args.repair)
    for f in files:
        state = "ok" if f.ok else "DAMAGED"
        extra = (
            f" (rebuilt; damaged copy kept at {f.backup}" + (f", {f.rows_lost} rows unreadable" if f.rows_lost else "") + ")"
            if f.repaired
            else ""
        )
        print(f"{state:8} {f.path}{extra}")
        for p in [] if f.ok else f.problems[:5]:
            print(f"         {p}")
    if users:
        print(f"ok       {len(users)} users, {sum(users.values())} records decoded")
    for p in problems:
        print(f"PROBLEM  {p}")
    healthy = all(f.ok for f in files) and not problems
    if not healthy and not args.repair:
        print(f"run `psm doctor --home {home} --repair` to rebuild the damaged files (they are kept beside the new ones)")
    return 0 if healthy else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("doctor", help="check an embedded home's files; --repair rebuilds damaged ones")
    p.add_argument("--home", default=argparse.SUPPRESS, help="PSM_HOME to check (default: $PSM_HOME or ~/.psm)")
    p.add_argument("--repair", action="store_true", help="rebuild damaged database files (keeps the damaged copies)")
    p.set_defaults(func=_doctor)

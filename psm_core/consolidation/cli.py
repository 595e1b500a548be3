"""``psm consolidate``, ``psm review``, ``psm resolve`` and ``psm worker`` subcommands."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime

from psm_core.commands import known_user, open_psm, table
from psm_core.consolidation.pass_ import PassReport
from psm_core.consolidation.worker import Worker
from psm_core.errors import PSMError

__all__ = ["register", "summary_table"]

_COLUMNS = (
    "facts_created",
    "facts_merged",
    "superseded",
    "flagged",
    "archived",
    "decay_updated",
    "reinforced",
    "feedback_applied",
)
_HEADERS = ("user", "episodes", "facts", "merged", "superseded", "flagged", "archived", "decay", "reinforced", "feedback", "s")


def summary_table(reports: dict[str, PassReport]) -> str:
    """A table of what each pass changed, with a total row."""
    rows: list[list[object]] = []
    for user, r in reports.items():
        rows.append([user, r.episodes, *(getattr(r, c) for c in _COLUMNS), f"{r.seconds:.2f}"])
    if len(reports) > 1:
        total = [sum(int(row[i]) for row in rows) for i in range(1, 2 + len(_COLUMNS))]  # type: ignore[call-overload]
        rows.append(["(total)", *total, f"{sum(r.seconds for r in reports.values()):.2f}"])
    return table(rows, _HEADERS)


def _now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise PSMError(f"--now {value!r} is not an ISO time such as 2024-05-01T12:00:00+00:00") from None
    if when.tzinfo is None:
        raise PSMError("--now must carry a timezone, e.g. 2024-05-01T12:00:00+00:00")
    return when


def _consolidate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    with open_psm(args, **({"skill": args.skill} if args.skill else {})) as psm:
        users = psm.users() if args.all else [known_user(psm, args.user)]
        reports: dict[str, PassReport] = {}
        t0 = time.perf_counter()
        bar = tqdm(users, desc="consolidating", unit="user", disable=args.quiet or None, file=sys.stderr)
        for user in bar:
            bar.set_postfix_str(user[:24])
            reports[user] = psm.consolidate(user, now=_now(args.now))
        if not reports:
            print("no users to consolidate")
            return 0
        print(summary_table(reports))
        changed = sum(sum(r.changes().values()) for r in reports.values())
        episodes = sum(r.episodes for r in reports.values())
        took = time.perf_counter() - t0
        print(
            f"\n{len(reports)} user(s) in {took:.1f}s ({len(reports) / max(took, 1e-9):.2f} users/s), {episodes} episodes read, "
            f"{changed} changes (skill: {psm.skill.name})"
        )
        for user in reports:
            open_conflicts = psm.for_user(user).review_queue()
            if open_conflicts:
                print(f"{user}: {len(open_conflicts)} conflict(s) await review: psm review --user {user}")
    return 0


def _review(args: argparse.Namespace) -> int:
    with open_psm(args) as psm:
        conflicts = psm.for_user(known_user(psm, args.user)).review_queue(include_resolved=args.all)
        if not conflicts:
            print("nothing to review")
            return 0
        rows = [[c.conflict_id, c.state, c.keep or "", (c.new_text or "?")[:50], (c.old_text or "?")[:50]] for c in conflicts]
        print(table(rows, ["conflict", "state", "kept", "new", "old"]))
    return 0


def _resolve(args: argparse.Namespace) -> int:
    with open_psm(args) as psm:
        c = psm.for_user(known_user(psm, args.user)).resolve(args.conflict, keep=args.keep, source="cli")
        print(f"resolved {c.conflict_id}: kept {c.keep}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    with open_psm(args, create=True) as psm:
        if args.once:
            reports = Worker(psm.consolidation, idle_minutes=args.idle_minutes).run_once()
            print(summary_table({r.user_id: r for r in reports}) if reports else "no jobs due")
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with psm.worker(poll_seconds=args.poll, idle_minutes=args.idle_minutes) as w:
            print(
                f"consolidation worker {w.owner} running on the queue in {psm.consolidation.db!r}; Ctrl-C to stop",
                file=sys.stderr,
            )
            stop.wait()
        print(f"stopped: {w.processed} jobs done, {w.failed} failed", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("consolidate", help="run a sleep-time consolidation pass (one user or all) and summarize the changes")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the user to consolidate")
    who.add_argument("--all", action="store_true", help="every user with persistent memories")
    p.add_argument("--now", help="user time of the pass (ISO 8601 with offset; default: the user's latest activity)")
    p.add_argument("--skill", help="memory skill to use (default: settings)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_consolidate)
    p = sub.add_parser("review", help="list the conflicts consolidation flagged for review")
    p.add_argument("--user", required=True)
    p.add_argument("--all", action="store_true", help="include resolved conflicts")
    p.set_defaults(func=_review)
    p = sub.add_parser("resolve", help="resolve a flagged conflict (keep the new fact, the old one, or both)")
    p.add_argument("--user", required=True)
    p.add_argument("conflict", help="conflict id from `psm review`")
    p.add_argument("--keep", required=True, choices=["new", "old", "both"])
    p.set_defaults(func=_resolve)
    p = sub.add_parser("worker", help="run the background consolidation worker in the foreground")
    p.add_argument("--once", action="store_true", help="run the jobs due now, then exit")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between looks for work")
    p.add_argument("--idle-minutes", type=float, default=15.0, help="queue users idle this long")
    p.set_defaults(func=_worker)

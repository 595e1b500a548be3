"""``psm learn``: update the shared utility policy from the feedback log, show its status, roll back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from psm_core.commands import table
from psm_core.config import PSMSettings
from psm_core.errors import PSMError
from psm_core.feedback.learn import LearnReport, update_policy
from psm_core.feedback.log import FeedbackLog
from psm_core.feedback.versions import PolicyStore

__all__ = ["register", "summary"]


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home).expanduser() if getattr(args, "home", None) else PSMSettings().home


def _name(version: int | None) -> str:
    return f"v{version}" if version else "none (the skill alone)"


def summary(rep: LearnReport) -> str:
    """A plain-text summary of one learning run."""
    rows: list[list[object]] = [
        ["feedback events", rep.events],
        ["train / held out", f"{rep.train_events} / {rep.holdout_events}"],
        ["held-out events judged", rep.holdout_scored],
        ["held-out NDCG@5: skill alone", f"{rep.ndcg_base:.4f}"],
        ["held-out NDCG@5: current policy", f"{rep.ndcg_current:.4f}"],
        ["held-out NDCG@5: new policy", f"{rep.ndcg_candidate:.4f}"],
        ["decay head", "used" if rep.decay_used else "not used (no held-out gain)"],
        ["decision", rep.reason],
        ["active version", f"v{rep.version}" if rep.version else "none"],
    ]
    if rep.dropped_events:
        rows.insert(1, ["skipped (policy version missing)", rep.dropped_events])
    return table(rows, ["", ""])


def _status(store: PolicyStore, log_path: Path) -> str:
    lines = [f"policy directory: {store.root}", f"active: {_name(store.active_version())}"]
    rows = []
    for v in store.versions():
        m = store.manifest(v)
        met = m.get("metrics", {})
        rows.append([f"v{v}", f"v{m.get('parent')}" if m.get("parent") else "-", m.get("created_at", ""),
                     met.get("events", ""), met.get("ndcg_current", ""), met.get("ndcg_candidate", ""),
                     "*" if v == store.active_version() else ""])  # fmt: skip
    lines.append(
        table(rows, ["version", "parent", "created", "events", "NDCG before", "NDCG after", "active"])
        if rows
        else "(no versions)"
    )
    if log_path.exists():
        log = FeedbackLog(log_path)
        try:
            counts = log.counts()
        finally:
            log.close()
        lines.append(table([[k, v] for k, v in counts.items()], ["feedback log", "count"]))
    else:
        lines.append("(no feedback log yet)")
    return "\n".join(lines)


def _learn(args: argparse.Namespace) -> int:
    home = _home(args)
    if not home.is_dir():
        raise PSMError(f"no PSM home at {home}: pass --home DIR or set PSM_HOME")
    store = PolicyStore(home / "policy")
    log_path = home / "feedback.sqlite3"
    if args.status:
        print(_status(store, log_path))
        return 0
    if args.rollback is not None:
        try:
            version = None if args.rollback == "parent" else int(args.rollback.lstrip("v"))
        except ValueError:
            raise PSMError(f"--rollback {args.rollback!r} is not a version such as v3 (or 0 for no policy)") from None
        got = store.rollback(version)
        print(f"active utility policy: {_name(got)}")
        return 0
    if not log_path.exists():
        print(f"no feedback log at {log_path}: nothing to learn from yet")
        return 1
    from tqdm.auto import tqdm

    log = FeedbackLog(log_path)
    try:
        with tqdm(total=args.iters, desc="learning", unit="step", file=sys.stderr, disable=args.quiet or None) as bar:

            def progress(i: int, total: int) -> None:
                bar.update(i - bar.n)

            rep = update_policy(
                log,
                store,
                progress=progress,
                min_events=args.min_events,
                margin=args.margin,
                holdout=args.holdout,
                iters=args.iters,
            )
    finally:
        log.close()
    print(summary(rep))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("learn", help="learn the shared utility policy from the feedback log (safety-gated, versioned)")
    p.add_argument("--min-events", type=int, default=200, help="feedback events (retrievals with outcomes) needed (default 200)")
    p.add_argument("--margin", type=float, default=0.005, help="held-out NDCG gain a new policy needs (default 0.005)")
    p.add_argument("--holdout", type=float, default=0.2, help="newest share of events held out for the gate (default 0.2)")
    p.add_argument("--iters", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--status", action="store_true", help="show versions, the active one and the log's counts")
    p.add_argument(
        "--rollback", nargs="?", const="parent", metavar="VERSION",
        help="activate VERSION (0: no policy), or without a value the version the active one replaced",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_learn)

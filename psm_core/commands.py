"""Core ``psm`` subcommands: demo, inspect, export, import, profile, erase."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from psm_core.config import PSMSettings
from psm_core.errors import PSMError
from psm_core.psm import PSM
from psm_core.types import MemoryRecord

__all__ = ["known_user", "open_psm", "register", "table"]

DEMO_SESSIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "2024-03-02T18:00:00+00:00",
        [
            ("user", "Hi there!"),
            ("user", "I just moved to Lisbon with my partner Ana, we rent a flat in Alfama."),
            ("assistant", "Welcome to Lisbon! How are you settling in?"),
            ("user", "Pretty well. I'm vegetarian, so finding good food nearby matters a lot to me."),
            ("user", "ok thanks"),
            ("user", "My sister Mia is visiting on April 12, she loves surfing."),
        ],
    ),
    (
        "2024-03-20T09:30:00+00:00",
        [
            ("user", "Good morning"),
            ("user", "I started a new job as a data engineer at a fintech startup."),
            ("user", "The commute is long, I take the 728 bus every day."),
            ("user", "lol"),
            ("user", "I'm worried about my dog Bruno, he has been sick all week."),
        ],
    ),
    (
        "2024-04-10T20:15:00+00:00",
        [
            ("user", "Mia's visit is in two days, any surf spots near Lisbon?"),
            ("user", "Also Ana and I are thinking of adopting a second dog."),
        ],
    ),
]
DEMO_QUERIES = [
    "Where does the user live and with whom?",
    "Any dietary restrictions for restaurant suggestions?",
    "When is the sister coming and what does she like?",
    "How is the user's dog doing?",
]


def open_psm(args: argparse.Namespace, *, create: bool = False, **overrides: Any) -> PSM:
    """A PSM for a CLI command (``--home`` overrides PSM_HOME); an embedded home that does not exist is
    an error unless ``create`` (a command that only reads must not leave an empty home behind)."""
    if getattr(args, "home", None):
        overrides["home"] = Path(args.home)
    settings = PSMSettings(**overrides)
    if settings.server is None and not create:
        if not settings.home.exists():
            raise PSMError(f"no PSM home at {settings.home}: pass --home DIR or set PSM_HOME")
        if not settings.home.is_dir():
            raise PSMError(f"PSM home {settings.home} is not a directory: pass --home DIR or set PSM_HOME")
    return PSM(settings)


def known_user(psm: PSM, user_id: str) -> str:
    """``user_id`` when ``psm`` holds memories of it; a :class:`PSMError` saying so plainly otherwise."""
    from psm_core.text import validate_user_id

    validate_user_id(user_id)
    if user_id not in psm.users():
        where = psm.settings.home if psm.settings.server is None else psm.settings.chroma_url or "the Chroma server"
        raise PSMError(f"no memories of user {user_id!r} in {where}")
    return user_id


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [" | ".join(c.ljust(w) for c, w in zip(cells[0], widths)), line]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(out)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _record_rows(records: Sequence[MemoryRecord]) -> list[list[object]]:
    return [
        [
            r.id[:8],
            r.tier.value,
            r.kind.value,
            r.status.value,
            f"{r.strength:.2f}",
            r.recall_count,
            r.observed_at.strftime("%Y-%m-%d"),
            _short(r.text),
        ]
        for r in records
    ]


_HEADERS = ["id", "tier", "kind", "status", "strength", "recalls", "observed", "text"]


def _demo(args: argparse.Namespace) -> int:
    tmp = None
    home = args.home
    if not home:
        tmp = tempfile.TemporaryDirectory(prefix="psm-demo-")
        home = tmp.name
    out = sys.stdout
    with PSM(PSMSettings(home=Path(home), **({"skill": args.skill} if args.skill else {}))) as psm:
        mem = psm.for_user("demo-user")
        out.write(f"PSM demo — store at {home}, skill: {psm.skill.name}, embedder: {psm.embedder.name}\n")
        for n, (start, turns) in enumerate(DEMO_SESSIONS, 1):
            t0 = datetime.fromisoformat(start)
            out.write(f"\n== Session {n} ({t0:%Y-%m-%d})\n")
            for i, (role, text) in enumerate(turns):
                rec = mem.observe(text, role=role, session_id=f"session-{n}", timestamp=t0 + timedelta(minutes=2 * i))
                verdict = "kept → episodic" if rec.tier.value == "episodic" else "working only"
                out.write(f"  {role:>9}: {_short(text, 70):72} [{verdict}, {rec.kind.value}]\n")
            if n == 2:
                mem.remember("The user's partner is called Ana.", kind="relation", timestamp=t0)
        out.write("\n== Recall (user time: " + mem.now().strftime("%Y-%m-%d") + ")\n")
        for q in DEMO_QUERIES:
            res = mem.recall(q, k=3)
            out.write(f"\n? {q}\n")
            for m in res:
                out.write(f"  {m.score:6.3f}  [{m.tier.value}] {_short(m.text, 80)}\n")
        stats = mem.stats()
        out.write("\n== Tiers\n")
        out.write(table([[t, c] for t, c in stats.tiers.items()], ["tier", "records"]) + "\n")
        out.write("\n== Memories\n")
        out.write(table(_record_rows(mem.records()), _HEADERS) + "\n")
        out.write("\n== Prompt context for: 'Plan a dinner for me and my sister'\n")
        out.write(mem.recall("Plan a dinner for me and my sister", k=4).format_context() + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


def _inspect(args: argparse.Namespace) -> int:
    with open_psm(args) as psm:
        mem = psm.for_user(known_user(psm, args.user))
        recs = mem.records(args.tier) if args.tier else mem.records()
        stats = mem.stats()
        print(table([[t, c] for t, c in stats.tiers.items() if t not in ("sensory", "working")], ["tier", "records"]))
        print()
        print(table(_record_rows(recs[-args.limit :] if args.limit else recs), _HEADERS) if recs else "(no memories)")
    return 0


def _export(args: argparse.Namespace) -> int:
    with open_psm(args) as psm:
        text = psm.for_user(known_user(psm, args.user)).export(args.out)
    if not args.out:
        sys.stdout.write(text)
    return 0


def _import(args: argparse.Namespace) -> int:
    source = Path(args.path)
    if not source.is_file():
        raise PSMError(f"no file at {source}: pass --in FILE, a file written by `psm export`")
    with open_psm(args, create=True) as psm:
        recs = psm.for_user(args.user).import_records(source, as_user=args.as_user)
    tiers: dict[str, int] = {}
    for r in recs:
        tiers[r.tier.value] = tiers.get(r.tier.value, 0) + 1
    detail = ", ".join(f"{n} {t}" for t, n in tiers.items())
    print(f"imported {len(recs)} records of user {args.user!r}" + (f" ({detail})" if detail else ""))
    return 0


def _profile(args: argparse.Namespace) -> int:
    as_of = None
    if args.as_of:
        try:
            as_of = datetime.fromisoformat(args.as_of)
        except ValueError:
            raise PSMError(f"--as-of {args.as_of!r} is not an ISO date such as 2024-03-04 or 2024-03-04T12:00+00:00") from None
        as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    with open_psm(args) as psm:
        prof = psm.for_user(known_user(psm, args.user)).profile(as_of=as_of)
    when = f"as of {as_of:%Y-%m-%d %H:%M}" if as_of else "now"
    if not len(prof):
        print(f"no facts about {args.user!r} {when}")
        return 0
    print(f"Facts about {args.user!r} {when}:")
    rows = [[f.attribute, f.role, f"{f.valid_from:%Y-%m-%d}" if f.valid_from else "", f.status.value, len(f.provenance), _short(f.text, 70)]
            for f in prof.facts()]  # fmt: skip
    print(table(rows, ["attribute", "speaker", "since", "status", "sources", "fact"]))
    return 0


def _erase(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise PSMError("psm erase asks for confirmation on a terminal: pass --yes to erase without asking")
        try:
            answer = input(f"Erase every memory of user {args.user!r}? This cannot be undone [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("aborted")
            return 1
    with open_psm(args) as psm:
        mem = psm.for_user(args.user)
        try:
            known_user(psm, args.user)
        except PSMError as exc:  # erased all the same: a log (feedback, jobs) may name a user without memories
            mem.erase()
            raise PSMError(f"{exc}; any logs naming it are erased") from None
        mem.erase()
        psm.compact()
    print(f"erased user {args.user!r}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="offline scripted multi-session conversation: observe, recall, show the tiers")
    p.add_argument("--skill", help="memory skill to use (default: settings)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("inspect", help="show a user's memories by tier")
    p.add_argument("--user", required=True)
    p.add_argument("--tier", choices=["episodic", "semantic", "archival"])
    p.add_argument("--limit", type=int, default=50, help="show the latest N records (0: all)")
    p.set_defaults(func=_inspect)
    p = sub.add_parser("export", help="export a user's memories as JSON lines")
    p.add_argument("--user", required=True)
    p.add_argument("--out", help="file to write (default: stdout)")
    p.set_defaults(func=_export)
    p = sub.add_parser("import", help="import a user's memories from the JSON lines of `psm export` (same ids and tiers)")
    p.add_argument("--user", required=True)
    p.add_argument("--in", dest="path", required=True, metavar="FILE", help="JSON lines written by `psm export`")
    p.add_argument("--as-user", dest="as_user", action="store_true", help="import records of another user id as --user's")
    p.set_defaults(func=_import)
    p = sub.add_parser("profile", help="a user's facts by attribute: current, or as believed at a date")
    p.add_argument("--user", required=True)
    p.add_argument("--as-of", dest="as_of", help="ISO date or time in the user's timeline (default: now)")
    p.set_defaults(func=_profile)
    p = sub.add_parser("erase", help="erase everything of a user (every tier, every log)")
    p.add_argument("--user", required=True)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_erase)

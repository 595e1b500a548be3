"""The ``psm`` command line. Subcommands live in their own modules and register here.

Each module in :data:`COMMAND_MODULES` defines ``register(subparsers)`` adding its subcommands,
each with ``set_defaults(func=handler)`` where ``handler(args) -> int``. ``--home`` and ``-v`` are
accepted before or after the subcommand (every subparser gets them here).

Every failure is one line on stderr and a non-zero exit: ``psm: error: ...`` (status 1; 2 for usage),
a traceback only with ``-v``. The one-time model exports announce themselves on stderr as ``psm: ...``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "main"]

COMMAND_MODULES = (
    "psm_core.commands",
    "psm_core.setup_cli",
    "psm_core.doctor_cli",
    "psm_core.skill.training.cli",
    "psm_core.consolidation.cli",
    "psm_core.feedback.cli",
)
_HOME_HELP = "PSM_HOME for this command (default: $PSM_HOME or ~/.psm)"


def _common_options(parser: argparse.ArgumentParser) -> None:
    """``--home`` and ``-v`` on a subparser (SUPPRESS: absent unless given, so the top-level value stays)."""
    for flags, kwargs in (
        (("--home",), {"help": _HOME_HELP}),
        (("-v", "--verbose"), {"action": "store_true", "help": "log INFO lines; tracebacks on errors"}),
    ):
        try:
            parser.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]
        except argparse.ArgumentError:  # the subcommand defines it already
            pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psm", description="PSM: tiered long-term memory curated by a small model")
    parser.add_argument("--home", help=_HOME_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO lines; tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    for subparser in {id(p): p for p in sub.choices.values()}.values():
        _common_options(subparser)
    return parser


class _StderrLine(logging.Handler):
    """``psm: <message>`` on the current ``sys.stderr`` (looked up per line, so redirection is followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"psm: {record.getMessage()}\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - a closed stderr
            self.handleError(record)


def _show_setup_lines(verbose: bool) -> None:
    """The one-time model export lines (``psm_core.setup``) as plain ``psm:`` lines, not log records."""
    log = logging.getLogger("psm_core.setup")
    if not any(isinstance(h, _StderrLine) for h in log.handlers):
        log.addHandler(_StderrLine())
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _show_setup_lines(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from psm_core.errors import PSMError

    try:
        return int(args.func(args) or 0)
    except PSMError as exc:
        _error(str(exc), args.verbose)
    except KeyboardInterrupt:
        print("psm: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a path that cannot be read or written
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}", args.verbose)
    except Exception as exc:  # noqa: BLE001 - one line for anything else; -v shows where it came from
        _error(f"{type(exc).__name__}: {exc}" + ("" if args.verbose else " (run with -v for the traceback)"), args.verbose)
    return 1


def _error(message: str, verbose: bool) -> None:
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(f"psm: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``psm`` command line. Subcommands live in their own modules and register here.

Each module in :data:`COMMAND_MODULES` defines ``register(subparsers)`` adding its subcommands,
each with ``set_defaults(func=handler)`` where ``handler(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "main"]

COMMAND_MODULES = (
    "psm_core.commands",
    "psm_core.doctor_cli",
    "psm_core.skill.training.cli",
    "psm_core.consolidation.cli",
    "psm_core.feedback.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psm", description="PSM: tiered long-term memory curated by a small model")
    parser.add_argument("--home", help="PSM_HOME for this command (default: $PSM_HOME or ~/.psm)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from psm_core.errors import PSMError

    try:
        return int(args.func(args) or 0)
    except PSMError as exc:
        print(f"psm: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

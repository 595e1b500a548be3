"""``python -m benchmarks NAME [options]``: run one benchmark and write its results."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shlex
import sys
from collections.abc import Sequence

OWN = {
    "locomo": "LoCoMo evidence recall@k per category",
    "longmemeval": "LongMemEval_S session recall_all/any@k and ndcg_any@k per question type",
    "latency": "observe/recall latency at growing store sizes beside the raw Chroma floor",
    "diagnose": "per-category losses of PSM against the baselines, with examples",
    "memops": "memory operations (updates, corrections, complements, noise) on scenarios, LongMemEval KU and BEAM",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bm25s", "chromadb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if argv and argv[0] not in OWN and not argv[0].startswith("-"):
        # another benchmark module of this package (e.g. skill_eval) with its own main(argv)
        try:
            mod = importlib.import_module(f"benchmarks.{argv[0]}")
        except ModuleNotFoundError:
            mod = None
        if mod is not None and callable(getattr(mod, "main", None)):
            return int(mod.main(argv[1:]) or 0)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="name", required=True)
    for name, help_text in OWN.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--out-dir", default=None, help="where results go (default benchmarks/results)")
        importlib.import_module(f"benchmarks.{name}").add_arguments(p)
    args = parser.parse_args(argv)
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv)
    importlib.import_module(f"benchmarks.{args.name}").run(args, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

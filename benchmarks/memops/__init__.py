"""Memory operations on conversation (issue 25): updates, complements, restatements, corrections, contradictions, noise.

``python -m benchmarks memops [--data DIR] [--split test|train|all] [--systems baseline,psm-mini] [--live|--bulk]
[--lme-limit N] [--beam-limit N] [--limit N] [--out NAME]``

```
scenarios/{train,test}.jsonl   the committed suite (>= 150 short multi-session conversations with expectations)
authoring, authored_train, authored_test, build   the hand-written sources and the builder of those files
scenarios      loading, validation, value matching        harness   ingest one scenario, score its operations
external       LongMemEval_S knowledge-update and BEAM 100K   runner    systems side by side, tables, result files
```
Each system (``baseline``: PSMSettings(skill="baseline"); ``psm-mini``: the shipped default skill;
``name=skill`` for any other skill or weights directory) runs in one PSM home, one user per scenario
(per LongMemEval question, per BEAM chat), every turn through ``observe()`` (``--bulk`` adds one
``observe_many`` per session beside it), measured before and after one ``psm.consolidate(user)``.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks.data import DATA_ROOT

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=str, default=str(DATA_ROOT), help="the data folder (longmemeval/, beam/ inside)")
    p.add_argument("--split", choices=("test", "train", "all"), default="all", help="scenario split (default all)")
    p.add_argument("--systems", default="baseline,psm-mini", help="comma list: baseline, psm-mini, or name=skill")
    path = p.add_mutually_exclusive_group()
    path.add_argument("--live", action="store_true", help="one observe() per turn (the default)")
    path.add_argument("--bulk", action="store_true", help="also ingest with one observe_many per session, reported beside")
    p.add_argument("--limit", type=int, default=None, help="N scenarios only, round-robin over the types")
    p.add_argument("--lme-limit", type=int, default=None, help="LongMemEval KU questions, evenly spaced (0: skip; default all)")
    p.add_argument("--beam-limit", type=int, default=None, help="first N BEAM chats (0: skip; default all 20)")
    p.add_argument("--out", default="memops", help="result file stem (default: memops)")


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from benchmarks.memops.runner import run as _run

    return _run(args, command)

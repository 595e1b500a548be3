"""What the opt-in reranker costs a recall, on real candidate lists.

    python -m benchmarks rerank_cost [--data PATH] [--conv conv-43] [--questions 60] [--depth 20] [--out rerank_cost]

One LoCoMo conversation is observed turn by turn into a fresh PSM; for each of its first ``--questions``
questions, recall gives the skill's best ``--depth`` candidates, rendered as the cross-encoder reads them
(``psm_core.rerank.rerank_text``). Side by side, per question, alternating so background load hits all
alike, with no pair cache:

* the ``depth`` pairs as one batch padded to its longest pair (the cross-encoder before length bucketing);
* the same pairs sorted by length in batches of 8, each padded to its own longest (``CrossEncoder`` now);
* ``recall(k=10)`` and ``recall(k=10, rerank=depth)`` end to end (a fresh pair cache for each question).

Prints p50/p95 ms of each and the largest logit difference between the two batchings; writes
``benchmarks/results/<out>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.data import DEFAULT_LOCOMO, load_locomo
from benchmarks.metrics import percentile
from benchmarks.report import environment, md_table

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks rerank_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--data", type=Path, default=DEFAULT_LOCOMO, help="a LoCoMo file (default: ../shared/data dev split)")
    ap.add_argument("--conv", default="conv-43", help="sample_id of the conversation (default: conv-43)")
    ap.add_argument("--questions", type=int, default=60, help="questions timed (default: 60)")
    ap.add_argument("--depth", type=int, default=20, help="candidates reranked (default: 20, the documented setting)")
    ap.add_argument("--out", default="rerank_cost", help="result file stem")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.depth < 2 or args.questions < 1:
        ap.error("--depth must be at least 2 and --questions at least 1")

    from psm_core import PSM, PSMSettings
    from psm_core.rerank import _BUCKET, rerank_text

    convs = {c.sample_id: c for c in load_locomo(args.data)}
    if args.conv not in convs:
        ap.error(f"no conversation {args.conv!r} in {args.data} (has {', '.join(sorted(convs))})")
    conv = convs[args.conv]
    times: dict[str, list[float]] = {"one padded batch": [], f"length buckets of {_BUCKET}": [],
                                     "recall k=10": [], f"recall k=10, rerank={args.depth}": []}  # fmt: skip
    diff = 0.0
    with tempfile.TemporaryDirectory(prefix="psm-rerank-cost-") as tmp, PSM(PSMSettings(home=Path(tmp))) as psm:
        mem = psm.for_user(conv.sample_id)
        mem.observe_many(
            [{"text": t.text, "role": t.speaker, "session_id": f"S{t.session}", "timestamp": t.time} for t in conv.turns]
        )
        ce = psm.cross_encoder  # the one recall uses
        questions = [q.question for q in conv.questions][: args.questions]
        for q in questions[:3]:  # warm-up: sessions, index, caches of the embedder
            mem.recall(q, k=10, rerank=args.depth)
        for q in questions:
            texts = [rerank_text(m.record) for m in mem.recall(q, k=args.depth)]
            t0 = time.perf_counter()
            one = ce._score(texts, q, bucket=len(texts))
            t1 = time.perf_counter()
            bucketed = ce._score(texts, q)
            t2 = time.perf_counter()
            times["one padded batch"].append((t1 - t0) * 1000)
            times[f"length buckets of {_BUCKET}"].append((t2 - t1) * 1000)
            diff = max(diff, float(np.abs(one - bucketed).max()))
            t0 = time.perf_counter()
            mem.recall(q, k=10)
            t1 = time.perf_counter()
            ce._cache.clear()
            t2 = time.perf_counter()
            mem.recall(q, k=10, rerank=args.depth)
            t3 = time.perf_counter()
            times["recall k=10"].append((t1 - t0) * 1000)
            times[f"recall k=10, rerank={args.depth}"].append((t3 - t2) * 1000)
    rows = [(name, len(v), percentile(v, 50), percentile(v, 95)) for name, v in times.items()]
    env = environment()
    table = md_table(["what", "calls", "p50 ms", "p95 ms"], rows)
    out = {"command": "python -m benchmarks rerank_cost " + " ".join(argv or []), "conv": args.conv, "depth": args.depth,
           "max_logit_difference": diff, "rows": [dict(zip(("what", "calls", "p50_ms", "p95_ms"), r)) for r in rows],
           "environment": env}  # fmt: skip
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.out}.json").write_text(json.dumps(out, indent=2))
    md = (f"# Reranker cost per recall\n\nCommand: `{out['command'].strip()}`  \nData: `{args.data}` ({args.conv}, "
          f"{len(conv.turns)} turns, {len(questions)} questions)  \nDate: {env['date']}, commit {env['git_commit']}, "
          f"{env['cpu_count']} CPUs, load {env['load_avg_1m']:.2f}\n\n{table}\n\nLargest logit difference between "
          f"the two batchings: {diff:.2g}.\n")  # fmt: skip
    (args.out_dir / f"{args.out}.md").write_text(md)
    print(md)
    return 0

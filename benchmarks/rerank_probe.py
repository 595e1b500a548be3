"""The cross-encoder reranker on recorded recall lists: every head depth and mixing weight in one run.

    python -m benchmarks rerank_probe --source locomo|longmemeval [--data PATH] [--adapter FILE] [--limit N]
                                      [--consolidate] [--depths 10,20,30] [--weights 0.25,0.5,1.0]
                                      [--session-weights 0,0.3]

Records each question's candidate list through the public API (``benchmarks.lists.record`` with the
candidates' texts), scores the skill's best ``max(depths)`` candidates of each list with the cross-encoder
once, then ranks every list again as ``recall(rerank=N)`` does (``psm_core.rerank.rerank_order`` over the
head of N, the rest in the skill's order, then ``psm_core.rerank.session_support`` over the whole list with
weight S; S = 0 leaves that step out) for each depth N, weight B and S, beside the skill's own ranking.
Prints LoCoMo recall@10 or LongMemEval recall_all@5 / recall_any@5 on the held-out split, the split
PSM-mini and the reranker were trained on, and all, plus the cross-encoder's cost per recall at each
depth; writes ``benchmarks/results/<out>.json`` and ``.md``. The benchmarks themselves run the reranker
through ``recall`` with ``--rerank N``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.lists import CACHE, evaluate, record
from benchmarks.report import environment, md_table, progress
from psm_core.rerank import SESSION_WEIGHT, rerank_order, session_support
from psm_core.skill.training import weak
from psm_core.skill.training.recall_lists import QueryResult

__all__ = ["main", "reranked_scores"]

RESULTS = Path(__file__).resolve().parent / "results"


def reranked_scores(
    q: QueryResult, ce: NDArray[np.float32], depth: int, weight: float, session_weight: float = SESSION_WEIGHT
) -> NDArray[np.float64]:
    """``q``'s scores after reranking its best ``depth`` candidates (``ce``: logits of the best len(ce), in
    score order), exactly as recall assigns them: the head's scores, in the new order, then every
    candidate's reordered by its session's support (``psm_core.rerank.session_support``; 0 to leave it out)."""
    order = np.argsort(-q.scores, kind="stable")
    head = order[: min(depth, len(ce))]
    out = q.scores.astype(np.float64).copy()
    if len(head) < 2:
        return out
    new = rerank_order(q.scores[head], ce[: len(head)], weight)
    values = np.sort(q.scores[head])[::-1]
    for pos, j in enumerate(new):
        out[head[j]] = values[pos]
    if session_weight and len(q.sessions) == len(out):
        new_order = session_support(out, q.sessions, session_weight)
        values = np.sort(out)[::-1] - 1e-9 * np.arange(len(out))  # as recall assigns them; ties broken in the new order
        out = np.empty_like(out)
        out[new_order] = values
    return out


def _ranking(
    logits: dict[int, NDArray[np.float32]], depth: int, weight: float, session_weight: float
) -> Callable[[QueryResult], NDArray[np.float64]]:
    return lambda q: reranked_scores(q, logits[id(q)], depth, weight, session_weight)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks rerank_probe", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--source", choices=("locomo", "longmemeval"), required=True)
    ap.add_argument("--data", type=Path, default=None, help="a file of the official format (default: ../shared/data dev split)")
    ap.add_argument("--adapter", type=Path, default=None, help="reranker adapter (default: the shipped one)")
    ap.add_argument("--consolidate", action="store_true", help="lists after a consolidation pass of each user")
    ap.add_argument("--limit", type=int, default=None, help="first N conversations / scorable questions")
    ap.add_argument("--depths", default="10,20,30", help="head depths N to rerank (comma-separated)")
    ap.add_argument("--weights", default="0.25,0.5,1.0", help="mixing weights B (comma-separated)")
    ap.add_argument(
        "--session-weights", default=f"0,{SESSION_WEIGHT}",
        help="session support weights S after the reranker (comma-separated; recall uses SESSION_WEIGHT)",
    )  # fmt: skip
    ap.add_argument("--out", default=None, help="result file stem (default: rerank_probe_<source>)")
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="result directory (default: benchmarks/results)")
    args = ap.parse_args(argv)
    try:
        depths = [int(x) for x in args.depths.split(",")]
        weights = [float(x) for x in args.weights.split(",")]
        session_weights = [float(x) for x in args.session_weights.split(",")]
    except ValueError:
        ap.error("--depths, --weights and --session-weights take comma-separated numbers")
    if min(depths) < 2:
        ap.error("--depths must be at least 2")
    default = weak.DATA_ROOT / ("locomo/locomo_dev.json" if args.source == "locomo" else "longmemeval/longmemeval_s_dev.json.gz")
    data = args.data or default
    if not data.exists():
        ap.error(f"data file {data} not found: pass --data PATH to a file of the official format")

    from psm_core.rerank import load_cross_encoder

    t0 = time.time()
    lists = record(args.source, data, consolidate=args.consolidate, limit=args.limit, cache=CACHE / "skill", keep_texts=True)
    ce = load_cross_encoder(args.adapter, Path("~/.cache/psm/models").expanduser())
    top = max(depths)
    logits: list[NDArray[np.float32]] = []
    cost: dict[int, list[float]] = {d: [] for d in depths}
    for q in progress(lists, desc="cross-encoder", unit="q"):
        order = np.argsort(-q.scores, kind="stable")[:top]
        texts = [q.texts[i] for i in order]
        logits.append(ce.score(q.query, texts))
    # cost per recall at each depth: one timed call on a sample of the lists (the texts of real heads), past
    # the pair cache (every pair was just scored above)
    for q in lists[:: max(1, len(lists) // 50)]:
        order = np.argsort(-q.scores, kind="stable")
        for d in depths:
            t = time.perf_counter()
            ce._score([q.texts[i] for i in order[:d]], q.query)  # uncached: score() would serve these pairs from its cache
            cost[d].append((time.perf_counter() - t) * 1000.0)
    by_id = {id(q): lg for q, lg in zip(lists, logits)}
    rows: list[dict[str, Any]] = [
        {"rescoring": "skill (recall without rerank)", **_flat(evaluate(lists, args.source, lambda q: q.scores))}
    ]
    for d in depths:
        for w in weights:
            for sw in session_weights:
                res = evaluate(lists, args.source, _ranking(by_id, d, w, sw))
                label = f"rerank N={d} B={w}" + (f", session S={sw}" if sw else ", no session support")
                rows.append({"rescoring": label, "depth": d, "weight": w, "session_weight": sw, **_flat(res)})
        res = evaluate(lists, args.source, _ranking(by_id, d, 1e6, 0.0))
        rows.append({"rescoring": f"rerank N={d}, cross-encoder alone", "depth": d, "weight": None, **_flat(res)})
    cols = [c for c in rows[0] if c != "rescoring"]
    table = md_table(["rescoring", *cols], [[r["rescoring"], *[r.get(c) for c in cols]] for r in rows])
    ms = {d: float(np.median(v)) for d, v in cost.items()}
    cost_line = "cross-encoder per recall (median, ms): " + ", ".join(f"N={d} {v:.0f}" for d, v in ms.items())
    command = "python -m benchmarks rerank_probe " + " ".join(argv if argv is not None else sys.argv[1:])
    stem = args.out or f"rerank_probe_{args.source}{'_after_pass' if args.consolidate else ''}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"benchmark": "rerank_probe", "command": command, "data": str(data), "environment": environment(),
               "adapter": str(ce.adapter), "adapter_meta": ce.meta, "lists": len(lists), "rows": rows,
               "ms_per_recall": ms, "seconds": round(time.time() - t0, 1)}  # fmt: skip
    (args.out_dir / f"{stem}.json").write_text(json.dumps(summary, indent=2, default=str))
    md = f"# Reranker probe: {args.source}\n\n`{command}`\n\n{table}\n\n{cost_line}\n"
    (args.out_dir / f"{stem}.md").write_text(md)
    sys.stdout.write(md)
    return 0


def _flat(res: dict[str, dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split, r in res.items():
        for m, v in r.items():
            if m != "questions":
                out[f"{split} {m}"] = round(v, 4)
    return out


if __name__ == "__main__":
    raise SystemExit(main())

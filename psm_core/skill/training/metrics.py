"""Small evaluation helpers shared by training and ``benchmarks/skill_eval.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["binary_report", "macro_f1", "recall_all_sessions", "recall_at"]


def binary_report(pred: NDArray[Any], true: NDArray[Any]) -> dict[str, float]:
    """Precision, recall, F1 and accuracy of boolean predictions."""
    p, t = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    tp = float((p & t).sum())
    prec = tp / max(1.0, float(p.sum()))
    rec = tp / max(1.0, float(t.sum()))
    return {
        "precision": round(prec, 4),
        "recall": round(rec, 4),
        "f1": round(2 * prec * rec / max(1e-9, prec + rec), 4),
        "accuracy": round(float((p == t).mean()) if len(t) else 0.0, 4),
        "n": int(len(t)),
    }


def macro_f1(pred: NDArray[Any], true: NDArray[Any], n_classes: int, labels: Sequence[int] | None = None) -> float:
    """Macro-averaged F1 over ``labels`` (default: every class)."""
    scores = []
    for c in labels if labels is not None else range(n_classes):
        tp = float(((pred == c) & (true == c)).sum())
        fp = float(((pred == c) & (true != c)).sum())
        fn = float(((pred != c) & (true == c)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return round(float(np.mean(scores)), 4)


def recall_at(results: Sequence[Any], k: int) -> float:
    """Mean fraction of each query's gold units in its top ``k`` (empty gold counts 1.0, as in LoCoMo)."""
    vals = []
    for q in results:
        if not q.gold:
            vals.append(1.0)
            continue
        top = set(q.ranked_units(k))
        vals.append(len(q.gold & top) / len(q.gold))
    return round(float(np.mean(vals)), 4) if vals else 0.0


def recall_all_sessions(results: Sequence[Any], k: int, depth: int = 1000) -> float:
    """LongMemEval recall_all@k over sessions: 1 when every gold session is among the first ``k``
    distinct sessions of the ranking."""
    vals = []
    for q in results:
        seen: list[str] = []
        for u in q.ranked_units(depth):
            if u not in seen:
                seen.append(u)
            if len(seen) == k:
                break
        vals.append(float(q.gold <= set(seen)))
    return round(float(np.mean(vals)), 4) if vals else 0.0

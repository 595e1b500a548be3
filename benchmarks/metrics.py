"""Retrieval metrics, following the official recipes.

* LoCoMo evidence recall@k: the fraction of a question's evidence dia_ids among the units covered by
  the top-k retrieved items (an item may cover several units: a consolidated fact covers the turns of
  its provenance); a question without evidence scores 1.0.
* LongMemEval (``src/retrieval/eval_utils.py`` of the official repository): recall_any@k (some gold
  session in the top k), recall_all@k (every gold session in the top k: the paper's Recall@k) and
  ndcg_any@k with the official DCG (rel_1 + sum_{i>=2} rel_i / log2(i)).
* Answer-word coverage (ours, LoCoMo): the share of the gold answer's content words (stemmed, stop
  words left out) found in the injected context. A proxy for "could a reader answer from this
  context": evidence recall counts a turn as covered whatever part of it is shown, this counts words.
  Derived answers ("The week before 9 June 2023", "Likely no") cannot be fully covered by any context.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "answer_coverage",
    "dedupe",
    "evidence_recall",
    "first_ranks",
    "mean",
    "ndcg_any",
    "percentile",
    "recall_all",
    "recall_any",
]


_STOP = frozenset(
    "a an the of to in on at for and or but is are was were be been being it its this that these those with by from as "
    "about into her his their they she he i you we my your our me us them him what when where who whom why how which "
    "do does did has have had not no yes so than then there here also just very".split()
)


def answer_coverage(answer: str, context: str) -> float | None:
    """Share of ``answer``'s content words present in ``context`` (None when it has none)."""
    from psm_core.lexical import tokenize

    stop = {w for s in _STOP for w in tokenize(s)}
    wanted = {w for w in tokenize(answer) if w not in stop}
    if not wanted:
        return None
    have = set(tokenize(context))
    return len(wanted & have) / len(wanted)


def dedupe(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in first-seen order."""
    return list(dict.fromkeys(items))


def evidence_recall(covered: Iterable[str], evidence: Sequence[str]) -> float:
    """Fraction of ``evidence`` within ``covered``; 1.0 when there is no evidence."""
    if not evidence:
        return 1.0
    got = set(covered)
    return sum(1 for e in evidence if e in got) / len(evidence)


def recall_any(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    top = set(ranked[:k])
    return float(any(g in top for g in gold))


def recall_all(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    top = set(ranked[:k])
    return float(all(g in top for g in gold))


def _dcg(relevances: Sequence[float], k: int) -> float:
    rel = np.asarray(relevances, dtype=float)[:k]
    if rel.size == 0:
        return 0.0
    return float(rel[0] + np.sum(rel[1:] / np.log2(np.arange(2, rel.size + 1))))


def ndcg_any(ranked: Sequence[str], gold: Sequence[str], k: int, n_docs: int) -> float:
    """The official ndcg@k: relevance 1 for each gold doc; the ideal ranking puts all gold first.

    ``n_docs`` is the corpus size (the ideal list holds min(len(gold), n_docs) ones).
    """
    gold_set = set(gold)
    actual = [1.0 if d in gold_set else 0.0 for d in ranked[:k]]
    ideal = [1.0] * min(len(gold_set), n_docs)
    best = _dcg(ideal, k)
    return 0.0 if best == 0 else _dcg(actual, k) / best


def first_ranks(ranked_units: Sequence[Iterable[str]], wanted: Iterable[str]) -> dict[str, int | None]:
    """1-based rank of the first retrieved item covering each wanted unit (None when never covered)."""
    out: dict[str, int | None] = {w: None for w in wanted}
    for rank, units in enumerate(ranked_units, start=1):
        for u in units:
            if u in out and out[u] is None:
                out[u] = rank
    return out


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return float(sum(vals) / len(vals)) if vals else math.nan


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100, linear interpolation); NaN for no values."""
    vals = list(values)
    return float(np.percentile(vals, q)) if vals else math.nan

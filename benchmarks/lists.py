"""Recorded recall candidate lists: record them once through the public API, rescore them offline in seconds.

    python -m benchmarks lists record --source locomo|longmemeval [--data PATH] [--skill mini|baseline|DIR]
                                      [--consolidate] [--limit N] [--out FILE]
    python -m benchmarks lists eval FILE [--rescore score feature:NAME neighbours:B session:B mix:NAME:B ...]

``record`` ingests each LoCoMo conversation (or LongMemEval haystack) into a fresh PSM with
``psm_core.skill.training.recall_lists.run_units``, asks every question, and keeps each candidate list
the skill weighed: the content-free features, the skill's scores, and each candidate's unit (LoCoMo
dia_id, LongMemEval session id), session, time and text length, and the question with its gold units;
no memory's text is kept.
``--consolidate`` records the lists after a consolidation pass (scored by the sentence head); recall
then also lists a later statement right before the one it updates, which a ranking by the recorded
scores leaves out (LoCoMo after a pass: 0.8710 by the scores, 0.8714 in the benchmark).

``eval`` ranks every list by each rescoring and prints LoCoMo evidence recall@10 (questions with
evidence) or LongMemEval recall_all@5 / recall_any@5 over distinct sessions, on the split PSM-mini
was trained on and on the held-out one (``psm_core.skill.training.weak``): a probe of a ranking idea
costs seconds instead of a benchmark run. Rescorings (scores z-scored per list first, where a
parameter ``B`` is given):

| rescoring | ranks by |
|---|---|
| ``score`` | the recorded scores: the same ranking recall made |
| ``feature:NAME`` | one column of ``WEIGH_FEATURE_NAMES`` (``similarity``, ``lexical``, …), within the skill's pool |
| ``neighbours:B`` | z + B · max(0, best z of the candidates just before / after it in its session − z) |
| ``session:B`` | z + B · mean of the three best z of its session |
| ``mix:NAME:B`` | z + B · (that feature z-scored per list) |
| ``mix:NAME:B:L`` | the same, only in lists whose median candidate is longer than ``L`` characters |

Files are ``.npz`` (arrays + a JSON index), by default under ``benchmarks/.cache/lists/``.
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

from psm_core.skill.mini_features import WEIGH_FEATURE_NAMES
from psm_core.skill.training import weak
from psm_core.skill.training.recall_lists import QueryResult

__all__ = ["evaluate", "load_lists", "main", "record", "rescorer", "save_lists"]

CACHE = Path(__file__).resolve().parent / ".cache"
SOURCES = ("locomo", "longmemeval")
ASK_K = {"locomo": 10, "longmemeval": 50}  # the k each benchmark asks recall for (the pool is max(5k, 50))


def record(
    source: str,
    data: Path,
    *,
    skill: str = "mini",
    consolidate: bool = False,
    limit: int | None = None,
    cache: Path = CACHE / "skill",
    progress: bool = True,
    keep_texts: bool = False,
) -> list[QueryResult]:
    """Candidate lists of every question of ``data`` (LoCoMo or LongMemEval_S, official format); with
    ``keep_texts`` each candidate's text as the reranker reads it (in memory only: never saved)."""
    from psm_core.embeddings import load_embedder
    from psm_core.skill import load_skill
    from psm_core.skill.training.recall_lists import lme_units, locomo_units, run_units
    from psm_core.skill.training.vectors import VectorCache

    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    vc = VectorCache(load_embedder(cache_dir=Path("~/.cache/psm/models").expanduser()), cache, progress=progress)
    if source == "locomo":
        units = locomo_units(weak.load_locomo(data))
    else:
        entries = sorted(weak.load_longmemeval(data), key=lambda e: e["question_id"])
        units = lme_units(entries, answer_turns_only=False)
    units = units[:limit] if limit else units
    results = run_units(
        units, load_skill(skill, vc), vc, k=ASK_K[source], progress=progress, consolidate=consolidate, keep_texts=keep_texts
    )
    vc.save()
    return results


def save_lists(path: Path, lists: Sequence[QueryResult], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n_feat = next((q.features.shape[1] for q in lists if len(q.units)), len(WEIGH_FEATURE_NAMES))
    offsets = np.cumsum([0, *(len(q.units) for q in lists)])
    index = {
        "meta": meta,
        "lists": [{"user": q.user, "query": q.query, "gold": sorted(q.gold), "info": q.info} for q in lists],
        "units": [u for q in lists for u in q.units],
        "sessions": [s for q in lists for s in q.sessions],
    }
    np.savez_compressed(
        path,
        index=np.array(json.dumps(index)),
        offsets=offsets,
        features=np.concatenate([q.features.reshape(len(q.units), n_feat) for q in lists]).astype(np.float32),
        scores=np.concatenate([q.scores for q in lists]).astype(np.float64),
        times=np.concatenate([q.times for q in lists]).astype(np.float64),
        lengths=np.concatenate([q.lengths for q in lists]).astype(np.float64),
    )


def load_lists(path: Path) -> tuple[list[QueryResult], dict[str, Any]]:
    with np.load(path, allow_pickle=False) as z:
        index = json.loads(str(z["index"]))
        off, feats, scores, times = z["offsets"], z["features"], z["scores"], z["times"]
        lengths = z["lengths"] if "lengths" in z.files else np.zeros(len(scores))
    out = []
    for j, q in enumerate(index["lists"]):
        a, b = int(off[j]), int(off[j + 1])
        gold, units = set(q["gold"]), index["units"][a:b]
        positives = np.array([u in gold for u in units], dtype=np.float32)
        out.append(
            QueryResult(q["user"], q["query"], gold, q["info"], feats[a:b], units, positives, scores[a:b],
                        sessions=index["sessions"][a:b], times=times[a:b], lengths=lengths[a:b])
        )  # fmt: skip
    return out, index["meta"]


def _z(s: NDArray[np.float64]) -> NDArray[np.float64]:
    return (s - s.mean()) / (s.std() + 1e-9) if len(s) else s


def _session_members(q: QueryResult) -> dict[str | None, list[int]]:
    """Candidate positions per session, in time order."""
    by: dict[str | None, list[int]] = {}
    for i in sorted(range(len(q.units)), key=lambda i: q.times[i]):
        by.setdefault(q.sessions[i], []).append(i)
    return by


def _neighbours(q: QueryResult, beta: float) -> NDArray[np.float64]:
    z = _z(q.scores.astype(np.float64))
    best = np.full(len(z), -np.inf)
    for sid, members in _session_members(q).items():
        if sid is None:
            continue
        for a, b in zip(members, members[1:]):
            best[a], best[b] = max(best[a], z[b]), max(best[b], z[a])
    lift = np.where(np.isfinite(best), np.maximum(0.0, best - z), 0.0)
    return z + beta * lift


def _session(q: QueryResult, beta: float) -> NDArray[np.float64]:
    z = _z(q.scores.astype(np.float64))
    out = z.copy()
    for sid, members in _session_members(q).items():
        if sid is None:
            continue
        support = float(np.sort(z[members])[::-1][:3].mean())
        out[members] += beta * support
    return out


def _number(spec: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"rescoring {spec!r}: {text!r} is not a number") from None


def rescorer(spec: str) -> Callable[[QueryResult], NDArray[np.float64]]:
    """The rescoring named by ``spec`` (see the module docstring)."""
    name, _, arg = spec.partition(":")
    if name == "score" and not arg:
        return lambda q: q.scores.astype(np.float64)
    if name == "feature" and arg in WEIGH_FEATURE_NAMES:
        col = WEIGH_FEATURE_NAMES.index(arg)
        return lambda q: q.features[:, col].astype(np.float64)
    if name == "mix":
        feature, _, rest = arg.partition(":")
        weight, _, longer = rest.partition(":")
        if feature in WEIGH_FEATURE_NAMES:
            col, g = WEIGH_FEATURE_NAMES.index(feature), _number(spec, weight)
            cut = _number(spec, longer) if longer else -1.0

            def mixed(q: QueryResult) -> NDArray[np.float64]:
                z = _z(q.scores.astype(np.float64))
                if len(q.lengths) and float(np.median(q.lengths)) <= cut:
                    return z
                return z + g * _z(q.features[:, col].astype(np.float64))

            return mixed
    if name in ("neighbours", "session") and arg:
        beta = _number(spec, arg)
        fn = _neighbours if name == "neighbours" else _session
        return lambda q: fn(q, beta)
    raise ValueError(
        f"unknown rescoring {spec!r}: use score, feature:NAME (NAME in WEIGH_FEATURE_NAMES), neighbours:B, session:B or mix:NAME:B"
    )


def _ranked_units(q: QueryResult, scores: NDArray[np.float64], k: int, memories: bool = False) -> list[str]:
    """The units covered in rank order (a consolidated fact covers the turns of its provenance where the
    list recorded them, ``QueryResult.covers``): the first ``k`` distinct units, or with ``memories``
    every unit of the best ``k`` candidates (LoCoMo recall@k counts k memories)."""
    out: list[str] = []
    for n, i in enumerate(np.argsort(-scores, kind="stable")):
        if memories and n == k:
            break
        # sorted: lists recorded before 2026-12-03 kept a fact's turns in record-id order
        for u in sorted({u for u, _ in q.covered(i)}) or [q.units[i]]:
            if u not in out:
                out.append(u)
                if not memories and len(out) == k:
                    return out
    return out


def _trained_on(source: str, user: str) -> bool:
    return user in weak.TRAIN_CONVERSATIONS if source == "locomo" else weak.lme_is_train(user)


def evaluate(
    lists: Sequence[QueryResult], source: str, score: Callable[[QueryResult], NDArray[np.float64]]
) -> dict[str, dict[str, float]]:
    """Per split ("held-out", "trained on", "all"): LoCoMo recall@10, or LongMemEval recall_all@5 and recall_any@5."""
    rows: dict[str, list[dict[str, float]]] = {"held-out": [], "trained on": [], "all": []}
    for q in lists:
        if not q.gold:
            continue
        s = score(q) if len(q.units) else np.zeros(0)
        if source == "locomo":
            top = set(_ranked_units(q, s, 10, memories=True))
            row = {"recall@10": len(top & q.gold) / len(q.gold)}
        else:
            top = set(_ranked_units(q, s, 5))
            row = {"recall_all@5": float(q.gold <= top), "recall_any@5": float(bool(q.gold & top))}
        rows["trained on" if _trained_on(source, q.user) else "held-out"].append(row)
        rows["all"].append(row)
    return {
        split: {m: float(np.mean([r[m] for r in rs])) for m in rs[0]} | {"questions": float(len(rs))}
        for split, rs in rows.items()
        if rs
    }


def _default_path(source: str, skill: str, consolidate: bool) -> Path:
    tag = Path(skill).name if skill not in ("mini", "baseline") else skill
    return CACHE / "lists" / f"{source}_{tag}{'_after_pass' if consolidate else ''}.npz"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks lists", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="record the candidate lists of a benchmark's questions")
    rec.add_argument("--source", choices=SOURCES, required=True)
    rec.add_argument("--data", type=Path, default=None, help="a file of the official format (default: ../shared/data dev split)")
    rec.add_argument("--skill", default="mini", help="mini (default), baseline, or a weights directory")
    rec.add_argument("--consolidate", action="store_true", help="record after a consolidation pass of each user")
    rec.add_argument("--limit", type=int, default=None, help="first N conversations / scorable questions")
    rec.add_argument("--out", type=Path, default=None, help="the .npz file (default under benchmarks/.cache/lists/)")
    rec.add_argument("--cache", type=Path, default=CACHE / "skill", help="embedding cache (shared with skill_eval)")
    ev = sub.add_parser("eval", help="rank recorded lists by one or more rescorings")
    ev.add_argument("file", type=Path)
    ev.add_argument("--rescore", nargs="+", default=["score"], help="score, feature:NAME, neighbours:B, session:B, mix:NAME:B")
    args = ap.parse_args(argv)
    if args.cmd == "record":
        default = weak.DATA_ROOT / (
            "locomo/locomo_dev.json" if args.source == "locomo" else "longmemeval/longmemeval_s_dev.json.gz"
        )
        data = args.data or default
        if not data.exists():
            ap.error(f"data file {data} not found: pass --data PATH to a file of the official format")
        t0 = time.time()
        lists = record(args.source, data, skill=args.skill, consolidate=args.consolidate, limit=args.limit, cache=args.cache)
        out = (args.out or _default_path(args.source, args.skill, args.consolidate)).with_suffix(".npz")
        command = "python -m benchmarks lists " + " ".join(argv if argv is not None else sys.argv[1:])
        save_lists(out, lists, {"source": args.source, "skill": args.skill, "consolidate": args.consolidate,
                                "data": str(data), "command": command, "features": list(WEIGH_FEATURE_NAMES)})  # fmt: skip
        sys.stdout.write(f"{len(lists)} lists from {data} in {time.time() - t0:.0f} s -> {out}\n")
        return 0
    if not args.file.exists():
        ap.error(f"{args.file} not found: record it first (python -m benchmarks lists record --source ...)")
    lists, meta = load_lists(args.file)
    if meta.get("features") != list(WEIGH_FEATURE_NAMES):
        ap.error(f"{args.file} was recorded with other recall features: record it again")
    try:
        scorers = [(spec, rescorer(spec)) for spec in args.rescore]
    except ValueError as exc:
        ap.error(str(exc))
    sys.stdout.write(f"{args.file}: {len(lists)} lists, {meta['source']}, skill {meta['skill']}"
                     f"{', after a pass' if meta['consolidate'] else ''}\n")  # fmt: skip
    for spec, fn in scorers:
        res = evaluate(lists, meta["source"], fn)
        cells = "  ".join(f"{split} " + " ".join(f"{m} {v:.4f}" for m, v in r.items() if m != "questions") + f" ({int(r['questions'])} q)"
                          for split, r in res.items())  # fmt: skip
        sys.stdout.write(f"{spec:18} {cells}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

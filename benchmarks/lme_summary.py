"""Summary, tables, targets and plots of a LongMemEval run."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.metrics import mean
from benchmarks.plots import recall_curves
from benchmarks.report import aggregate, environment, fmt, md_table
from benchmarks.summary import PSM_SYSTEMS, publish

__all__ = ["finish"]


def finish(
    args: argparse.Namespace,
    command: str,
    rows: list[dict[str, Any]],
    info: dict[str, Any],
    systems: Sequence[str],
    ks: Sequence[int],
) -> dict[str, Any]:
    metrics = ("recall_all", "recall_any", "ndcg_any")
    keys = [f"{m}@{k}" for m in metrics for k in ks] + [f"tokens@{k}" for k in ks]
    agg = {s: aggregate(rows, s, keys, "qtype") for s in systems}
    pq = info["per_question"]
    turns = sum(p["turns"] for p in pq)
    stored = sum(p["stored"] for p in pq)
    answer_turns = sum(p["answer_turns"] for p in pq)
    answers_dropped = sum(p["answer_turns_dropped"] for p in pq)
    fully = sum(len(r["gold_sessions_fully_dropped"]) for r in rows)
    short = {s: sum(1 for r in rows if s in r["systems"] and r["systems"][s]["items_for_10"] is None) for s in systems}
    cons = [p["consolidation"] for p in pq if "consolidation" in p]
    psm_info = {
        "turns_observed": turns, "records_stored": stored, "stored_fraction": stored / max(1, turns),
        "answer_turns": answer_turns, "answer_turns_dropped_by_gate": answers_dropped,
        "gold_sessions_with_nothing_stored": fully,
        "ingest_ms_per_turn": sum(p["ingest_ms"] for p in pq) / max(1, turns),
        "consolidation_ms_mean": mean(c["ms"] for c in cons) if cons else None,
        "records_after_consolidation": sum(sum(c["tiers"].values()) for c in cons) if cons else None,
        "questions_with_fewer_than_10_sessions": short,
    }  # fmt: skip
    summary: dict[str, Any] = {
        "benchmark": "longmemeval", "command": command, "data": str(args.data), "environment": environment(),
        "questions": len(rows), "limit": args.limit, "info": info, "systems": agg, "psm_gate": psm_info,
    }  # fmt: skip
    summary["targets"] = _targets(agg)

    def cell(s: str, key: str) -> Any:
        a = agg.get(s)
        return a["all"][key] if a else None

    cols = ["recall_all@1", "recall_all@3", "recall_all@5", "recall_all@10", "recall_any@5", "recall_any@10",
            "ndcg_any@5", "ndcg_any@10"]  # fmt: skip
    rows_t = []
    for s in systems:
        a = agg.get(s)
        lat = a["latency_ms"] if a else {"p50": None, "p95": None}
        tok5, tok10 = cell(s, "tokens@5"), cell(s, "tokens@10")
        rows_t.append(
            [s, *[cell(s, c) for c in cols], fmt(tok5, 0) if tok5 is not None else "n/a",
             fmt(tok10, 0) if tok10 is not None else "n/a", fmt(lat["p50"], 1), fmt(lat["p95"], 1)]
        )  # fmt: skip
    heads = ["system", "R_all@1", "R_all@3", "R_all@5", "R_all@10", "R_any@5", "R_any@10", "nDCG@5", "nDCG@10",
             "tokens@5", "tokens@10", "p50 ms", "p95 ms"]  # fmt: skip
    overall = md_table(heads, rows_t)
    types = sorted({r["qtype"] for r in rows})
    ntype = {t: sum(1 for r in rows if r["qtype"] == t) for t in types}

    def by_type(key: str) -> str:
        out = []
        for s in systems:
            a = agg.get(s)
            out.append([s, *[a["groups"].get(t, {}).get(key) if a else None for t in types], cell(s, key)])
        return md_table([key, *[f"{t} ({ntype[t]})" for t in types], "all"], out)

    gate = (
        f"PSM stored {stored} of {turns} user turns ({stored / max(1, turns):.1%}); gold answer turns dropped by the "
        f"gate: {answers_dropped} of {answer_turns}; gold sessions with nothing stored: {fully}. Ingestion "
        f"{psm_info['ingest_ms_per_turn']:.2f} ms/turn (embeddings from the disk cache when warm). Questions whose "
        f"top {50} items reached fewer than 10 sessions: "
        + ", ".join(f"{s} {n}" for s, n in short.items() if s in ("vectors-turns", *PSM_SYSTEMS))
        + f". Skill: {info['skill']}. Evaluated {len(rows)} of {info['scorable']} scorable questions"
        + (f" (--limit {args.limit}, evenly spaced)." if args.limit else ".")
    )
    if cons:
        gate += f" Consolidation: {psm_info['consolidation_ms_mean']:.0f} ms per user on average."
    elif not info["consolidation_available"]:
        gate += " psm.consolidate() is not available in this build: psm+consolidation is n/a."
    targets = "\n".join(f"- {t['target']}: {t['value']} -> {'met' if t['met'] else 'NOT met'}" for t in summary["targets"])

    def plot(png: Path) -> None:
        panels = []
        for m in metrics:
            panels.append((f"{m}@k", {s: {k: agg[s]["all"][f"{m}@{k}"] for k in ks} for s in systems if agg.get(s)}))
        recall_curves(png, f"LongMemEval session retrieval ({len(rows)} questions)", panels, ylabel="score")

    split, summary["by_split"] = _splits(rows, systems, info["skill"])
    sections = [("Session retrieval, overall", overall), ("recall_all@5 by question type", by_type("recall_all@5")),
                ("recall_any@5 by question type", by_type("recall_any@5")),
                ("Questions PSM-mini was (not) trained on", split), ("PSM gate and coverage", gate),
                ("Targets (issue 9)", targets)]  # fmt: skip
    publish("LongMemEval", args, summary, rows, sections, plot)
    return summary


def _splits(rows: Sequence[Mapping[str, Any]], systems: Sequence[str], skill: str) -> tuple[str, dict[str, Any]]:
    """recall_all@5 / recall_any@5 over the questions whose haystacks PSM-mini's weak labels came from, and the others."""
    from psm_core.skill.training.weak import lme_is_train

    groups = {
        "held-out": [r for r in rows if not lme_is_train(str(r["qid"]))],
        "trained on": [r for r in rows if lme_is_train(str(r["qid"]))],
    }
    out: dict[str, Any] = {}
    table = []
    for s in systems:
        cells: list[Any] = []
        for qs in groups.values():
            have = [r for r in qs if s in r["systems"]]
            for key in ("recall_all@5", "recall_any@5"):
                cells.append(sum(r["systems"][s][key] for r in have) / len(have) if have else None)
        table.append([s, *cells])
        out[s] = {g: {"recall_all@5": cells[2 * i], "recall_any@5": cells[2 * i + 1]} for i, g in enumerate(groups)}
    heads = [f"{g} ({len(qs)}) {m}" for g, qs in groups.items() for m in ("R_all@5", "R_any@5")]
    note = (
        f"\n\nPSM-mini (skill {skill}) drew weak labels from the LongMemEval half whose question id hashes even "
        "(`psm_core.skill.training.weak.lme_is_train`): the held-out columns are the numbers that count for it."
    )
    return md_table(["system", *heads], table) + note, out


def _targets(agg: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    vt = (agg.get("vectors") or {}).get("all", {}).get("tokens@10")
    for s in PSM_SYSTEMS:
        a = agg.get(s)
        if not a:
            continue
        ra, rn, tok = a["all"]["recall_all@5"], a["all"]["recall_any@5"], a["all"]["tokens@10"]
        out.append({"target": f"{s} recall_all@5 >= 0.95", "value": round(ra, 4), "met": ra >= 0.95})
        out.append({"target": f"{s} recall_any@5 >= 0.99", "value": round(rn, 4), "met": rn >= 0.99})
        if vt is not None:
            out.append({"target": f"{s} tokens@10 <= vectors'", "value": f"{tok:.0f} vs {vt:.0f}", "met": tok <= vt})
    return out

"""Turn per-question results into the summary, the printed tables, the result files and the plots."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import LOCOMO_CATEGORIES
from benchmarks.plots import recall_curves
from benchmarks.report import RESULTS_DIR, aggregate, environment, fmt, md_table, write_results

__all__ = ["finish_locomo", "publish"]


def publish(
    name: str,
    args: argparse.Namespace,
    summary: dict[str, Any],
    questions: Sequence[Mapping[str, Any]] | None,
    sections: Sequence[tuple[str, str]],
    plot: Any,
) -> None:
    """Print the tables and write JSON, JSON lines, markdown and the plot."""
    out_dir = Path(getattr(args, "out_dir", None) or RESULTS_DIR)
    head = f"# {name} results\n\nCommand: `{summary['command']}`  \nData: `{summary['data']}`  \n"
    env = summary["environment"]
    head += (
        f"Date: {env['date']}, commit {str(env['git_commit'])[:10]}, {env['cpu_count']} CPUs, load {fmt(env['load_avg_1m'], 2)}\n"
    )
    text = head + "".join(f"\n## {title}\n\n{body}\n" for title, body in sections)
    print(text)
    paths = write_results(args.out, out_dir, summary, questions, text)
    png = out_dir / f"{args.out}.png"
    plot(png)
    for p in [*paths, png]:
        print(f"wrote {p}")


def _sum_info(info: Mapping[str, Any], key: str) -> int:
    return int(sum(c[key] for c in info["conversations"]))


def finish_locomo(
    args: argparse.Namespace,
    command: str,
    questions: list[dict[str, Any]],
    info: dict[str, Any],
    systems: Sequence[str],
    ks: Sequence[int],
) -> dict[str, Any]:
    keys = [f"recall@{k}" for k in ks] + [f"tokens@{k}" for k in ks]
    agg = {s: aggregate(questions, s, keys, "category") for s in systems}
    turns = _sum_info(info, "turns")
    stored = _sum_info(info, "psm_stored")
    records = {"bm25": turns, "vectors": turns, "psm": stored, "psm+rerank": stored}
    if info["consolidation"]:
        records["psm+consolidation"] = sum(sum(c["tiers"].values()) for c in info["consolidation"])
        records["psm+consolidation+rerank"] = records["psm+consolidation"]
    per_turn: dict[str, float] = {}
    for s in ("bm25", "vectors", "psm"):
        per_turn[s] = sum(c["index_ms_per_turn"][s] * c["turns"] for c in info["conversations"]) / max(1, turns)
    refs = [(q["category"], e) for q in questions for e in q["evidence"]]
    dropped = [(q["category"], e) for q in questions for e in q["dropped_evidence"]]
    unknown = sum(len(q["unknown_evidence"]) for q in questions)
    psm_info = {
        "turns_observed": turns, "records_stored": stored, "stored_fraction": stored / max(1, turns),
        "evidence_refs": len(refs), "evidence_dropped_by_gate": len(dropped), "evidence_unknown_dia_ids": unknown,
        "ingest_ms_per_turn": per_turn["psm"],
    }  # fmt: skip
    summary: dict[str, Any] = {
        "benchmark": "locomo", "command": command, "data": str(args.data), "environment": environment(),
        "questions": len(questions), "info": info, "systems": agg, "records": records,
        "index_ms_per_turn": per_turn, "psm_gate": psm_info,
    }  # fmt: skip
    summary["targets"] = _locomo_targets(agg)

    rows = []
    for s in systems:
        a = agg.get(s)
        if not a:
            rows.append([s, *["n/a"] * (len(ks) + 4)])
            continue
        rows.append(
            [s, *[a["all"][f"recall@{k}"] for k in ks], f"{a['all']['tokens@10']:.0f}",
             fmt(a["latency_ms"]["p50"], 1), fmt(a["latency_ms"]["p95"], 1), str(records.get(s, "n/a"))]
        )  # fmt: skip
    overall = md_table(["system", *[f"R@{k}" for k in ks], "tokens@10", "p50 ms", "p95 ms", "records"], rows)
    cats = list(LOCOMO_CATEGORIES.values())
    ncat = {c: sum(1 for q in questions if q["category"] == c) for c in cats}
    cat_rows = []
    for s in systems:
        a = agg.get(s)
        cells = [a["groups"].get(c, {}).get("recall@10") if a else None for c in cats]
        cat_rows.append([s, *cells, a["all"]["recall@10"] if a else None])
    by_cat = md_table(["R@10", *[f"{c} ({ncat[c]})" for c in cats], "all"], cat_rows)
    gate_rows = [[c, str(sum(1 for cc, _ in refs if cc == c)), str(sum(1 for cc, _ in dropped if cc == c))] for c in cats]
    gate = md_table(["category", "evidence refs", "dropped by PSM gate"], gate_rows)
    gate += (
        f"\n\nPSM stored {stored} of {turns} turns ({stored / max(1, turns):.1%}); ingestion {per_turn['psm']:.2f} ms/turn "
        f"(bm25 {per_turn['bm25']:.3f}, vectors {per_turn['vectors']:.2f}; embeddings from the disk cache when warm). "
        f"Evidence dia_ids absent from the conversation: {unknown}. Skill: {info['skill']}. "
        f"Access statistics: {'accumulated' if args.accumulate else 'isolated per question'}."
    )
    if not info["consolidation_available"]:
        gate += " psm.consolidate() is not available in this build: psm+consolidation is n/a."
    targets = "\n".join(f"- {t['target']}: {t['value']} -> {'met' if t['met'] else 'NOT met'}" for t in summary["targets"])

    def plot(png: Path) -> None:
        panels = [("all", {s: {k: agg[s]["all"][f"recall@{k}"] for k in ks} for s in systems if agg.get(s)})]
        for c in cats:
            curves = {s: {k: agg[s]["groups"].get(c, {}).get(f"recall@{k}") for k in ks} for s in systems if agg.get(s)}
            panels.append((f"{c} ({ncat[c]})", curves))
        recall_curves(png, f"LoCoMo evidence recall@k ({len(questions)} questions)", panels)

    by_conv, summary["by_split"] = _locomo_splits(questions, systems, info["skill"])
    context, summary["context"] = _locomo_context(questions, systems)
    sections = [("Evidence recall@k, overall", overall), ("Recall@10 by category", by_cat),
                ("Recall@10 by conversation", by_conv), ("Context size and answer words", context),
                ("PSM gate", gate), ("Targets (issue 9)", targets)]  # fmt: skip
    publish("LoCoMo", args, summary, questions, sections, plot)
    return summary


def _present_mean(questions: Sequence[Mapping[str, Any]], system: str, key: str) -> float | None:
    vals = [q["systems"][system][key] for q in questions if system in q["systems"] and q["systems"][system].get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def _locomo_context(questions: Sequence[Mapping[str, Any]], systems: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Tokens, evidence recall and answer-word coverage at k=10, and PSM at the raw store's context size."""
    out: dict[str, Any] = {}
    rows = []
    for s in systems:
        for label, suffix in ((s, "10"), (f"{s} at raw's tokens", "raw")):
            if _present_mean(questions, s, f"tokens@{suffix}") is None:
                continue
            cell = {m: _present_mean(questions, s, f"{m}@{suffix}") for m in ("tokens", "recall", "answer", "items")}
            if suffix == "10":
                cell["items"] = None
            out[label] = cell
            rows.append([label, fmt(cell["tokens"], 0), cell["recall"], cell["answer"], fmt(cell["items"], 1)])
    table = md_table(["context", "tokens", "evidence recall", "answer words", "items"], rows)
    n = sum(1 for q in questions if (q["systems"].get("vectors") or {}).get("answer@10") is not None)
    table += (
        f"\n\nAnswer words: the share of the gold answer's content words (stemmed, stop words out) found in the "
        f"injected block ({n} questions whose answer has one; `benchmarks.metrics.answer_coverage`). \"At raw's "
        f'tokens": `recall(k=50, token_budget=...)` with the budget set per question so the block (header included) '
        f"is no larger than the raw vector store's block at k=10; items = memories that fit."
    )
    return table, out


def _locomo_splits(questions: Sequence[Mapping[str, Any]], systems: Sequence[str], skill: str) -> tuple[str, dict[str, Any]]:
    """R@10 per conversation, and over the conversations PSM-mini's weak labels were (not) drawn from."""
    from psm_core.skill.training.weak import TRAIN_CONVERSATIONS

    convs = sorted({str(q["conv"]) for q in questions})
    split = {
        "held-out": [c for c in convs if c not in TRAIN_CONVERSATIONS],
        "trained on": [c for c in convs if c in TRAIN_CONVERSATIONS],
    }
    cols = convs + [f"{name} ({len(cs)})" for name, cs in split.items() if cs]
    out: dict[str, Any] = {}
    rows = []
    for s in systems:
        cells: list[Any] = []
        for group in [[c] for c in convs] + [cs for cs in split.values() if cs]:
            vals = [q["systems"][s]["recall@10"] for q in questions if q["conv"] in group and s in q["systems"]]
            cells.append(sum(vals) / len(vals) if vals else None)
        rows.append([s, *cells])
        out[s] = {name: cells[len(convs) + i] for i, name in enumerate(n for n, cs in split.items() if cs)}
    note = (
        f"\n\nPSM-mini (skill {skill}) drew weak labels from {', '.join(TRAIN_CONVERSATIONS)} (`psm train --weak-labels`): "
        "the held-out columns are the numbers that count for it."
    )
    return md_table(["R@10", *cols], rows) + note, out


PSM_SYSTEMS = ("psm", "psm+consolidation", "psm+rerank", "psm+consolidation+rerank")


def _locomo_targets(agg: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    bm = agg.get("bm25") or {}
    for s in PSM_SYSTEMS:
        a = agg.get(s)
        if not a:
            continue
        r10 = a["all"]["recall@10"]
        out.append({"target": f"{s} R@10 >= 0.85", "value": round(r10, 4), "met": r10 >= 0.85})
        below = {
            c: (round(g["recall@10"], 4), round(bm["groups"][c]["recall@10"], 4))
            for c, g in a["groups"].items()
            if c in bm.get("groups", {}) and g["recall@10"] < bm["groups"][c]["recall@10"]
        }
        out.append({"target": f"{s}: no category R@10 below BM25", "value": below or "none below", "met": not below})
        vt, pt = (agg.get("vectors") or {}).get("all", {}).get("tokens@10"), a["all"]["tokens@10"]
        if vt is not None:
            out.append(
                {"target": f"{s} tokens@10 <= vectors'", "value": f"{pt:.0f} vs {vt:.0f}", "met": pt <= vt}
            )  # fmt: skip
    return out

"""Where a system loses to another, per category, with examples (reads a run's per-question results).

``python -m benchmarks diagnose locomo [--system psm] [--vs bm25] [--k 10] [--examples 3]``
``python -m benchmarks diagnose longmemeval [--metric recall_all] [--k 5]``

For each category (LoCoMo) or question type (LongMemEval): how many questions the system wins, ties
and loses against ``--vs`` at k, the evidence the system missed (dropped by the gate, or stored but
ranked below k, and where), and a few losing questions with the evidence text and what ranked first.
Writes ``<out>_diagnosis_<system>_vs_<vs>.md`` beside the results.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import DEFAULT_LOCOMO, DEFAULT_LONGMEMEVAL, load_locomo, load_longmemeval
from benchmarks.report import RESULTS_DIR, md_table

__all__ = ["add_arguments", "compare", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("benchmark", choices=["locomo", "longmemeval"])
    p.add_argument(
        "--results", type=Path, default=None, help="per-question JSON lines (default: results/<benchmark>_questions.jsonl)"
    )
    p.add_argument("--data", type=Path, default=None, help="the data file of the run (for evidence texts)")
    p.add_argument("--system", default="psm")
    p.add_argument("--vs", default="bm25")
    p.add_argument("--metric", default=None, help="recall (LoCoMo) / recall_all, recall_any, ndcg_any (LongMemEval)")
    p.add_argument("--k", type=int, default=None, help="default 10 (LoCoMo) / 5 (LongMemEval)")
    p.add_argument("--examples", type=int, default=3, help="losing examples per group")
    p.add_argument("--out", default=None, help="result file stem (default: <benchmark>)")


def compare(rows: Sequence[Mapping[str, Any]], system: str, vs: str, key: str, group: str) -> dict[str, dict[str, Any]]:
    """Per group: wins/ties/losses of ``system`` against ``vs`` on ``key``, and the losing rows."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if system not in r["systems"] or vs not in r["systems"]:
            continue
        g = out.setdefault(str(r[group]), {"n": 0, "win": 0, "tie": 0, "loss": 0, "losses": []})
        a, b = r["systems"][system][key], r["systems"][vs][key]
        g["n"] += 1
        if a > b + 1e-9:
            g["win"] += 1
        elif a < b - 1e-9:
            g["loss"] += 1
            g["losses"].append(r)
        else:
            g["tie"] += 1
    return out


def _miss_profile(rows: Sequence[Mapping[str, Any]], system: str, k: int) -> dict[str, int]:
    """Evidence units (turns or sessions) of the system at k: covered, dropped by the gate, ranked after k
    (within what the system retrieved: top 50 items), or not retrieved at all."""
    prof = {"covered": 0, "dropped_by_gate": 0, "ranked_after_k": 0, "not_retrieved": 0}
    for r in rows:
        if system not in r["systems"]:
            continue
        dropped = set(r.get("dropped_evidence", [])) | set(r.get("gold_sessions_fully_dropped", []))
        for unit, rank in r["systems"][system]["ranks"].items():
            if rank is not None and rank <= k:
                prof["covered"] += 1
            elif unit in dropped:
                prof["dropped_by_gate"] += 1
            elif rank is not None:
                prof["ranked_after_k"] += 1
            else:
                prof["not_retrieved"] += 1
    return prof


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    locomo = args.benchmark == "locomo"
    stem = args.out or args.benchmark
    path = args.results or RESULTS_DIR / f"{stem}_questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    k = args.k or (10 if locomo else 5)
    metric = args.metric or ("recall" if locomo else "recall_all")
    key = f"{metric}@{k}"
    group = "category" if locomo else "qtype"
    texts: dict[tuple[str, str], str] = {}
    data = args.data or (DEFAULT_LOCOMO if locomo else DEFAULT_LONGMEMEVAL)
    if data.exists():
        if locomo:
            for conv in load_locomo(data):
                for t in conv.turns:
                    texts[(conv.sample_id, t.dia_id)] = f"{t.speaker}: {t.text}"
        else:
            for q in load_longmemeval(data):
                for s in q.sessions:
                    if s.sid in q.gold:
                        answer = [t.text for t in s.user_turns if t.has_answer]
                        texts[(q.qid, s.sid)] = " | ".join(answer)
    cmp = compare(rows, args.system, args.vs, key, group)
    table = md_table(
        [group, "n", f"{args.system} wins", "ties", "losses", f"{args.system} {key}", f"{args.vs} {key}"],
        [[g, str(c["n"]), str(c["win"]), str(c["tie"]), str(c["loss"]),
          sum(r["systems"][args.system][key] for r in rows if str(r[group]) == g and args.system in r["systems"]) / c["n"],
          sum(r["systems"][args.vs][key] for r in rows if str(r[group]) == g and args.vs in r["systems"]) / c["n"]]
         for g, c in sorted(cmp.items())],
    )  # fmt: skip
    prof_rows = []
    for g in sorted(cmp):
        prof = _miss_profile([r for r in rows if str(r[group]) == g], args.system, k)
        prof_rows.append([g, *[str(v) for v in prof.values()]])
    prof_head = list(_miss_profile([], args.system, k))
    misses = md_table([f"evidence of {args.system}", *prof_head], prof_rows)
    lines = [f"# Diagnosis: {args.system} vs {args.vs} on {args.benchmark} ({key})", "", f"Command: `{command}`", "",
             table, "", f"Where {args.system}'s evidence went at k={k} (LoCoMo: turns; LongMemEval: gold sessions):", "", misses, ""]  # fmt: skip
    for g, c in sorted(cmp.items()):
        if not c["losses"]:
            continue
        lines.append(f"## {g}: {c['loss']} losses, examples")
        for r in c["losses"][: args.examples]:
            owner = r["conv"] if locomo else r["qid"]
            units = r["evidence"] if locomo else r["gold"]
            lines.append(f"- **{_clip(r['question'], 200)}** (answer: {_clip(str(r.get('answer', '')), 80)})")
            for u in units:
                mine, theirs = r["systems"][args.system]["ranks"].get(u), r["systems"][args.vs]["ranks"].get(u)
                lines.append(
                    f"  - evidence {u} (rank {args.system} {mine}, {args.vs} {theirs}): {_clip(texts.get((owner, u), '?'))}"
                )
            top = r["systems"][args.system]["top10"][:5]
            lines.append(f"  - {args.system} top 5: {', '.join(map(str, top))}")
            if locomo and top:
                first = str(top[0]).split(" ")[0].split(",")[0]
                lines.append(f"  - {args.system} rank 1 text: {_clip(texts.get((owner, first), '?'))}")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    out = path.with_name(f"{stem}_diagnosis_{args.system}_vs_{args.vs}.md".replace("+", "_"))
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return {"groups": {g: {kk: v for kk, v in c.items() if kk != "losses"} for g, c in cmp.items()}}

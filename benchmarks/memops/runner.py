"""``python -m benchmarks memops``: run every system on the scenarios, LongMemEval KU and BEAM; tables and files."""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.memops.external import asks, beam_chats, lme_questions, run_beam, run_lme
from benchmarks.memops.harness import LOWER_IS_BETTER, METRICS, ingest, measure
from benchmarks.memops.scenarios import TYPES, Scenario, load_scenarios
from benchmarks.psm_system import MAX_TEXT_BYTES
from benchmarks.report import RESULTS_DIR, environment, fmt, md_table, progress, write_results
from psm_core import PSM, PSMSettings

__all__ = ["parse_systems", "pick", "run", "summarize"]

SKILLS = {"baseline": "baseline", "psm-mini": "mini"}
TOP_SHOWN = 5  # recall lines kept per scenario and system in the per-scenario file
LME_ROWS = ("lme_current_first", "lme_ties", "lme_older_first (earlier-value questions)", "lme_both_top10 (comparison questions)")
BEAM_ROWS = (
    "beam_ku_updated_above_top5",
    "beam_ku_updated_above",
    "beam_cr_both_top10",
    "beam_cr_flagged",
    "beam_cr_both_and_flagged",
)


def parse_systems(spec: str) -> list[tuple[str, str]]:
    """``"baseline,psm-mini,new=/path/to/weights"`` -> [(name, skill)]: known names or ``name=skill``."""
    out: list[tuple[str, str]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, skill = part.partition("=")
        skill = skill or SKILLS.get(name, name)
        out.append((name, skill))
    if not out:
        raise SystemExit("--systems names no system")
    return out


def pick(scenarios: Sequence[Scenario], limit: int | None) -> list[Scenario]:
    """``limit`` scenarios taken round-robin over the types (every type early), in file order within a type."""
    if limit is None or limit >= len(scenarios):
        return list(scenarios)
    by_type = [[s for s in scenarios if s.type == t] for t in TYPES]
    out: list[Scenario] = []
    while len(out) < limit:
        for group in by_type:
            if group and len(out) < limit:
                out.append(group.pop(0))
    return out


def _mean(values: Iterable[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else math.nan


def _block(rows: Sequence[Mapping[str, Any]], col: str) -> dict[str, Any]:
    have = [r["systems"][col] for r in rows if col in r["systems"]]
    out: dict[str, Any] = {"scenarios": len(have)}
    for m in METRICS:
        vals = [h.get(m) for h in have]
        n = sum(1 for v in vals if v is not None)
        if n:  # metrics that do not apply to this block are left out
            out[m] = _mean(vals)
            out[f"{m}_n"] = n
    turns = sum(h["noise_turns"] for h in have)
    out["noise_stored"] = sum(h["noise_stored_turns"] for h in have) / turns if turns else math.nan  # pooled over turns
    out["noise_stored_n"] = turns
    return out


def summarize(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, Any]:
    """Per column: the metrics on test, train and all, per type and per attribute."""
    out: dict[str, Any] = {}
    for col in columns:
        res: dict[str, Any] = {}
        for split in ("test", "train", "all"):
            sel = [r for r in rows if split == "all" or r["split"] == split]
            if sel:
                res[split] = _block(sel, col)
        res["by_type"] = {t: _block([r for r in rows if r["type"] == t], col) for t in TYPES if any(r["type"] == t for r in rows)}
        attrs = sorted({r["attribute"] for r in rows})
        res["by_attribute"] = {a: _block([r for r in rows if r["attribute"] == a], col) for a in attrs}
        out[col] = res
    return out


def _external_summary(
    lme: Sequence[Mapping[str, Any]], beam: Sequence[Mapping[str, Any]], col: str, stage: str
) -> dict[str, Any]:
    key = "after" if stage == "+pass" else "before"
    cur = [q[col][key] for q in lme if col in q and q["asks"] == "current"]
    earlier = [q[col][key] for q in lme if col in q and q["asks"] == "earlier"]
    both = [q[col][key] for q in lme if col in q and q["asks"] == "both"]
    items = [it for c in beam if col in c for it in c[col][key]]
    ku = [it for it in items if it["category"] == "knowledge_update" and "skipped" not in it]
    cr = [it for it in items if it["category"] == "contradiction_resolution"]
    return {
        "lme_current_first": _mean(q["current_first"] for q in cur), "lme_current_first_n": len(cur),
        "lme_ties": _mean(q["tie"] for q in cur), "lme_ties_n": len(cur),
        "lme_older_first (earlier-value questions)": _mean(q["older_first"] for q in earlier),
        "lme_older_first (earlier-value questions)_n": len(earlier),
        "lme_both_top10 (comparison questions)": _mean(q["both_top10"] for q in both),
        "lme_both_top10 (comparison questions)_n": len(both),
        "beam_ku_updated_above_top5": _mean(i["updated_above_top5"] for i in ku), "beam_ku_updated_above_top5_n": len(ku),
        "beam_ku_updated_above": _mean(i["updated_above"] for i in ku), "beam_ku_updated_above_n": len(ku),
        "beam_cr_both_top10": _mean(i["both_top10"] for i in cr), "beam_cr_both_top10_n": len(cr),
        "beam_cr_flagged": _mean(i["flagged"] for i in cr), "beam_cr_flagged_n": len(cr),
        "beam_cr_both_and_flagged": _mean(i["both_and_flagged"] for i in cr), "beam_cr_both_and_flagged_n": len(cr),
    }  # fmt: skip


def _table(blocks: Mapping[str, Mapping[str, Any]], metrics: Sequence[str], cols: Sequence[str]) -> str:
    rows = []
    for m in metrics:
        ns = {blocks[c].get(f"{m}_n") for c in cols if c in blocks}
        n = next(iter(ns)) if len(ns) == 1 else "/".join(str(x) for x in sorted(ns, key=str))
        name = m + (" (lower better)" if m in LOWER_IS_BETTER else "")
        rows.append([name, str(n), *[fmt(blocks[c].get(m)) if c in blocks else "n/a" for c in cols]])
    return md_table(["metric", "n", *cols], rows)


def _metric_rows(blocks: Mapping[str, Mapping[str, Any]], cols: Sequence[str]) -> list[str]:
    """Metrics with at least one value in some column (profile_* only where the API exists)."""
    return [m for m in METRICS if any(blocks.get(c, {}).get(f"{m}_n") for c in cols)]


def _examples(rows: Sequence[Mapping[str, Any]], col: str, n: int = 3) -> list[str]:
    """Recall lists of ``col`` for the first ``n`` test update/correction scenarios it gets wrong."""
    out: list[str] = []
    for r in rows:
        got = r["systems"].get(col, {})
        if r["split"] != "test" or got.get("newer_above_older") != 0.0:
            continue
        out.append(f'- `{r["id"]}`: probe "{r["probe"]}", new {r["new_values"]}, old {r["old_values"]}')
        out.extend(f"  {i + 1}. {line}" for i, line in enumerate(got.get("top", [])))
        if len(out) >= n * (TOP_SHOWN + 1):
            break
    return out


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from benchmarks.cache import default_embedder

    t_start = time.perf_counter()
    scenarios = pick(load_scenarios(args.split), args.limit)
    systems = parse_systems(args.systems)
    paths = ["live", "bulk"] if args.bulk else ["live"]
    data = Path(args.data)
    lme_path, beam_path = data / "longmemeval" / "longmemeval_s_dev.json.gz", data / "beam" / "beam_100k_dev.json.gz"
    notes: list[str] = []
    lme_qs = lme_questions(lme_path, args.lme_limit) if args.lme_limit != 0 and lme_path.exists() else []
    chats = beam_chats(beam_path, args.beam_limit) if args.beam_limit != 0 and beam_path.exists() else []
    for file, what, flag in ((lme_path, "LongMemEval", args.lme_limit), (beam_path, "BEAM", args.beam_limit)):
        if flag != 0 and not file.exists():
            notes.append(f"{what} skipped: {file} not found")
    embedder = default_embedder()
    rows: list[dict[str, Any]] = [
        {"id": s.id, "split": s.split, "type": s.type, "attribute": s.attribute, "probe": s.probe,
         "new_values": list(s.new_values), "old_values": list(s.old_values), "systems": {}}
        for s in scenarios
    ]  # fmt: skip
    lme_rows: list[dict[str, Any]] = [{"qid": q.qid} for q in lme_qs]
    beam_rows: list[dict[str, Any]] = [{"chat": c["chat_id"]} for c in chats]
    columns: list[str] = []
    timing: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="psm-memops-") as tmp:
        for name, skill in systems:
            for path in paths:
                col = name if path == "live" else f"{name}/bulk"
                columns += [col, col + "+pass"]
                timing[col] = _run_column(Path(tmp) / col.replace("/", "_"), skill, col, path == "bulk", embedder,
                                          scenarios, rows, lme_qs, lme_rows, chats, beam_rows)  # fmt: skip
    for q, row in zip(lme_qs, lme_rows):
        row.update({"question": q.question, "asks": asks(q)})
    summary = summarize(rows, columns)
    external = {c: _external_summary(lme_rows, beam_rows, c.removesuffix("+pass"), "+pass" if c.endswith("+pass") else "")
                for c in columns} if (lme_rows or beam_rows) else {}  # fmt: skip
    wall = time.perf_counter() - t_start
    md = _markdown(args, command, scenarios, rows, columns, summary, external, timing, notes, wall)
    print(md)
    result = {
        "command": command, "environment": environment(), "split": args.split, "paths": paths,
        "systems": dict(systems), "scenarios": len(scenarios), "lme_questions": len(lme_qs), "beam_chats": len(chats),
        "metrics": {m: d for m, (d, _) in METRICS.items()}, "results": summary, "external": external,
        "timing": timing, "wall_s": wall, "notes": notes,
        "lme": lme_rows, "beam": beam_rows,
    }  # fmt: skip
    out_dir = Path(args.out_dir) if args.out_dir else RESULTS_DIR
    write_results(args.out, out_dir, result, rows, md)
    return result


def _run_column(
    home: Path, skill: str, col: str, bulk: bool, embedder: Any, scenarios: Sequence[Scenario], rows: list[dict[str, Any]],
    lme_qs: Sequence[Any], lme_rows: list[dict[str, Any]], chats: Sequence[dict[str, Any]], beam_rows: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    t: dict[str, Any] = {"observe_ms": 0.0, "turns": 0, "pass_ms": 0.0, "passes": 0}
    t0 = time.perf_counter()
    psm = PSM(PSMSettings(home=home, skill=skill, max_text_bytes=MAX_TEXT_BYTES), embedder=embedder)
    try:
        t["skill"] = str(psm.skill.name)
        for s, row in progress(list(zip(scenarios, rows)), desc=f"memops {col}", unit="scenario"):
            mem = psm.for_user(s.id)
            a = time.perf_counter()
            ids = ingest(mem, s, bulk)
            t["observe_ms"] += (time.perf_counter() - a) * 1000.0
            t["turns"] += len(ids)
            row["systems"][col] = _trim(measure(mem, s, ids))
            a = time.perf_counter()
            psm.consolidate(s.id, now=s.probe_time)
            t["pass_ms"] += (time.perf_counter() - a) * 1000.0
            t["passes"] += 1
            row["systems"][col + "+pass"] = _trim(measure(mem, s, ids))
            mem.erase()
        t["scenarios_s"] = time.perf_counter() - t0
        a = time.perf_counter()
        for q, row in progress(list(zip(lme_qs, lme_rows)), desc=f"memops lme {col}", unit="q"):
            mem = psm.for_user(f"lme-{q.qid}")
            row[col] = run_lme(mem, psm, q, bulk)
            mem.erase()
        t["lme_s"] = time.perf_counter() - a
        a = time.perf_counter()
        for chat, row in progress(list(zip(chats, beam_rows)), desc=f"memops beam {col}", unit="chat"):
            mem = psm.for_user(f"beam-{chat['chat_id']}")
            row[col] = run_beam(mem, psm, chat, bulk)
            mem.erase()
        t["beam_s"] = time.perf_counter() - a
    finally:
        psm.close()
    t["observe_ms_per_turn"] = t["observe_ms"] / t["turns"] if t["turns"] else math.nan
    t["pass_ms_mean"] = t["pass_ms"] / t["passes"] if t["passes"] else math.nan
    t["total_s"] = time.perf_counter() - t0
    return t


def _trim(m: dict[str, Any]) -> dict[str, Any]:
    m["top"] = m.get("top", [])[:TOP_SHOWN]
    return m


def _markdown(
    args: argparse.Namespace, command: str, scenarios: Sequence[Scenario], rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
    summary: Mapping[str, Any], external: Mapping[str, Any], timing: Mapping[str, Any], notes: Sequence[str], wall: float,
) -> str:  # fmt: skip
    lines = [f"# Memory operations (issue 25): {args.split} split", "", f"Command: `{command}`", ""]
    counts = {t: sum(1 for s in scenarios if s.type == t) for t in TYPES}
    lines.append(f"{len(scenarios)} scenarios ({', '.join(f'{t} {n}' for t, n in counts.items())}); "
                 f"columns: system before a pass, and `+pass` after one `psm.consolidate(user)`. "
                 f"Ingestion: {'one observe() per turn (live) and one observe_many per session (bulk)' if args.bulk else 'one observe() per turn (live)'}.")  # fmt: skip
    lines.append("")
    for split in ("test", "all"):
        blocks = {c: summary[c][split] for c in columns if split in summary[c]}
        if not blocks:
            continue
        lines += [f"## Scenarios, {split} split" + (" (not trained on)" if split == "test" else ""), ""]
        lines += [_table(blocks, _metric_rows(blocks, columns), columns), ""]
    if external:
        lines += ["## LongMemEval_S knowledge-update and BEAM 100K", ""]
        lines += [
            _table(external, [m for m in (*LME_ROWS, *BEAM_ROWS) if any(external[c].get(f"{m}_n") for c in columns)], columns),
            "",
        ]
    lines += ["## Per scenario type (all scenarios run)", ""]
    for t in TYPES:
        blocks = {c: summary[c]["by_type"][t] for c in columns if t in summary[c]["by_type"]}
        if blocks:
            lines += [f"### {t}", "", _table(blocks, _metric_rows(blocks, columns), columns), ""]
    lines += ["## Per attribute: newer-above-older (update and correction scenarios)", ""]
    attr_rows = []
    for a in sorted({r["attribute"] for r in rows if r["type"] in ("update", "correction")}):
        b = {c: summary[c]["by_attribute"][a] for c in columns}
        attr_rows.append(
            [a, str(b[columns[0]].get("newer_above_older_n")), *[fmt(b[c].get("newer_above_older"), 2) for c in columns]]
        )
    lines += [md_table(["attribute", "n", *columns], attr_rows), ""]
    last = [c for c in columns if "/" not in c and not c.endswith("+pass")][-1]
    for col in (last, last + "+pass"):
        ex = _examples(rows, col)
        if ex:
            lines += [f"## Examples: test scenarios `{col}` ranks old above new (top {TOP_SHOWN} of recall(probe))", "", *ex, ""]
    lines += ["## Timing", ""]
    trows = [[c, fmt(v.get("observe_ms_per_turn"), 1), fmt(v.get("pass_ms_mean"), 1), fmt(v.get("scenarios_s"), 1),
              fmt(v.get("lme_s"), 1), fmt(v.get("beam_s"), 1), fmt(v.get("total_s"), 1)] for c, v in timing.items()]  # fmt: skip
    lines += [md_table(["system", "observe ms/turn", "pass ms", "scenarios s", "lme s", "beam s", "total s"], trows), ""]
    lines += [f"Wall time {wall:.0f} s.", *[f"Note: {n}" for n in notes], ""]
    lines += ["Metrics:", *[f"- `{m}`: {d}" for m, (d, _) in METRICS.items()]]
    return "\n".join(lines)

"""Consolidation benchmark: what one sleep-time pass does to a store, on development data.

LoCoMo dev conversations (observed turn by turn: real session times, role = speaker, metadata
``dia_id``), one user per conversation and condition:

* ``before``  the store as ingested (no pass)
* ``after``   after ``psm.consolidate(user)`` (default configuration)
* ``after+archive``  after a pass that also archives uncovered episodes weaker than ``--archive-strength``

reporting active records (status active; ratio to before), evidence recall@10 scored through
provenance (a recalled fact covers the turns it was distilled from), and context tokens per query
(``RecallResult.tokens`` at k=10). BM25 and a raw vector store over the same turns and embedder are
printed alongside. Each condition is a separate user, so recalls made to score one condition never
reinforce another (embeddings come from the disk cache of `benchmarks.cache`, so repeated runs and
the second ingestion of a text cost only the store writes).

LongMemEval dev knowledge-update questions with the old value and the current value in different
sessions (user turns observed with their session dates): how often a memory stating the current
value (its own turn, or a fact's source turn) outranks every memory stating the old one, and whether
the old value stays reachable with ``include_superseded=True`` (and carries a validity interval),
split into the LongMemEval half PSM-mini drew weak labels from and the held-out half
(``psm_core.skill.training.weak.lme_is_train``).
As in the main harness, ``max_text_bytes`` is raised to 1 MiB (a few LongMemEval turns are pasted documents).

Throughput: input episodes of the passes per wall second and per CPU second (= per core).

    python benchmarks/consolidation.py --data ../shared/data --locomo-questions 40 --lme-limit 200
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.cache import CachingEmbedder  # noqa: E402
from psm_core import PSM, MemoryRecord, NotFoundError, PSMSettings, Status  # noqa: E402
from psm_core.consolidation import ConsolidationConfig, PassReport  # noqa: E402
from psm_core.embeddings import load_embedder  # noqa: E402
from psm_core.memory import UserMemory  # noqa: E402
from psm_core.provenance import sources  # noqa: E402
from psm_core.skill.training.weak import lme_is_train  # noqa: E402
from psm_core.text import count_tokens  # noqa: E402

K = 10
_EVID = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")


# -- data ----------------------------------------------------------------------------------------
def dia(raw: str) -> list[str]:
    return [f"D{int(s)}:{int(t)}" for s, t in _EVID.findall(str(raw))]


def locomo_date(text: str) -> datetime:
    cleaned = re.sub(r"\s+", " ", text.strip())
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise ValueError(f"unrecognized LoCoMo date {text!r}")


def locomo_sessions(sample: dict[str, Any]) -> list[list[dict[str, Any]]]:
    conv = sample["conversation"]
    nums = sorted(int(m.group(1)) for k in conv if (m := re.match(r"^session_(\d+)$", k)) and isinstance(conv[k], list))
    out = []
    for n in nums:
        start = locomo_date(conv[f"session_{n}_date_time"])
        events = []
        for i, t in enumerate(conv[f"session_{n}"]):
            text = str(t.get("text") or "").strip()
            if t.get("blip_caption"):
                text = f"{text} [shares an image: {t['blip_caption']}]".strip()
            if text:
                events.append({"text": text, "role": str(t["speaker"]), "session_id": f"S{n}",
                               "timestamp": start + timedelta(minutes=i), "metadata": {"dia_id": dia(t["dia_id"])[0]}})  # fmt: skip
        out.append(events)
    return out


def lme_date(text: str) -> datetime:
    cleaned = re.sub(r"\s*\([A-Za-z]+\)\s*", " ", text.strip())
    return datetime.strptime(cleaned, "%Y/%m/%d %H:%M").replace(tzinfo=timezone.utc)


# -- scoring -------------------------------------------------------------------------------------
def units(mem: UserMemory, rec: MemoryRecord, key: str) -> set[str]:
    """Units (dia_ids / turns) a record covers: its own plus those of its source episodes (``mem.sources``)."""
    recs = [rec, *sources(rec, mem.get)]
    return {str(r.metadata[key]) for r in recs if key in r.metadata}


def stated(mem: UserMemory, rec: MemoryRecord, key: str) -> set[str]:
    """Units whose value a record states: its own turn, or the source turn of a fact's text."""
    if key in rec.metadata:
        return {str(rec.metadata[key])}
    src = rec.ledger.get("source")
    if src:
        try:
            return units(mem, mem.get(src), key)
        except NotFoundError:
            pass
    return units(mem, rec, key)


def active(mem: UserMemory) -> tuple[int, int]:
    recs = mem.records()
    return sum(r.status is Status.ACTIVE for r in recs), len(recs)


@dataclass
class Pass:
    episodes: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    reports: list[dict[str, Any]] = field(default_factory=list)

    def run(self, psm: PSM, user: str) -> PassReport:
        w, c = time.perf_counter(), time.process_time()
        rep = psm.consolidate(user)
        self.wall += time.perf_counter() - w
        self.cpu += time.process_time() - c
        self.episodes += rep.episodes
        self.reports.append(rep.changes() | {"user": user, "episodes": rep.episodes})
        return rep


def collapsed(mem: UserMemory, query: str) -> tuple[list[MemoryRecord], int]:
    """Top-k where an episode covered by a fact ranked above it is left out (a proposed recall change)."""
    kept: list[MemoryRecord] = []
    covered: set[str] = set()
    tokens = 0
    for m in mem.recall(query, k=3 * K):
        if m.record.id in covered:
            continue
        kept.append(m.record)
        tokens += count_tokens(m.render())
        covered |= set(m.record.provenance)
        if len(kept) == K:
            break
    return kept, tokens


def recall_eval(mem: UserMemory, questions: list[dict[str, Any]], collapse: bool = False) -> tuple[float, float]:
    rec, tok = [], []
    for q in questions:
        if collapse:
            records, tokens = collapsed(mem, q["question"])
        else:
            res = mem.recall(q["question"], k=K)
            records, tokens = [m.record for m in res], res.tokens
        got: set[str] = set()
        for r in records:
            got |= units(mem, r, "dia_id")
        ev = q["evidence"]
        rec.append(1.0 if not ev else len(set(ev) & got) / len(ev))
        tok.append(tokens)
    return float(np.mean(rec)), float(np.mean(tok))


def baselines(
    turns: list[dict[str, Any]], questions: list[dict[str, Any]], emb: CachingEmbedder
) -> dict[str, tuple[float, float]]:
    import bm25s

    docs = [f"{t['role']}: {t['text']}" for t in turns]
    lines = [count_tokens(f"- [{t['timestamp']:%Y-%m-%d}] {d}") for t, d in zip(turns, docs)]
    ids = [t["metadata"]["dia_id"] for t in turns]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(docs, stopwords="en", show_progress=False), show_progress=False)
    top_b, _ = retriever.retrieve(bm25s.tokenize([q["question"] for q in questions], stopwords="en", show_progress=False),
                                  k=min(K, len(docs)), show_progress=False)  # fmt: skip
    dv = emb.embed(docs)
    top_v = np.argsort(-(emb.embed([q["question"] for q in questions]) @ dv.T), axis=1)[:, :K]
    out = {}
    for name, tops in (("BM25 over turns", top_b), ("vector store over turns", top_v)):
        rec, tok = [], []
        for q, row in zip(questions, tops):
            got = {ids[int(i)] for i in row}
            ev = q["evidence"]
            rec.append(1.0 if not ev else len(set(ev) & got) / len(ev))
            tok.append(sum(lines[int(i)] for i in row))
        out[name] = (float(np.mean(rec)), float(np.mean(tok)))
    return out


# -- benchmarks ----------------------------------------------------------------------------------
def run_locomo(psm: PSM, emb: CachingEmbedder, path: Path, args: argparse.Namespace, passes: Pass) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))[: args.locomo_limit]
    conditions = ["before", "after"] + (["after+archive"] if args.archive_strength is not None else [])
    acc: dict[str, dict[str, list[float]]] = {}
    for sample in data:
        sid = sample["sample_id"]
        sessions = locomo_sessions(sample)
        turns = [e for s in sessions for e in s]
        qs = [{"question": q["question"], "evidence": [d for e in q.get("evidence") or [] for d in dia(e)]}
              for q in sample["qa"]][: args.locomo_questions or None]  # fmt: skip
        row: dict[str, Any] = {}
        for cond in conditions:
            user = f"{sid}/{cond}"
            mem = psm.for_user(user)
            for events in sessions:
                mem.observe_many(events)
            n_active, n_total = active(mem)
            if cond != "before":
                if cond == "after+archive":
                    psm.configure_consolidation(ConsolidationConfig(archive_strength=args.archive_strength))
                passes.run(psm, user)
                psm.configure_consolidation(ConsolidationConfig())
            a, total = active(mem)
            r10, tok = recall_eval(mem, qs)
            row[cond] = {"active": a, "records": total, "stored_before": n_active, "recall@10": r10, "tokens": tok}
            if cond == "after" and args.collapse:
                r10, tok = recall_eval(mem, qs, collapse=True)
                row["after, covered episodes collapsed*"] = {"recall@10": r10, "tokens": tok}
        for name, (r10, tok) in baselines(turns, qs, emb).items():
            row[name] = {"recall@10": r10, "tokens": tok}
        for cond, vals in row.items():
            for k, v in vals.items():
                acc.setdefault(cond, {}).setdefault(k, []).append(v)
        print(f"  {sid}: {len(turns)} turns, {len(qs)} questions, " + ", ".join(
            f"{c} R@10 {v['recall@10']:.3f} tok {v['tokens']:.0f}" + (f" active {v['active']}" if "active" in v else "")
            for c, v in row.items()), flush=True)  # fmt: skip
    out: dict[str, Any] = {}
    for cond, vals in acc.items():
        out[cond] = {"recall@10": float(np.mean(vals["recall@10"])), "tokens_per_query": float(np.mean(vals["tokens"]))}
        if "active" in vals:
            out[cond]["active_records"] = int(sum(vals["active"]))
            out[cond]["stored_records"] = int(sum(vals["records"]))
    base_active = out["before"]["active_records"]
    for cond in conditions:
        out[cond]["active_ratio"] = out[cond]["active_records"] / base_active
    out["conversations"] = len(data)
    out["questions"] = int(sum(len(s["qa"][: args.locomo_questions or None]) for s in data))
    return out


def run_lme(psm: PSM, path: Path, args: argparse.Namespace, passes: Pass) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = [x for x in json.load(f) if x["question_type"] == "knowledge-update" and not x["question_id"].endswith("_abs")]
    picked = []
    for x in data:
        ev = []
        for sid, date, sess in zip(x["haystack_session_ids"], x["haystack_dates"], x["haystack_sessions"]):
            hits = [f"{sid}#{i}" for i, t in enumerate(sess) if t["role"] == "user" and t.get("has_answer")]
            if sid in x["answer_session_ids"] and hits:
                ev.append((lme_date(date), hits))
        if len({d for d, _ in ev}) >= 2:
            ev.sort(key=lambda e: e[0])
            picked.append((x, set(ev[-1][1]), {u for _, hs in ev[:-1] for u in hs}))
    picked = picked[: args.lme_limit]
    stats: dict[str, list[float]] = {}
    for x, current, old in picked:
        for cond in ("before", "after"):
            user = f"lme/{x['question_id']}/{cond}"
            mem = psm.for_user(user)
            for sid, date, sess in zip(x["haystack_session_ids"], x["haystack_dates"], x["haystack_sessions"]):
                start = lme_date(date)
                events = [{"text": t["content"], "role": "user", "session_id": sid, "timestamp": start + timedelta(minutes=i),
                           "metadata": {"unit": f"{sid}#{i}"}}
                          for i, t in enumerate(sess) if t["role"] == "user" and t["content"].strip()]  # fmt: skip
                if events:
                    mem.observe_many(events)
            if cond == "after":
                passes.run(psm, user)
            res = mem.recall(x["question"], k=K)
            ranks_cur = [r for r, m in enumerate(res) if stated(mem, m.record, "unit") & current]
            ranks_old = [r for r, m in enumerate(res) if stated(mem, m.record, "unit") & old]
            win = bool(ranks_cur) and (not ranks_old or min(ranks_cur) < min(ranks_old))
            hist = mem.recall(x["question"], k=K, include_superseded=True)
            reach = [m for m in hist if units(mem, m.record, "unit") & old]
            old_recs = [r for r in mem.records() if units(mem, r, "unit") & old]
            interval = [r for r in old_recs if r.status is Status.SUPERSEDED and r.valid_to is not None]
            with_interval = [m for m in reach if m.record.status is Status.SUPERSEDED and m.record.valid_to is not None]
            for k, v in ((f"{cond}/current_outranks", win), (f"{cond}/current_in_top10", bool(ranks_cur)),
                         (f"{cond}/old_reachable@10", bool(reach)), (f"{cond}/old_superseded_with_interval", bool(interval)),
                         (f"{cond}/old_reachable_with_interval@10", bool(with_interval)),
                         (f"{cond}/tokens", res.tokens)):  # fmt: skip
                stats.setdefault(k, []).append(float(v))
            half = "trained_on" if lme_is_train(x["question_id"]) else "held_out"
            stats.setdefault(f"{cond}/current_outranks_{half}", []).append(float(win))
        print(f"  {x['question_id']}: current outranks old before={bool(stats['before/current_outranks'][-1])} "
              f"after={bool(stats['after/current_outranks'][-1])}", flush=True)  # fmt: skip
    out: dict[str, Any] = {k: float(np.mean(v)) for k, v in stats.items()}
    out["questions"] = len(picked)
    return out


def markdown(res: dict[str, Any], command: str) -> str:
    lo, lm, tp = res["locomo"], res["longmemeval_ku"], res["throughput"]
    lines = [
        "# Consolidation benchmark (development data)", "", f"Command: `{command}`", "",
        f"Skill: `{res['skill']}`; embedder: `{res['embedder']}`; machine: {res['cores']} cores (shared); "
        f"{res['seconds']:.0f} s in all.", "",
        f"## LoCoMo dev ({lo['conversations']} conversations, {lo['questions']} questions; k={K})", "",
        "| condition | active records | ratio to before | evidence recall@10 | context tokens / query |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for cond, v in lo.items():
        if isinstance(v, dict):
            act = f"{v['active_records']} of {v['stored_records']}" if "active_records" in v else "-"
            ratio = f"{v['active_ratio']:.3f}" if "active_ratio" in v else "-"
            lines.append(f"| {cond} | {act} | {ratio} | {v['recall@10']:.3f} | {v['tokens_per_query']:.1f} |")
    if any(k.endswith("*") for k in lo):
        lines += ["", "\\* not the shipped recall: the top-10 of `recall(k=30)` leaving out an episode when a fact ranked above it "
                  "covers it (a proposed change to recall, simulated here on the `after` store)."]  # fmt: skip
    lines += ["", f"## LongMemEval dev, knowledge-update ({lm['questions']} questions with old and current value in different sessions)", "",
              "| metric | before | after |", "|---|---|---|"]  # fmt: skip
    for m in ("current_outranks", "current_outranks_held_out", "current_outranks_trained_on", "current_in_top10",
              "old_reachable@10", "old_superseded_with_interval", "old_reachable_with_interval@10", "tokens"):  # fmt: skip
        if f"before/{m}" not in lm:  # e.g. no question of one half in a small run
            continue
        fmt = "{:.1f}" if m == "tokens" else "{:.3f}"
        lines.append(f"| {m} | {fmt.format(lm['before/' + m])} | {fmt.format(lm['after/' + m])} |")
    lines += ["", "## Throughput", "",
              f"{tp['episodes']} input episodes in {tp['passes']} passes: {tp['episodes_per_s']:.0f} episodes/s wall, "
              f"{tp['episodes_per_cpu_s']:.0f} episodes per CPU-second (per core).", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--skill", default="mini", help="memory skill (default mini, the product default; baseline; or a weights dir)")
    p.add_argument("--locomo-limit", type=int, default=5, help="conversations")
    p.add_argument("--locomo-questions", type=int, default=0, help="questions per conversation (0: all)")
    p.add_argument("--lme-limit", type=int, default=15, help="knowledge-update questions")
    p.add_argument("--archive-strength", type=float, default=0.05, help="the after+archive condition (negative: skip it)")
    p.add_argument(
        "--no-collapse",
        dest="collapse",
        action="store_false",
        help="skip the row that simulates collapsing covered episodes under their fact in recall",
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "consolidation")
    args = p.parse_args(argv)
    if args.archive_strength is not None and args.archive_strength < 0:
        args.archive_strength = None
    command = "python benchmarks/consolidation.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    t0 = time.perf_counter()
    emb = CachingEmbedder(load_embedder("all-MiniLM-L6-v2", "onnx", Path("~/.cache/psm/models").expanduser()))
    passes = Pass()
    with (
        tempfile.TemporaryDirectory(prefix="psm-consolidation-bench-") as home,
        PSM(PSMSettings(home=Path(home), skill=args.skill, max_text_bytes=1 << 20), embedder=emb) as psm,
    ):
        print(f"skill {psm.skill.name}; LoCoMo:", flush=True)
        locomo = run_locomo(psm, emb, args.data / "locomo" / "locomo_dev.json", args, passes)
        print("LongMemEval knowledge-update:", flush=True)
        lme = run_lme(psm, args.data / "longmemeval" / "longmemeval_s_dev.json.gz", args, passes)
        skill = psm.skill.name
    res = {
        "command": command, "skill": skill, "embedder": emb.name, "cores": len(os.sched_getaffinity(0)),
        "seconds": time.perf_counter() - t0, "locomo": locomo, "longmemeval_ku": lme,
        "throughput": {"passes": len(passes.reports), "episodes": passes.episodes, "wall_s": passes.wall, "cpu_s": passes.cpu,
                       "episodes_per_s": passes.episodes / max(passes.wall, 1e-9),
                       "episodes_per_cpu_s": passes.episodes / max(passes.cpu, 1e-9)},
        "passes": passes.reports,
    }  # fmt: skip
    text = markdown(res, command)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

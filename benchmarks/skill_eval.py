"""PSM-mini against the baseline policy, per memory operation, on data neither was trained on.

    python -m benchmarks.skill_eval [--data ../shared/data] [--weights DIR] [--lme-questions 40 | --full]

* gate: LoCoMo conversations outside the training split (conv-43, -47, -49): fraction of turns
  stored vs fraction of evidence turns kept, at each skill's operating point and along its
  importance ranking (stored fraction needed to keep 98 % of evidence; evidence kept at 70 % stored).
* interference: macro-F1 over the five relations on the held-out curriculum split, and on
  knowledge-update pairs mined from LongMemEval_S (latest vs earliest answer turn = update; vs an
  unrelated user turn of the haystack = unrelated).
* recall weighting, through the public API (observe_many with real times and speakers, then
  recall): LoCoMo evidence recall@10 on the held-out conversations, LongMemEval_S recall_all@5 over
  sessions on the held-out half, against raw cosine and BM25 over every turn, in the same run.
* correction detection: precision / recall on the held-out curriculum split and a hand-written set.
* speed: operations per second (single calls and batches) of every head, and recall p50 latency.
Results: benchmarks/results/skill_eval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from psm_core.embeddings import load_embedder
from psm_core.index import contextual_vectors
from psm_core.lexical import BM25Index
from psm_core.skill.base import MemorySkill, Relation
from psm_core.skill.baseline import BaselinePolicy
from psm_core.skill.mini import PSMMini
from psm_core.skill.training import weak
from psm_core.skill.training.curriculum import Curriculum
from psm_core.skill.training.datasets import turn_pair
from psm_core.skill.training.heldout import CORRECTION_SET
from psm_core.skill.training.metrics import binary_report, macro_f1, recall_all_sessions, recall_at
from psm_core.skill.training.recall_lists import QueryResult, lme_gold, lme_units, locomo_units, run_units
from psm_core.skill.training.vectors import VectorCache
from psm_core.types import Event

RESULTS = Path(__file__).resolve().parent / "results"
RELATIONS = list(Relation)
_CARD_HEADER = "## Development results (benchmarks/skill_eval.py; data not trained on)"


def _skills(args: argparse.Namespace, vc: VectorCache) -> dict[str, MemorySkill]:
    mini = PSMMini.load(args.weights, embedder=vc) if args.weights else PSMMini.load(embedder=vc)
    return {"baseline": BaselinePolicy(), "psm-mini": mini}


# -- gate ---------------------------------------------------------------------------------------
def eval_gate(convs: list[weak.LocomoConversation], skills: dict[str, MemorySkill], vc: VectorCache) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, skill in skills.items():
        keep, imp, ev = [], [], []
        for c in convs:
            events, lines, contexts = [], [], []
            last: dict[int, LocomoTurnLike] = {}
            for t in c.turns:
                prev = last.get(t.session)
                events.append(Event(text=t.text, role=t.speaker, session_id=f"S{t.session}", timestamp=t.time))
                lines.append(turn_pair(t.speaker, t.text, (prev.speaker, prev.text) if prev else None))
                last[t.session] = t
            for i in range(len(events)):
                contexts.append(events[max(0, i - 4) : i])
            decisions = skill.gate_batch(events, contextual_vectors(vc.embed, lines), contexts)
            keep += [d.keep for d in decisions]
            imp += [d.importance for d in decisions]
            ev += [t.dia_id in c.evidence for t in c.turns]
        k, s, e = np.array(keep), np.array(imp), np.array(ev)
        at98 = float(np.quantile(s[e], 0.02))
        at70 = float(np.quantile(s, 0.30))
        out[name] = {
            "stored": round(float(k.mean()), 4),
            "evidence_kept": round(float(k[e].mean()), 4),
            "stored_at_98_evidence": round(float((s >= at98).mean()), 4),
            "evidence_at_70_stored": round(float((s[e] >= at70).mean()), 4),
            "turns": int(len(k)),
            "evidence_turns": int(e.sum()),
        }
    return out


LocomoTurnLike = Any


# -- interference -------------------------------------------------------------------------------
def mined_update_pairs(entries: list[dict[str, Any]], seed: int = 0) -> list[tuple[str, str, Relation]]:
    """Knowledge-update questions: (latest answer turn, earliest answer turn) = update; (latest, other turn) = unrelated."""
    rng = np.random.default_rng(seed)
    pairs = []
    for e in entries:
        if e["question_type"] != "knowledge-update" or e["question_id"].endswith("_abs"):
            continue
        dated = []
        others = []
        for sid, date, session in zip(e["haystack_session_ids"], e["haystack_dates"], e["haystack_sessions"]):
            for t in session:
                if t["role"] != "user" or not t["content"].strip():
                    continue
                if t.get("has_answer") and "answer" in sid:
                    dated.append((weak.parse_lme_date(date), t["content"]))
                elif "answer" not in sid:
                    others.append(t["content"])
        dated.sort(key=lambda d: d[0])
        if len(dated) >= 2 and dated[0][1] != dated[-1][1]:
            pairs.append((dated[-1][1], dated[0][1], Relation.UPDATE))
            if others:
                pairs.append((dated[-1][1], others[int(rng.integers(len(others)))], Relation.UNRELATED))
    return pairs


def eval_interference(skills: dict[str, MemorySkill], vc: VectorCache, entries: list[dict[str, Any]], n: int) -> dict[str, Any]:
    cur = Curriculum(1001, held_out=True)
    curriculum = [cur.pair() for _ in range(n)]
    mined = mined_update_pairs(entries)
    out: dict[str, Any] = {"curriculum_pairs": len(curriculum), "mined_pairs": len(mined)}
    for name, skill in skills.items():
        res: dict[str, Any] = {}
        for label, data in (("curriculum", [(p.new, p.existing, p.relation) for p in curriculum]), ("longmemeval_ku", mined)):
            if not data:
                continue
            vn, vo = vc.embed([d[0] for d in data]), vc.embed([d[1] for d in data])
            sims = np.clip((vn * vo).sum(1), 0.0, 1.0).tolist()  # the baseline rejects negative cosines (probability > 1)
            pred = np.array([RELATIONS.index(r.relation) for r in skill.interfere_batch([(a, b) for a, b, _ in data], sims)])
            true = np.array([RELATIONS.index(d[2]) for d in data])
            present = sorted(set(true.tolist()))
            res[label] = {
                "macro_f1": macro_f1(pred, true, len(RELATIONS), present),
                "accuracy": round(float((pred == true).mean()), 4),
                "per_class_recall": {RELATIONS[c].value: round(float((pred[true == c] == c).mean()), 4) for c in present},
            }
        out[name] = res
    return out


# -- recall -------------------------------------------------------------------------------------
def _raw_lists(units: list[Any], vc: VectorCache, mode: str) -> list[QueryResult]:
    """Raw cosine (plain turn embeddings) or BM25 over every turn of each unit, mapped to units."""
    out = []
    for u in units:
        turns = [ev for s in u.sessions for ev in s]
        names = [str(ev["metadata"]["unit"]) for ev in turns]
        if mode == "cosine":
            tv = vc.embed([ev["text"] for ev in turns])
        else:
            bm = BM25Index()
            for i, ev in enumerate(turns):
                bm.add(str(i), ev["text"])
        for q, gold, info in u.queries:
            if mode == "cosine":
                scores = (tv @ vc.embed([q])[0]).astype(np.float64)
            else:
                scores = np.zeros(len(turns))
                for rid, s in bm.search(q, len(turns)):
                    scores[int(rid)] = s
            out.append(QueryResult(u.user, q, gold, info, np.zeros((0, 1), np.float32), names, np.zeros(0, np.float32), scores))
    return out


def eval_recall(
    skills: dict[str, MemorySkill], vc: VectorCache, convs: list[weak.LocomoConversation], lme: list[dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {"locomo": {}, "longmemeval": {}}
    lo_units = locomo_units(convs, with_empty=True)
    lm_units = lme_units(lme)
    out["locomo"]["questions"] = sum(len(u.queries) for u in lo_units)
    out["longmemeval"]["questions"] = len(lm_units)
    for name in ("cosine", "bm25"):
        lo = _raw_lists(lo_units, vc, name)
        lm = _raw_lists(lm_units, vc, name)
        out["locomo"][f"raw {name} (all turns)"] = {"recall@10": recall_at(lo, 10), "recall@5": recall_at(lo, 5)}
        out["longmemeval"][f"raw {name} (all turns)"] = {
            "recall_all@5": recall_all_sessions(lm, 5),
            "recall_all@10": recall_all_sessions(lm, 10),
        }
    for name, skill in skills.items():
        t0 = time.perf_counter()
        lo = run_units(lo_units, skill, vc, k=10, progress=True, desc=f"LoCoMo {name}")
        lm = run_units(lm_units, skill, vc, k=25, progress=True, desc=f"LongMemEval {name}")
        stored_lo = sum(q.stored for q in {q.user: q for q in lo}.values()) / max(
            1, sum(q.observed for q in {q.user: q for q in lo}.values())
        )
        stored_lm = sum(q.stored for q in {q.user: q for q in lm}.values()) / max(
            1, sum(q.observed for q in {q.user: q for q in lm}.values())
        )
        out["locomo"][f"PSM {name}"] = {
            "recall@10": recall_at(lo, 10),
            "recall@5": recall_at(lo, 5),
            "stored": round(stored_lo, 4),
            "recall_p50_ms": round(float(np.median([q.ms for q in lo])), 2),
        }
        out["longmemeval"][f"PSM {name}"] = {
            "recall_all@5": recall_all_sessions(lm, 5), "recall_all@10": recall_all_sessions(lm, 10), "stored": round(stored_lm, 4),
        }  # fmt: skip
        out[f"seconds_{name}"] = round(time.perf_counter() - t0, 1)
    return out


# -- corrections --------------------------------------------------------------------------------
def eval_corrections(skills: dict[str, MemorySkill], n: int) -> dict[str, Any]:
    cur = Curriculum(2002, held_out=True)
    held = [cur.correction() for _ in range(n)]
    sets = {
        "curriculum": [(e.turn, e.answer, e.is_correction) for e in held],
        "handwritten": list(CORRECTION_SET),
    }
    out: dict[str, Any] = {}
    for name, skill in skills.items():
        out[name] = {}
        for label, data in sets.items():
            pred = np.array([c.is_correction for c in skill.is_correction_batch([(t, a) for t, a, _ in data])])
            out[name][label] = binary_report(pred, np.array([d[2] for d in data]))
    return out


# -- speed --------------------------------------------------------------------------------------
def _rate(fn: Any, n: int, reps: int = 3) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(n / best, 1)


def _speed_of(
    s: MemorySkill, events: list[Event], vecs: Any, pairs: list[tuple[str, str]], cands: Any, now: Any, recs: Any
) -> dict[str, Any]:
    return {
        "gate_single": _rate(lambda: [s.gate(events[i], (), vecs[i]) for i in range(64)], 64),
        "gate_batch": _rate(lambda: s.gate_batch(events, vecs, None), len(events)),
        "interfere_single": _rate(lambda: [s.interfere(a, b) for a, b in pairs[:32]], 32),
        "interfere_batch": _rate(lambda: s.interfere_batch(pairs), len(pairs)),
        "weigh_60_candidates_calls": _rate(lambda: [s.weigh("q", cands, now) for _ in range(100)], 100),
        "decay": _rate(lambda: [s.decay(r) for r in recs], len(recs)),
        "correction_single": _rate(lambda: [s.is_correction(a, b) for a, b in pairs[:32]], 32),
        "correction_batch": _rate(lambda: s.is_correction_batch(pairs), len(pairs)),
        "extract_patterns_100_episodes_calls": _rate(lambda: s.extract_patterns(recs[:100], vecs[:100]), 1),
    }


def eval_speed(skills: dict[str, MemorySkill], vc: VectorCache, conv: weak.LocomoConversation) -> dict[str, Any]:
    from datetime import timedelta

    from psm_core.skill.base import Candidate
    from psm_core.types import Kind, MemoryRecord, Tier

    turns = conv.turns[:256]
    events = [Event(text=t.text, role=t.speaker, session_id="s", timestamp=t.time) for t in turns]
    vecs = vc.embed([t.text for t in turns])
    pairs = [(turns[i].text, turns[i + 1].text) for i in range(128)]
    vc.embed([p for pr in pairs for p in pr])  # warm: speed below excludes embedding
    now = turns[-1].time
    recs = [
        MemoryRecord(user_id="u", text=t.text, role=t.speaker, observed_at=t.time - timedelta(days=i % 30), tier=Tier.EPISODIC, kind=list(Kind)[i % 6])
        for i, t in enumerate(turns)
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    cands = [
        Candidate(record=recs[i], similarity=float(rng.uniform(0.1, 0.8)), lexical=float(rng.uniform()), dense_rank=i, lexical_rank=None if i % 3 else i, neighbor_similarity=float(rng.uniform(0, 0.7)))
        for i in range(60)
    ]  # fmt: skip
    out: dict[str, Any] = {}
    for name, skill in skills.items():
        r = _speed_of(skill, events, vecs, pairs, cands, now, recs)
        r["weigh_ms_per_call"] = round(1000.0 / r["weigh_60_candidates_calls"], 3)
        out[name] = r
    return out


def _markdown(res: dict[str, Any]) -> str:
    g, i, rc, c, sp = res["gate"], res["interference"], res["recall"], res["correction"], res["speed"]
    lines = [
        "# PSM-mini vs baseline policy, per operation (development data not trained on)",
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {res['machine']}; weights: {res['weights']}; {res['seconds']:.0f} s.",
        "",
        "## Gate (LoCoMo conv-43, conv-47, conv-49)",
        "| skill | stored | evidence kept | stored at 98% evidence | evidence at 70% stored |",
        "|---|---|---|---|---|",
    ]
    for n, v in g.items():
        lines.append(
            f"| {n} | {v['stored']:.3f} | {v['evidence_kept']:.3f} | {v['stored_at_98_evidence']:.3f} | {v['evidence_at_70_stored']:.3f} |"
        )
    lines += ["", "Target: store <= 70% of turns while keeping >= 98% of evidence turns.", ""]
    lines += [
        "## Interference (macro-F1)",
        "| skill | held-out curriculum (5 relations) | LongMemEval knowledge-update pairs (update/unrelated) |",
        "|---|---|---|",
    ]
    for n in ("baseline", "psm-mini"):
        v = i[n]
        ku = v.get("longmemeval_ku", {})
        lines.append(
            f"| {n} | {v['curriculum']['macro_f1']:.3f} | {ku.get('macro_f1', float('nan')):.3f} (per class {ku.get('per_class_recall', {})}) |"
        )
    lines += [
        "",
        f"{i['curriculum_pairs']} curriculum pairs, {i['mined_pairs']} mined pairs. Target: >= 0.85 on the curriculum split.",
        "",
    ]
    lines += [
        "## Recall weighting",
        "| system | LoCoMo R@10 | LoCoMo R@5 | LongMemEval_S recall_all@5 | recall_all@10 | stored (LoCoMo / LME) |",
        "|---|---|---|---|---|---|",
    ]
    for n in rc["locomo"]:
        if n == "questions":
            continue
        a, b = rc["locomo"][n], rc["longmemeval"][n]
        st = f"{a['stored']:.2f} / {b['stored']:.2f}" if "stored" in a else "1.00 / 1.00"
        lines.append(
            f"| {n} | {a['recall@10']:.3f} | {a['recall@5']:.3f} | {b['recall_all@5']:.3f} | {b['recall_all@10']:.3f} | {st} |"
        )
    lines += [
        "",
        f"LoCoMo: {rc['locomo']['questions']} questions; LongMemEval_S: {rc['longmemeval']['questions']} held-out questions.",
        "Recall p50 latency through the API on LoCoMo (query embedding cached: Chroma + candidates + weigh), ms: "
        + ", ".join(f"{n} {v['recall_p50_ms']}" for n, v in rc["locomo"].items() if isinstance(v, dict) and "recall_p50_ms" in v),
        "",
    ]
    lines += ["## Correction detection", "| skill | set | precision | recall | F1 |", "|---|---|---|---|---|"]
    for n, v in c.items():
        for s, m in v.items():
            lines.append(f"| {n} | {s} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} |")
    lines += [
        "",
        "## Speed (operations per second, one process; embedding excluded: vectors cached)",
        "| op | " + " | ".join(sp) + " |",
        "|---|" + "---|" * len(sp),
    ]
    for op in next(iter(sp.values())):
        lines.append(f"| {op} | " + " | ".join(str(sp[n][op]) for n in sp) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=weak.DATA_ROOT, help="development data root (../shared/data)")
    ap.add_argument("--weights", type=Path, default=None, help="PSM-mini weights directory (default: shipped)")
    ap.add_argument("--lme-questions", type=int, default=40, help="held-out LongMemEval questions for recall (default 40)")
    ap.add_argument("--full", action="store_true", help="every held-out LongMemEval question")
    ap.add_argument("--pairs", type=int, default=3000, help="held-out curriculum pairs")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    ap.add_argument("--tag", default="", help="suffix of the result files (skill_eval_TAG.json/.md)")
    ap.add_argument("--card", type=Path, default=None, help="also write the results into this MODEL_CARD.md")
    ap.add_argument("--cache", type=Path, default=Path(__file__).resolve().parent / ".cache" / "skill")
    args = ap.parse_args(argv)
    t0 = time.time()
    vc = VectorCache(load_embedder(cache_dir=Path("~/.cache/psm/models").expanduser()), args.cache, progress=True)
    skills = _skills(args, vc)
    convs = [c for c in weak.load_locomo(args.data / "locomo" / "locomo_dev.json") if c.sample_id not in weak.TRAIN_CONVERSATIONS]
    entries = weak.load_longmemeval(args.data / "longmemeval" / "longmemeval_s_dev.json.gz")
    held = sorted((e for e in entries if not weak.lme_is_train(e["question_id"])), key=lambda e: e["question_id"])
    held = [e for e in held if not e["question_id"].endswith("_abs") and lme_gold(e)]
    lme = held if args.full else held[: args.lme_questions]
    res: dict[str, Any] = {
        "command": "python -m benchmarks.skill_eval " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.system()}, shared 2-core CPU",
        "weights": str(args.weights or "shipped (psm_core/skill/weights)"),
        "splits": {
            "locomo": [c.sample_id for c in convs],
            "longmemeval_heldout_questions": len(lme),
            "lme_split": "sha1(question_id) odd",
        },
    }
    res["gate"] = eval_gate(convs, skills, vc)
    print(json.dumps({"gate": res["gate"]}, indent=1), flush=True)
    res["interference"] = eval_interference(
        skills, vc, [e for e in entries if not weak.lme_is_train(e["question_id"])], args.pairs
    )
    print(json.dumps({"interference": res["interference"]}, indent=1), flush=True)
    res["correction"] = eval_corrections(skills, 2000)
    res["speed"] = eval_speed(skills, vc, convs[0])
    res["recall"] = eval_recall(skills, vc, convs, lme)
    vc.save()
    res["seconds"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"skill_eval_{args.tag}" if args.tag else "skill_eval"
    (args.out / f"{stem}.json").write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    md = _markdown(res)
    (args.out / f"{stem}.md").write_text(md)
    if args.card is not None:
        card = args.card.read_text().split(_CARD_HEADER)[0].rstrip() + "\n\n"
        body = md.split("\n", 1)[1].replace("\n## ", "\n### ")
        args.card.write_text(card + _CARD_HEADER + "\n" + body)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

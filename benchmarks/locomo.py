"""LoCoMo: turn-level evidence recall@k (k = 5, 10, 25, 50) per category, every system in one run.

``python -m benchmarks locomo [--data PATH] [--limit N] [--skill NAME] [--accumulate]``

Per conversation: BM25 and the raw vector store index every turn as ``"<speaker>: <text>"``;
PSM observes the same turns session by session (role = speaker, metadata dia_id) into one user.
Every question is then asked of every system: the baselines rank once (top 50, prefixes for smaller
k); PSM is called as an app calls it, ``recall(question, k=K)`` for each K. A question scores the
fraction of its evidence dia_ids covered by the top K (1.0 without evidence). Context tokens: the
injected block (header + one ``- [date] speaker: text`` line per item, ``RecallResult.format_context``
for PSM). PSM after consolidation is evaluated on the same user after ``psm.consolidate(user)``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import DEFAULT_LOCOMO, LOCOMO_CATEGORIES, Conversation, load_locomo
from benchmarks.metrics import answer_coverage, evidence_recall, first_ranks
from benchmarks.report import progress
from benchmarks.systems import CONTEXT_HEADER, Bm25System, Doc, Hit, VectorSystem, context_tokens, open_chroma, timed
from psm_core.text import count_tokens

__all__ = ["KS", "add_arguments", "run", "score_hits"]

KS = (5, 10, 25, 50)
SYSTEMS = ("bm25", "vectors", "psm", "psm+consolidation")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_LOCOMO, help="LoCoMo JSON (official format)")
    p.add_argument("--limit", type=int, default=None, help="first N conversations only")
    p.add_argument("--skill", default=None, help="PSM skill (default: the product default)")
    p.add_argument("--accumulate", action="store_true", help="let recall access statistics accumulate across questions")
    p.add_argument("--bulk", action="store_true", help="ingest one observe_many per session (default: one observe per turn)")
    p.add_argument("--out", default="locomo", help="result file stem (default: locomo)")
    p.add_argument(
        "--rerank", type=int, default=0, metavar="N",
        help="also run psm+rerank (and psm+consolidation+rerank): recall(rerank=N), the cross-encoder over the top N",
    )  # fmt: skip


def _line(t: Any) -> str:
    return f"- [{t.time:%Y-%m-%d}] {t.speaker}: {t.text}"


def _docs(conv: Conversation) -> list[Doc]:
    return [Doc(f"{t.speaker}: {t.text}", _line(t), (t.dia_id,)) for t in conv.turns]


def _events(conv: Conversation) -> list[list[dict[str, Any]]]:
    return [
        [
            {
                "text": t.text,
                "role": t.speaker,
                "session_id": f"{conv.sample_id}/session_{t.session}",
                "timestamp": t.time,
                "metadata": {"dia_id": t.dia_id},
            }
            for t in session
        ]
        for session in conv.sessions
    ]


def score_hits(hits_by_k: Mapping[int, Sequence[Hit]], evidence: Sequence[str], answer: str | None = None) -> dict[str, Any]:
    """recall@k, tokens@k (and answer@k, answer-word coverage, given the answer) for each k, first
    ranks of the evidence, and the top-10 units."""
    out: dict[str, Any] = {}
    for k, hits in hits_by_k.items():
        covered = [u for h in hits[:k] for u in h.units]
        out[f"recall@{k}"] = evidence_recall(covered, evidence)
        out[f"tokens@{k}"] = context_tokens([h.line for h in hits[:k]])
        if answer is not None:
            out[f"answer@{k}"] = answer_coverage(answer, "\n".join(h.line for h in hits[:k]))
    deepest = hits_by_k[max(hits_by_k)]
    out["ranks"] = first_ranks([h.units for h in deepest], evidence)
    out["top10"] = [",".join(h.units) + (f" ({h.tier})" if h.tier and h.tier != "episodic" else "") for h in deepest[:10]]
    return out


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from benchmarks.cache import default_embedder
    from benchmarks.psm_system import PsmSystem
    from benchmarks.summary import finish_locomo

    convs = load_locomo(args.data)[: args.limit]
    embedder = default_embedder()
    # warm the cache with every question, so reported latencies are retrieval only (no query embedding)
    embedder.embed([q.question for c in convs for q in c.questions])
    questions: list[dict[str, Any]] = []
    info: dict[str, Any] = {"conversations": [], "consolidation": []}
    with tempfile.TemporaryDirectory(prefix="psm-bench-") as tmp:
        bm25 = Bm25System()
        vec = VectorSystem(open_chroma(Path(tmp) / "raw"), embedder)
        psm = PsmSystem(Path(tmp) / "psm", embedder, unit_key="dia_id", skill=args.skill, isolate=not args.accumulate,
                        live=not args.bulk)  # fmt: skip
        info["skill"] = psm.skill_name
        info["ingestion"] = "live (observe per turn)" if psm.live else "bulk (observe_many per session)"
        info["consolidation_available"] = psm.can_consolidate
        info["bm25_stemmer"] = bm25.stemmed
        try:
            bar = progress(total=sum(len(c.questions) for c in convs), desc="locomo", unit="q")
            for conv in convs:
                docs = _docs(conv)
                _, bm25_ms = timed(bm25.index, docs)
                _, vec_ms = timed(vec.index, docs)
                user = conv.sample_id
                rep = psm.ingest(user, _events(conv))
                turn_ids = {t.dia_id for t in conv.turns}
                dropped = set(rep.dropped_units)
                info["conversations"].append(
                    {
                        "id": conv.sample_id, "turns": len(docs), "questions": len(conv.questions),
                        "index_ms_per_turn": {"bm25": bm25_ms / len(docs), "vectors": vec_ms / len(docs),
                                              "psm": rep.ms / max(1, rep.turns)},
                        "psm_turns": rep.turns, "psm_stored": rep.stored, "psm_tiers": psm.tiers(user),
                    }
                )  # fmt: skip
                conv_qs: list[dict[str, Any]] = []
                for q in conv.questions:
                    rec: dict[str, Any] = {
                        "qid": q.qid, "conv": conv.sample_id, "category": LOCOMO_CATEGORIES.get(q.category, str(q.category)),
                        "question": q.question, "answer": q.answer, "evidence": q.evidence,
                        "unknown_evidence": [e for e in q.evidence if e not in turn_ids],
                        "dropped_evidence": [e for e in q.evidence if e in dropped], "systems": {},
                    }  # fmt: skip
                    for system in (bm25, vec):
                        hits, ms = timed(system.search, q.question, max(KS))
                        rec["systems"][system.name] = {**score_hits({k: hits[:k] for k in KS}, q.evidence, q.answer), "ms": ms}
                    raw_tokens = rec["systems"]["vectors"]["tokens@10"]
                    rec["systems"]["psm"] = _ask_psm(psm, user, q.question, q.evidence, q.answer, raw_tokens)
                    if args.rerank:
                        rec["systems"]["psm+rerank"] = _ask_psm(
                            psm, user, q.question, q.evidence, q.answer, raw_tokens, rerank=args.rerank
                        )
                    conv_qs.append(rec)
                    bar.update(1)
                if psm.can_consolidate:
                    cons = psm.consolidate(user)
                    info["consolidation"].append({"id": conv.sample_id, **cons})
                    for q, rec in zip(conv.questions, conv_qs):
                        raw_tokens = rec["systems"]["vectors"]["tokens@10"]
                        rec["systems"]["psm+consolidation"] = _ask_psm(psm, user, q.question, q.evidence, q.answer, raw_tokens)
                        if args.rerank:
                            rec["systems"]["psm+consolidation+rerank"] = _ask_psm(
                                psm, user, q.question, q.evidence, q.answer, raw_tokens, rerank=args.rerank
                            )
                questions.extend(conv_qs)
            bar.close()
            info["psm_restore_ms"] = psm.restore_ms
        finally:
            vec.close()
            psm.close()
    info["rerank"] = args.rerank
    return finish_locomo(args, command, questions, info, systems_for(args.rerank), KS)


def systems_for(rerank: int) -> tuple[str, ...]:
    """The systems of a run: the reranked PSM systems only with ``--rerank``."""
    return SYSTEMS + (("psm+rerank", "psm+consolidation+rerank") if rerank else ())


def _ask_psm(
    psm: Any, user: str, question: str, evidence: Sequence[str], answer: str, raw_tokens: int, rerank: int | None = None
) -> dict[str, Any]:
    """PSM at each k, and at the raw store's context size: ``recall(k=50, token_budget=...)`` sized so
    the injected block (header included) is no larger than the raw vector store's at k=10."""
    hits_by_k: dict[int, list[Hit]] = {}
    ms10 = 0.0
    for k in KS:
        hits, ms = psm.recall(user, question, k, rerank=rerank)
        hits_by_k[k] = hits
        if k == 10:
            ms10 = ms
    # the budget counts rendered lines (ceil(chars / 4) each); keep room for the header and newlines
    budget = max(1, raw_tokens - count_tokens(CONTEXT_HEADER) - 3)
    fitted, _ = psm.recall(user, question, max(KS), token_budget=budget, rerank=rerank)
    psm.restore(user)
    out = {**score_hits(hits_by_k, evidence, answer), "ms": ms10}
    at_raw = score_hits({len(fitted): fitted}, evidence, answer)
    n = len(fitted)
    out.update(
        {
            "recall@raw": at_raw[f"recall@{n}"],
            "tokens@raw": at_raw[f"tokens@{n}"],
            "answer@raw": at_raw[f"answer@{n}"],
            "items@raw": n,
        }
    )
    return out

"""LongMemEval: session-level retrieval (official recipe) per question type, every system in one run.

``python -m benchmarks longmemeval [--data PATH] [--limit N] [--skill NAME] [--accumulate]``

Questions: ``_abs`` questions and those without a gold session (a session id containing "answer"
with a user turn marked ``has_answer``) are skipped, as in the official evaluation; ``--limit N``
keeps N of the remaining questions, evenly spaced through the file (deterministic).
Per question (its own haystack):

* ``bm25``, ``vectors``: the official session documents (the session's user turns joined with spaces)
  ranked by BM25 / by cosine in a fresh Chroma collection. The embedder reads at most 256 tokens.
* ``vectors-turns``: the raw vector store at PSM's granularity, one item per user turn; a session
  ranks at its best turn.
* ``psm``: one user per question; every user turn observed (one memory per turn, ``session_id`` and
  metadata ``session_id`` = the haystack session id, the session's timestamps), then
  ``recall(question, k=50, now=question_date)``. The memories, best first, are mapped to sessions
  (a consolidated fact covers the sessions of its provenance) and deduplicated in rank order, so a
  session ranks at its best-ranked memory. Memories the gate dropped cannot be recalled.
* ``psm+consolidation``: the same user after ``psm.consolidate(user)``.

recall_all@k, recall_any@k and ndcg_any@k (k = 1, 3, 5, 10) are computed on the session ranking.
Context tokens at k: the injected block of the items retrieved up to the k-th distinct session.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import DEFAULT_LONGMEMEVAL, LmeQuestion, load_longmemeval
from benchmarks.metrics import ndcg_any, recall_all, recall_any
from benchmarks.report import progress
from benchmarks.systems import Bm25System, Doc, Hit, VectorSystem, context_tokens, open_chroma, timed

__all__ = ["KS", "add_arguments", "run", "score_sessions", "select"]

KS = (1, 3, 5, 10)
DEPTH = 50  # items retrieved by the turn-level systems (PSM memories, raw turns)
SYSTEMS = ("bm25", "vectors", "vectors-turns", "psm", "psm+consolidation")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_LONGMEMEVAL, help="LongMemEval JSON(.gz) (official format)")
    p.add_argument("--limit", type=int, default=None, help="evaluate N scorable questions, evenly spaced")
    p.add_argument("--skill", default=None, help="PSM skill (default: the product default)")
    p.add_argument("--accumulate", action="store_true", help="(single query per user: no effect; kept for symmetry)")
    p.add_argument("--bulk", action="store_true", help="ingest one observe_many per session (default: one observe per turn)")
    p.add_argument("--out", default="longmemeval", help="result file stem (default: longmemeval)")
    p.add_argument(
        "--rerank", type=int, default=0, metavar="N",
        help="also run psm+rerank (and psm+consolidation+rerank): recall(rerank=N), the cross-encoder over the top N",
    )  # fmt: skip


def select(questions: Sequence[LmeQuestion], limit: int | None) -> list[LmeQuestion]:
    """Scorable questions (not ``_abs``, with gold), ``limit`` of them evenly spaced when given."""
    scorable = [q for q in questions if not q.abstention and q.gold]
    if limit is None or limit >= len(scorable):
        return scorable
    if limit <= 0:
        return []
    step = len(scorable) / limit
    return [scorable[int(i * step)] for i in range(limit)]


def score_sessions(hits: Sequence[Hit], gold: Sequence[str], n_docs: int) -> dict[str, Any]:
    """Session ranking from hits (deduplicated in rank order) and the official metrics at each k."""
    ranked: list[str] = []
    cut: dict[int, int] = {}
    for i, h in enumerate(hits):
        for u in h.units:
            if u not in ranked:
                ranked.append(u)
                if len(ranked) in KS:
                    cut[len(ranked)] = i + 1
    out: dict[str, Any] = {}
    for k in KS:
        out[f"recall_all@{k}"] = recall_all(ranked, gold, k)
        out[f"recall_any@{k}"] = recall_any(ranked, gold, k)
        out[f"ndcg_any@{k}"] = ndcg_any(ranked, gold, k, n_docs)
        out[f"tokens@{k}"] = context_tokens([h.line for h in hits[: cut.get(k, len(hits))]])
    out["ranks"] = {g: (ranked.index(g) + 1 if g in ranked else None) for g in gold}
    out["top10"] = ranked[:10]
    out["items_for_10"] = cut.get(10)
    return out


def _line(date: Any, text: str) -> str:
    return f"- [{date:%Y-%m-%d}] user: {text}"


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from benchmarks.cache import default_embedder
    from benchmarks.lme_summary import finish
    from benchmarks.psm_system import PsmSystem

    all_qs = load_longmemeval(args.data)
    qs = select(all_qs, args.limit)
    embedder = default_embedder()
    embedder.embed([q.question for q in qs])  # retrieval latencies exclude query embedding
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {"questions_in_file": len(all_qs), "scorable": len(select(all_qs, None)), "per_question": []}
    with tempfile.TemporaryDirectory(prefix="psm-bench-") as tmp:
        client = open_chroma(Path(tmp) / "raw")
        bm25 = Bm25System()
        vec = VectorSystem(client, embedder, "vectors")
        vturns = VectorSystem(client, embedder, "vectors-turns")
        psm = PsmSystem(Path(tmp) / "psm", embedder, unit_key="session_id", skill=args.skill, isolate=not args.accumulate,
                        live=not args.bulk)  # fmt: skip
        info.update(skill=psm.skill_name, consolidation_available=psm.can_consolidate, bm25_stemmer=bm25.stemmed)
        try:
            for q in progress(qs, desc="longmemeval", unit="q"):
                rows.append(_question(q, bm25, vec, vturns, psm, info, args.rerank))
        finally:
            vec.close()
            vturns.close()
            psm.close()
    info["rerank"] = args.rerank
    systems = SYSTEMS + (("psm+rerank", "psm+consolidation+rerank") if args.rerank else ())
    return finish(args, command, rows, info, systems, KS)


def _question(
    q: LmeQuestion, bm25: Any, vec: Any, vturns: Any, psm: Any, info: dict[str, Any], rerank: int = 0
) -> dict[str, Any]:
    sessions = [s for s in q.sessions if s.user_turns]
    docs = [Doc(s.user_doc, _line(s.date, s.user_doc), (s.sid,)) for s in sessions]
    turn_docs = [Doc(t.text, _line(t.time, t.text), (s.sid,)) for s in sessions for t in s.user_turns]
    n = len(sessions)
    rec: dict[str, Any] = {
        "qid": q.qid, "qtype": q.qtype, "question": q.question, "answer": q.answer, "gold": q.gold,
        "sessions": n, "user_turns": len(turn_docs), "systems": {},
    }  # fmt: skip
    ms_index: dict[str, float] = {}
    for system, items in ((bm25, docs), (vec, docs), (vturns, turn_docs)):
        _, ms_index[system.name] = timed(system.index, items)
        hits, ms = timed(system.search, q.question, DEPTH if system is vturns else max(KS))
        rec["systems"][system.name] = {**score_sessions(hits, q.gold, n), "ms": ms}
    vec.close()
    vturns.close()
    events = [
        [
            {
                "text": t.text,
                "role": "user",
                "session_id": s.sid,
                "timestamp": t.time,
                "metadata": {"session_id": s.sid, "turn": i},
            }
            for i, t in enumerate(s.user_turns)
        ]
        for s in sessions
    ]
    user = q.qid
    rep = psm.ingest(user, events)
    answer_turns = {(s.sid, i) for s in sessions if s.sid in q.gold for i, t in enumerate(s.user_turns) if t.has_answer}
    dropped_answers = sum(1 for m in rep.dropped_metadata if (m.get("session_id"), m.get("turn")) in answer_turns)
    hits, ms = psm.recall(user, q.question, DEPTH, now=q.date)
    psm.restore(user)
    rec["systems"]["psm"] = {**score_sessions(hits, q.gold, n), "ms": ms}
    if rerank:
        hits, ms = psm.recall(user, q.question, DEPTH, now=q.date, rerank=rerank)
        psm.restore(user)
        rec["systems"]["psm+rerank"] = {**score_sessions(hits, q.gold, n), "ms": ms}
    stored_by_session: dict[str, int] = {}
    for r in psm.memory(user).records():
        sid = str(r.metadata.get("session_id"))
        stored_by_session[sid] = stored_by_session.get(sid, 0) + 1
    rec["gold_sessions_fully_dropped"] = [g for g in q.gold if stored_by_session.get(g, 0) == 0]
    pq: dict[str, Any] = {
        "qid": q.qid, "turns": rep.turns, "stored": rep.stored, "ingest_ms": rep.ms, "index_ms": ms_index,
        "answer_turns": len(answer_turns), "answer_turns_dropped": dropped_answers,
    }  # fmt: skip
    if psm.can_consolidate:
        cons = psm.consolidate(user)
        pq["consolidation"] = cons
        hits, ms = psm.recall(user, q.question, DEPTH, now=q.date)
        psm.restore(user)
        rec["systems"]["psm+consolidation"] = {**score_sessions(hits, q.gold, n), "ms": ms}
        if rerank:
            hits, ms = psm.recall(user, q.question, DEPTH, now=q.date, rerank=rerank)
            psm.restore(user)
            rec["systems"]["psm+consolidation+rerank"] = {**score_sessions(hits, q.gold, n), "ms": ms}
    info["per_question"].append(pq)
    psm.erase(user)
    return rec

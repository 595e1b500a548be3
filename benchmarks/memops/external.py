"""Memory operations on public data: LongMemEval_S knowledge-update questions and BEAM 100K chats.

```
lme_questions(path, limit)        knowledge-update questions with >= 2 gold sessions, ``limit`` evenly spaced
run_lme(mem, psm, q, bulk)        ingest the haystack's user turns, score recall(question) before and after a pass
beam_chats(path, limit)           the first ``limit`` BEAM chats
run_beam(mem, psm, chat, bulk)    ingest the chat turn by turn (user and assistant), score its probes before/after
```
* LongMemEval: a memory covers the sessions of its own metadata and of its sources (``mem.sources``).
  ``current_first``: the newest gold session's best memory ranks above every older gold session's best
  memory in recall(question, k=10) (newest missing: fail; one memory covering both: a tie, a fail).
  What a question asks for is labelled by hand for the dev file (:data:`EARLIER`, :data:`BOTH`; a regex
  for other files): a question about an earlier value ("where did I initially keep ...") is scored as
  ``older_first`` (an older session first), a comparison ("did I increase or decrease ...") as
  ``both_top10`` (both sessions in the top 10), every other question as ``current_first``.
* BEAM: a memory covers the turn ids (metadata ``turn_id``, the chat's message ``id``) of itself and its
  sources. ``knowledge_update``: the ``updated_info`` turn's best memory ranks above the ``original_info``
  turn's and within the top 5 (items whose two turns are the same are left out). ``contradiction_resolution``:
  both statements in the top 10, a conflict in ``review_queue()`` involving a record of either, and both.
  The trailing ``->-> b,t`` index marker of BEAM user turns is stripped; times come from the ``time_anchor``s
  (each batch is a session, turns a minute apart).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.data import LmeQuestion, load_longmemeval
from psm_core import PSM, MemoryRecord, NotFoundError, UserMemory

__all__ = ["BOTH", "EARLIER", "PAST_QUESTION", "asks", "beam_chats", "beam_turns", "lme_questions", "run_beam", "run_lme"]

K = 10
BEAM_TOP = 5
PAST_QUESTION = re.compile(r"\b(initially|originally|previous|previously|before|at first|first three|just started)\b", re.I)
# LongMemEval_S dev knowledge-update questions, read one by one (the answer's session checked by hand)
EARLIER = frozenset({"07741c44", "0977f2af", "0ddfec37", "9bbe84a2", "dfde3500"})  # the answer is the older value
BOTH = frozenset({"031748ae", "6071bd76", "c4ea545c", "c6853660"})  # the answer compares the two values
_MARKER = re.compile(r"\s*->->\s*[\w/,]+\s*$")
_LABELLED = frozenset({"01493427", "06db6396", "07741c45", "08e075c7", "0f05491a", "22d2cb42", "2698e78f", "3ba21379",
                       "41698283", "45dc21b6", "4d6b87c8", "5a4f22c0", "5c40ec5b", "69fee5aa", "72e3ee87", "830ce83f",
                       "852ce960", "8fb83627", "945e3d21", "a1eacc2a", "affe2881", "ba61f0b9", "d7c942c3", "dad224aa",
                       "e493bb7c", "eace081b", "ed4ddc30"}) | EARLIER | BOTH  # fmt: skip


def lme_questions(path: Path, limit: int | None) -> list[LmeQuestion]:
    """Knowledge-update questions (not ``_abs``) with two or more gold sessions; ``limit`` evenly spaced."""
    qs = [q for q in load_longmemeval(path) if q.qtype == "knowledge-update" and not q.abstention and len(q.gold) >= 2]
    if limit is None or limit >= len(qs):
        return qs
    step = len(qs) / max(1, limit)
    return [qs[int(i * step)] for i in range(max(0, limit))]


def asks(q: LmeQuestion) -> str:
    """``"earlier"``, ``"both"`` or ``"current"``: which value a knowledge-update question asks for."""
    if q.qid in EARLIER:
        return "earlier"
    if q.qid in BOTH:
        return "both"
    return "earlier" if q.qid not in _LABELLED and PAST_QUESTION.search(q.question) else "current"


def _units(mem: UserMemory, rec: MemoryRecord, key: str) -> set[str]:
    out = {str(rec.metadata[key])} if rec.metadata.get(key) is not None else set()
    try:
        out |= {str(s.metadata[key]) for s in mem.sources(rec.id) if s.metadata.get(key) is not None}
    except NotFoundError:
        pass
    return out


def _ranks(units: Sequence[set[str]], *wanted: Iterable[str]) -> list[int | None]:
    """For each set of wanted units, the 0-based rank of the first memory covering one of them."""
    out: list[int | None] = []
    for w in wanted:
        ws = {str(x) for x in w}
        out.append(next((i for i, u in enumerate(units) if u & ws), None))
    return out


def _lme_score(mem: UserMemory, q: LmeQuestion, newest: str, older: list[str]) -> dict[str, Any]:
    res = mem.recall(q.question, k=K, now=q.date, touch=False)
    units = [_units(mem, m.record, "session_id") for m in res.memories]
    new, old = _ranks(units, [newest], older)
    return {
        "rank_newest": new, "rank_older": old,
        "current_first": float(new is not None and (old is None or new < old)),
        "older_first": float(old is not None and (new is None or old < new)),
        "tie": float(new is not None and new == old),
        "both_top10": float(new is not None and old is not None),
    }  # fmt: skip


def run_lme(mem: UserMemory, psm: PSM, q: LmeQuestion, bulk: bool) -> dict[str, Any]:
    """Ingest ``q``'s haystack (user turns) into ``mem``; scores before and after one pass."""
    order = {s.sid: (s.date, n) for n, s in enumerate(q.sessions)}
    gold = sorted(q.gold, key=lambda g: order[g])
    newest, older = gold[-1], gold[:-1]
    turns = 0
    for s in q.sessions:
        events: list[dict[str, Any]] = [
            {
                "text": t.text,
                "role": "user",
                "session_id": s.sid,
                "timestamp": t.time,
                "metadata": {"session_id": s.sid, "turn": i},
            }
            for i, t in enumerate(s.user_turns)
        ]
        turns += len(events)
        if bulk and events:
            mem.observe_many(events)
        else:
            for e in events:
                mem.observe(**e)
    before = _lme_score(mem, q, newest, older)
    psm.consolidate(mem.user_id, now=q.date)
    after = _lme_score(mem, q, newest, older)
    return {"qid": q.qid, "question": q.question, "answer": q.answer, "asks": asks(q), "newest": newest, "older": older,
            "turns": turns, "before": before, "after": after}  # fmt: skip


def beam_chats(path: Path, limit: int | None) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as f:
        chats: list[dict[str, Any]] = json.load(f)
    return chats if limit is None else chats[: max(0, limit)]


def _anchor(value: Any) -> datetime | None:
    for fmt in ("%B-%d-%Y", "%b-%d-%Y", "%B %d, %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(str(value).strip(), fmt).replace(hour=9, tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def beam_turns(chat: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The chat as sessions (one per batch) of observe() arguments, with metadata ``turn_id``."""
    clock = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
    sessions: list[list[dict[str, Any]]] = []
    cid = str(chat["chat_id"])
    for batch in chat["chat"]:
        events: list[dict[str, Any]] = []
        anchor = _anchor(batch.get("time_anchor"))
        if anchor is not None and anchor > clock:
            clock = anchor
        for group in batch["turns"]:
            for t in group:
                at = _anchor(t.get("time_anchor")) if t.get("time_anchor") else None
                clock = at if at is not None and at > clock else clock + timedelta(minutes=1)
                text = _MARKER.sub("", str(t.get("content") or "")).strip()
                if not text:
                    continue
                events.append({"text": text, "role": str(t["role"]), "session_id": f"{cid}/b{batch.get('batch_number')}",
                               "timestamp": clock, "metadata": {"turn_id": int(t["id"])}})  # fmt: skip
        if events:
            sessions.append(events)
    return sessions


def _related(mem: UserMemory, records: Sequence[MemoryRecord], turn_ids: set[str]) -> set[str]:
    return {r.id for r in records if _units(mem, r, "turn_id") & turn_ids}


def _beam_score(mem: UserMemory, chat: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    conflicts = mem.review_queue()
    records = mem.records()
    for cat in ("knowledge_update", "contradiction_resolution"):
        for n, item in enumerate(chat["probing_questions"].get(cat, [])):
            src = item.get("source_chat_ids") or {}
            a_key, b_key = (
                ("original_info", "updated_info") if cat == "knowledge_update" else ("first_statement", "second_statement")
            )
            a = {str(x) for x in src.get(a_key) or []}
            b = {str(x) for x in src.get(b_key) or []}
            res = mem.recall(str(item["question"]), k=K, now=now, touch=False)
            units = [_units(mem, m.record, "turn_id") for m in res.memories]
            ra, rb = _ranks(units, a, b)
            row: dict[str, Any] = {"chat": chat["chat_id"], "category": cat, "n": n, "question": item["question"],
                                   a_key: sorted(a), b_key: sorted(b), "rank_a": ra, "rank_b": rb}  # fmt: skip
            if cat == "knowledge_update":
                if not a or not b or a & b:
                    row["skipped"] = "original and updated turns overlap or are missing"
                else:
                    row["updated_above"] = float(rb is not None and (ra is None or rb < ra))
                    row["updated_above_top5"] = float(rb is not None and rb < BEAM_TOP and (ra is None or rb < ra))
            else:
                ids = _related(mem, records, a | b)
                flagged = any(c.new_id in ids or c.old_id in ids for c in conflicts)
                both = ra is not None and rb is not None
                row.update({"both_top10": float(both), "flagged": float(flagged), "both_and_flagged": float(both and flagged)})
            out.append(row)
    return out


def run_beam(mem: UserMemory, psm: PSM, chat: dict[str, Any], bulk: bool) -> dict[str, Any]:
    """Ingest one BEAM chat into ``mem``; its knowledge-update and contradiction items before and after a pass."""
    sessions = beam_turns(chat)
    turns = 0
    for events in sessions:
        turns += len(events)
        if bulk:
            mem.observe_many(events)
        else:
            for e in events:
                mem.observe(**e)
    now = sessions[-1][-1]["timestamp"] + timedelta(days=1)
    before = _beam_score(mem, chat, now)
    psm.consolidate(mem.user_id, now=now)
    after = _beam_score(mem, chat, now)
    return {"chat": chat["chat_id"], "turns": turns, "before": before, "after": after}

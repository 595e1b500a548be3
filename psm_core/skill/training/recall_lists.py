"""Recall candidate lists gathered through the public API, for training and evaluating ``weigh``.

```
Unit                a user: sessions of events (metadata["unit"] names the benchmark unit) + queries
RecordingSkill      wraps a skill; each weigh() call is recorded (content-free features, units, scores,
                    each candidate's session, time and text length)
run_units(...)      observe every unit with a real PSM (temp home), recall every query, return the lists
curriculum_units / locomo_units / lme_units   builders for the three sources
```
Recall is called with ``token_budget=1`` so no memory is returned or touched: every query sees the
store exactly as ingested (no recall counts leak between questions). The ranking is recomputed from
the recorded scores exactly as ``recall`` does it (stable sort, best first).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.config import PSMSettings
from psm_core.embeddings import Embedder
from psm_core.skill.base import Candidate, DelegatingSkill, MemorySkill
from psm_core.skill.mini_features import sentence_matrix, weigh_matrix
from psm_core.skill.training.curriculum import Dialogue
from psm_core.skill.training.weak import LocomoConversation, parse_lme_date

__all__ = ["QueryResult", "RecordingSkill", "Unit", "curriculum_units", "lme_units", "locomo_units", "run_units"]


@dataclass
class Unit:
    user: str
    sessions: list[list[dict[str, Any]]]
    queries: list[tuple[str, set[str], dict[str, Any]]]  # (query, gold units, info)
    now: datetime | None = None


@dataclass
class QueryResult:
    user: str
    query: str
    gold: set[str]
    info: dict[str, Any]
    features: NDArray[np.float32]
    units: list[str]
    positives: NDArray[np.float32]
    scores: NDArray[np.float64]
    stored: int = 0
    observed: int = 0
    kept_units: set[str] = field(default_factory=set)
    ms: float = 0.0
    sentence_features: NDArray[np.float32] | None = None  # features + SENTENCE_FEATURE_NAMES (None: no candidates)
    sessions: list[str | None] = field(default_factory=list)  # each candidate's session id
    times: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # each candidate's observed_at (POSIX s)
    lengths: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # each candidate's text length (characters)
    texts: list[str] = field(default_factory=list)  # each candidate as the reranker reads it (only with keep_texts)
    # (unit, answer) of the observed turns each candidate was distilled from, through its provenance (only
    # with keep_texts; empty for a turn itself): a consolidated fact covers the turns it came from
    covers: list[tuple[tuple[str, bool], ...]] = field(default_factory=list)

    def covered(self, i: int) -> tuple[tuple[str, bool], ...]:
        """``covers[i]``, or nothing when the list was recorded without it."""
        return self.covers[i] if len(self.covers) == len(self.units) else ()

    def ranked_units(self, k: int) -> list[str]:
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [self.units[i] for i in order]


class RecordingSkill(DelegatingSkill):
    """Delegates to ``base``; remembers the candidates and scores of the last ``weigh`` (and, with
    ``keep_texts``, each candidate as :func:`psm_core.rerank.rerank_text` renders it)."""

    def __init__(self, base: MemorySkill, keep_texts: bool = False) -> None:
        super().__init__(base)
        self.keep_texts = keep_texts
        self.last_texts: list[str] = []
        self.last_records: list[Any] = []  # the candidates' records (with keep_texts), for what they cover
        self.last: tuple[NDArray[np.float32], list[str], NDArray[np.float64], list[bool]] | None = None
        self.last_sentences: NDArray[np.float32] | None = None
        self.last_places: tuple[list[str | None], NDArray[np.float64], NDArray[np.float64]] = ([], np.zeros(0), np.zeros(0))

    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        scores = self.base.weigh(query, candidates, now)
        units = [str(c.record.metadata.get("unit", c.record.id)) for c in candidates]
        answer = [bool(c.record.metadata.get("answer", True)) for c in candidates]
        x = weigh_matrix(candidates, now)
        self.last = (x, units, np.asarray(scores, dtype=np.float64), answer)
        self.last_sentences = np.hstack([x, sentence_matrix(candidates)])
        self.last_places = (
            [c.record.session_id for c in candidates],
            np.array([c.record.observed_at.timestamp() for c in candidates], dtype=np.float64),
            np.array([len(c.record.text) for c in candidates], dtype=np.float64),
        )
        if self.keep_texts:
            from psm_core.rerank import rerank_text

            self.last_texts = [rerank_text(c.record) for c in candidates]
            self.last_records = [c.record for c in candidates]
        return scores


def run_units(
    units: Sequence[Unit],
    skill: MemorySkill,
    embedder: Embedder,
    *,
    k: int = 10,
    home: Path | None = None,
    progress: bool = False,
    desc: str = "recall lists",
    consolidate: bool = False,
    keep_texts: bool = False,
) -> list[QueryResult]:
    """Ingest each unit into a fresh PSM (one user each) and record a candidate list per query
    (after a consolidation pass over the unit with ``consolidate``: lists with sentence features;
    with ``keep_texts`` the candidates' texts too, for training the reranker)."""
    from psm_core.psm import PSM

    rec = RecordingSkill(skill, keep_texts=keep_texts)
    out: list[QueryResult] = []
    with tempfile.TemporaryDirectory(prefix="psm-lists-") as tmp:
        with PSM(PSMSettings(home=home or Path(tmp)), embedder=embedder, skill=rec) as psm:
            it: Any = units
            if progress:
                from tqdm.auto import tqdm

                it = tqdm(units, desc=desc, unit="user")
            for unit in it:
                mem = psm.for_user(unit.user)
                observed = stored = 0
                kept: set[str] = set()
                for events in unit.sessions:
                    if events:
                        recs = mem.observe_many(events)
                        observed += len(recs)
                        for r in recs:
                            if r.tier.value == "episodic":
                                stored += 1
                                kept.add(str(r.metadata.get("unit")))
                if consolidate:
                    psm.consolidate(unit.user, now=unit.now)
                for query, gold, info in unit.queries:
                    rec.last = None
                    rec.last_sentences = None
                    rec.last_places = ([], np.zeros(0), np.zeros(0))
                    rec.last_texts = []
                    rec.last_records = []
                    t0 = time.perf_counter()
                    mem.recall(query, k=k, token_budget=1, now=unit.now)
                    ms = (time.perf_counter() - t0) * 1000.0
                    if rec.last is None:
                        x, names, scores, answer = np.zeros((0, 1), np.float32), list[str](), np.zeros(0), list[bool]()
                    else:
                        x, names, scores, answer = rec.last
                    pos = np.array([u in gold and a for u, a in zip(names, answer)], dtype=np.float32)
                    out.append(
                        QueryResult(unit.user, query, gold, info, x, names, pos, scores, stored, observed, kept, ms,
                                    rec.last_sentences, *rec.last_places, list(rec.last_texts),
                                    [_covers(mem, r) for r in rec.last_records])
                    )  # fmt: skip
    return out


def _covers(mem: Any, record: Any) -> tuple[tuple[str, bool], ...]:
    """The (unit, answer) of the observed turns ``record`` was built from (``psm_core.provenance.sources``),
    oldest first; nothing for a turn itself."""
    from psm_core.provenance import sources

    return tuple(dict.fromkeys((str(t.metadata["unit"]), bool(t.metadata.get("answer", True)))
                               for t in sources(record, mem.get) if "unit" in t.metadata))  # fmt: skip


def curriculum_units(dialogues: Sequence[Dialogue], prefix: str = "cur") -> list[Unit]:
    units = []
    for n, d in enumerate(dialogues):
        sessions: dict[int, list[dict[str, Any]]] = {}
        for i, t in enumerate(d.turns):
            if t.observed:
                sessions.setdefault(t.session, []).append(
                    {
                        "text": t.text,
                        "role": t.speaker,
                        "session_id": f"s{t.session}",
                        "timestamp": t.timestamp,
                        "metadata": {"unit": f"t{i}"},
                    }
                )
        queries: list[tuple[str, set[str], dict[str, Any]]] = [(q.text, {f"t{i}" for i in q.gold}, {}) for q in d.queries]
        units.append(Unit(f"{prefix}-{n}", [sessions[s] for s in sorted(sessions)], queries))
    return units


def locomo_units(convs: Sequence[LocomoConversation], with_empty: bool = False) -> list[Unit]:
    units = []
    for c in convs:
        sessions: dict[int, list[dict[str, Any]]] = {}
        for t in c.turns:
            sessions.setdefault(t.session, []).append(
                {
                    "text": t.text,
                    "role": t.speaker,
                    "session_id": f"S{t.session}",
                    "timestamp": t.time,
                    "metadata": {"unit": t.dia_id},
                }
            )
        queries: list[tuple[str, set[str], dict[str, Any]]] = [
            (q, set(ev), {"category": cat}) for q, ev, cat in c.questions if ev or with_empty
        ]
        units.append(Unit(c.sample_id, [sessions[s] for s in sorted(sessions)], queries))
    return units


_MAX_CHARS = 16000  # a few LongMemEval turns are pasted documents over PSM's 64 KB limit; the embedder reads 256 tokens


def lme_gold(entry: dict[str, Any]) -> set[str]:
    """Answer sessions with a user turn that has the answer (the official retrieval gold)."""
    gold = set()
    for sid, session in zip(entry["haystack_session_ids"], entry["haystack_sessions"]):
        if "answer" in sid and any(t["role"] == "user" and t.get("has_answer") for t in session):
            gold.add(sid)
    return gold


def lme_units(entries: Sequence[dict[str, Any]], answer_turns_only: bool = False) -> list[Unit]:
    """One user per question: its haystack's user turns (official recipe), one session per haystack session;
    turns are cut at 16,000 characters (PSM refuses texts over 64 KB).

    ``answer_turns_only`` marks only ``has_answer`` turns as positives (training); otherwise any turn
    of a gold session counts (evaluation, which scores sessions).
    """
    units = []
    for e in entries:
        if e["question_id"].endswith("_abs"):
            continue
        gold = lme_gold(e)
        if not gold:
            continue
        sessions = []
        for sid, date, session in zip(e["haystack_session_ids"], e["haystack_dates"], e["haystack_sessions"]):
            start = parse_lme_date(date)
            evs = [
                {
                    "text": t["content"][:_MAX_CHARS], "role": "user", "session_id": sid, "timestamp": start.replace(second=min(59, i)),
                    "metadata": {"unit": sid, "answer": bool(t.get("has_answer")) or not answer_turns_only},
                }
                for i, t in enumerate(session)
                if t["role"] == "user" and t["content"].strip()
            ]  # fmt: skip
            sessions.append(evs)
        units.append(
            Unit(
                e["question_id"],
                sessions,
                [(e["question"], gold, {"type": e["question_type"]})],
                parse_lme_date(e["question_date"]),
            )
        )
    return units

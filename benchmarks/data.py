"""Loaders for the benchmark data sets in their official formats (plain or gzipped JSON).

```
load_locomo(path)        -> list[Conversation]   sessions of Turn (dia_id, speaker, text, time) + Question
load_longmemeval(path)   -> list[LmeQuestion]    haystack of LmeSession (id, date, turns) + gold session ids
parse_evidence(strings)  -> canonical dia_ids in order ("D8:6; D9:17" -> D8:6, D9:17; "D30:05" -> D30:5)
                            (with the date parsers, shared with psm_core.skill.training.weak)
```
Turn times: a session's date plus one minute per turn, so turns keep their order (both data sets
give one time per session, not per turn).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psm_core.skill.training.weak import parse_evidence, parse_lme_date, parse_locomo_date

__all__ = [
    "Conversation",
    "DATA_ROOT",
    "DEFAULT_LOCOMO",
    "DEFAULT_LONGMEMEVAL",
    "LOCOMO_CATEGORIES",
    "LmeQuestion",
    "LmeSession",
    "LmeTurn",
    "Question",
    "Turn",
    "load_json",
    "load_locomo",
    "load_longmemeval",
    "parse_evidence",
    "parse_locomo_date",
    "parse_lme_date",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
DEFAULT_LOCOMO = DATA_ROOT / "locomo" / "locomo_dev.json"
DEFAULT_LONGMEMEVAL = DATA_ROOT / "longmemeval" / "longmemeval_s_dev.json.gz"
LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
TURN_STEP = timedelta(minutes=1)

_SESSION_KEY = re.compile(r"^session_(\d+)$")


def load_json(path: str | Path) -> Any:
    """Parse ``path`` as JSON, gunzipping when it ends in ``.gz``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"benchmark data {p} not found: pass --data PATH to a file of the official format")
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class Turn:
    """One LoCoMo turn; ``text`` includes an image caption when the turn shared one."""

    dia_id: str
    speaker: str
    text: str
    session: int
    time: datetime


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    answer: str
    category: int
    evidence: list[str]
    raw_evidence: list[str]


@dataclass
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    sessions: list[list[Turn]]
    questions: list[Question] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s]


def _turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text") or "").strip()
    caption = turn.get("blip_caption")
    if caption:
        text = f"{text} [shares an image: {caption}]".strip()
    return text


def _dia(raw: str) -> str:
    got = parse_evidence([raw])
    return got[0] if got else raw


def load_locomo(path: str | Path) -> list[Conversation]:
    """Conversations of a LoCoMo file (a list of samples with ``conversation`` and ``qa``)."""
    data = load_json(path)
    if isinstance(data, dict):
        data = [data]
    out: list[Conversation] = []
    for n, sample in enumerate(data):
        conv = sample["conversation"]
        sid = str(sample.get("sample_id") or f"conv-{n}")
        numbers = sorted(int(m.group(1)) for k in conv if (m := _SESSION_KEY.match(k)) and isinstance(conv[k], list))
        sessions: list[list[Turn]] = []
        for s in numbers:
            start = parse_locomo_date(conv[f"session_{s}_date_time"])
            turns = [
                Turn(_dia(t["dia_id"]), str(t["speaker"]), _turn_text(t), s, start + i * TURN_STEP)
                for i, t in enumerate(conv[f"session_{s}"])
                if _turn_text(t)
            ]
            sessions.append(turns)
        qs = [
            Question(
                qid=f"{sid}/{i}",
                question=str(q["question"]),
                answer=str(q.get("answer", q.get("adversarial_answer", ""))),
                category=int(q["category"]),
                evidence=parse_evidence(q.get("evidence")),
                raw_evidence=[str(e) for e in q.get("evidence") or []],
            )
            for i, q in enumerate(sample.get("qa", []))
        ]
        out.append(Conversation(sid, (str(conv.get("speaker_a")), str(conv.get("speaker_b"))), sessions, qs))
    return out


@dataclass(frozen=True)
class LmeTurn:
    role: str
    text: str
    has_answer: bool
    time: datetime


@dataclass(frozen=True)
class LmeSession:
    sid: str
    date: datetime
    turns: list[LmeTurn]

    @property
    def user_turns(self) -> list[LmeTurn]:
        return [t for t in self.turns if t.role == "user" and t.text.strip()]

    @property
    def user_doc(self) -> str:
        """The official session document: user turns joined with spaces."""
        return " ".join(t.text for t in self.user_turns)


@dataclass(frozen=True)
class LmeQuestion:
    qid: str
    qtype: str
    question: str
    answer: str
    date: datetime
    sessions: list[LmeSession]
    gold: list[str]

    @property
    def abstention(self) -> bool:
        return self.qid.endswith("_abs")


def load_longmemeval(path: str | Path) -> list[LmeQuestion]:
    """Questions of a LongMemEval file; ``gold`` = session ids containing "answer" with a user ``has_answer`` turn."""
    out: list[LmeQuestion] = []
    for q in load_json(path):
        sessions = []
        for sid, date, turns in zip(q["haystack_session_ids"], q["haystack_dates"], q["haystack_sessions"]):
            start = parse_lme_date(date)
            sessions.append(
                LmeSession(
                    str(sid),
                    start,
                    [
                        LmeTurn(str(t["role"]), str(t.get("content") or ""), bool(t.get("has_answer")), start + i * TURN_STEP)
                        for i, t in enumerate(turns)
                    ],
                )
            )
        gold = sorted({s.sid for s in sessions if "answer" in s.sid and any(t.role == "user" and t.has_answer for t in s.turns)})
        out.append(
            LmeQuestion(
                qid=str(q["question_id"]),
                qtype=str(q["question_type"]),
                question=str(q["question"]),
                answer=str(q.get("answer", "")),
                date=parse_lme_date(q["question_date"]),
                sessions=sessions,
                gold=gold,
            )
        )
    return out

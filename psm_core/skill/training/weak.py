"""Weak labels from the development data in ``../shared/data`` (LoCoMo, LongMemEval_S), with a fixed split.

```
TRAIN_CONVERSATIONS        LoCoMo conversations trained on (the others are for reporting only)
lme_is_train(question_id)  a stable hash split of LongMemEval questions into halves
load_locomo(path)          -> list[LocomoConversation]   turns (dia_id, speaker, text, time) + questions
load_longmemeval(path)     -> list[dict]                 the raw entries
```
Weak labels: a LoCoMo turn is "worth remembering" when a question cites it as evidence; a
LongMemEval user turn when it ``has_answer``. Question → evidence pairs supervise recall weighting.
Only content-free features of these go into the recall head; the gate and interference heads
see sentence embeddings of the training split, which is why the split is fixed and reported.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_ROOT",
    "LocomoConversation",
    "LocomoTurn",
    "TRAIN_CONVERSATIONS",
    "lme_is_train",
    "load_locomo",
    "load_longmemeval",
    "parse_evidence",
    "parse_lme_date",
    "parse_locomo_date",
]

DATA_ROOT = Path(__file__).resolve().parents[4] / "shared" / "data"
TRAIN_CONVERSATIONS = ("conv-26", "conv-41")
_EVIDENCE = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")


def lme_is_train(question_id: str) -> bool:
    """True for the LongMemEval half used for training (sha1 of the question id is even)."""
    return int(hashlib.sha1(question_id.encode()).hexdigest()[:8], 16) % 2 == 0


def parse_evidence(items: list[str] | str | None) -> list[str]:
    """Canonical ``D<session>:<turn>`` ids ("D8:6; D9:17" → two ids, "D30:05" → D30:5)."""
    if not items:
        return []
    out: list[str] = []
    for item in [items] if isinstance(items, str) else items:
        for s, t in _EVIDENCE.findall(str(item)):
            dia = f"D{int(s)}:{int(t)}"
            if dia not in out:
                out.append(dia)
    return out


def parse_locomo_date(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` → an aware UTC datetime."""
    cleaned = re.sub(r"\s+", " ", text.strip())
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M %p on %B %d, %Y"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise ValueError(f"unrecognized LoCoMo date {text!r}")


def parse_lme_date(text: str) -> datetime:
    """``"2023/05/20 (Sat) 07:47"`` → an aware UTC datetime."""
    cleaned = re.sub(r"\s*\([A-Za-z]+\)\s*", " ", text.strip())
    return datetime.strptime(cleaned, "%Y/%m/%d %H:%M").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class LocomoTurn:
    dia_id: str
    speaker: str
    text: str
    session: int
    time: datetime


@dataclass
class LocomoConversation:
    sample_id: str
    turns: list[LocomoTurn]
    questions: list[tuple[str, list[str], int]] = field(default_factory=list)  # (question, evidence, category)

    @property
    def evidence(self) -> set[str]:
        return {e for _, ev, _ in self.questions for e in ev}


def _read(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"development data {path} not found (pass its path, or train without weak labels)")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def load_locomo(path: Path | None = None) -> list[LocomoConversation]:
    """LoCoMo conversations; a turn's text includes its image caption (``[shares an image: …]``)."""
    data = _read(path or DATA_ROOT / "locomo" / "locomo_dev.json")
    out = []
    for sample in data:
        conv = sample["conversation"]
        numbers = sorted(int(k.split("_")[1]) for k in conv if re.fullmatch(r"session_\d+", k) and isinstance(conv[k], list))
        turns = []
        for s in numbers:
            start = parse_locomo_date(conv[f"session_{s}_date_time"])
            for i, t in enumerate(conv[f"session_{s}"]):
                text = str(t.get("text") or "").strip()
                if t.get("blip_caption"):
                    text = f"{text} [shares an image: {t['blip_caption']}]".strip()
                if text:
                    dia = parse_evidence([t["dia_id"]])
                    turns.append(
                        LocomoTurn(dia[0] if dia else t["dia_id"], str(t["speaker"]), text, s, start + timedelta(minutes=i))
                    )
        qs = [(str(q["question"]), parse_evidence(q.get("evidence")), int(q["category"])) for q in sample.get("qa", [])]
        out.append(LocomoConversation(str(sample["sample_id"]), turns, qs))
    return out


def load_longmemeval(path: Path | None = None) -> list[dict[str, Any]]:
    """Raw LongMemEval_S entries (``question_id``, ``haystack_sessions``, ``answer_session_ids``, …)."""
    data = _read(path or DATA_ROOT / "longmemeval" / "longmemeval_s_dev.json.gz")
    return list(data)

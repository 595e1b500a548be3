"""Training arrays for the PSM-mini heads, from the curriculum and (optionally) weak labels.

```
GateRow / gate_arrays       observed turns → [contextual vector of the turn | cues], keep/kind/emotion/confidence
pair_arrays                 (new, existing) → [v_new | v_new*v_old | |v_new-v_old| | cues], relation
correction_arrays           (turn, answer)  → [v_turn | v_turn*v_answer | cues], label
dialogue_gate_rows          the observed turns of curriculum dialogues as GateRows
locomo_gate_rows / lme_gate_rows   weak labels: evidence / has_answer turns are worth keeping
```
The gate sees exactly what it sees in production: the contextual vector of ``psm_core.index.contextual_vectors``
(named speaker and turn, with the preceding turn of the session) plus surface cues of the turn and the turn before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.index import CONTEXT_CHARS, contextual_vectors, speaker_line
from psm_core.skill.base import Relation
from psm_core.skill.mini_features import correction_cues, correction_inputs, gate_inputs, interfere_inputs, pair_cues
from psm_core.skill.training.curriculum import CorrectionExample, Dialogue, PairExample
from psm_core.skill.training.vectors import VectorCache
from psm_core.skill.training.weak import LocomoConversation
from psm_core.types import Kind

__all__ = [
    "GateArrays",
    "GateRow",
    "RELATIONS",
    "correction_arrays",
    "dialogue_gate_rows",
    "gate_arrays",
    "lme_gate_rows",
    "locomo_gate_rows",
    "pair_arrays",
    "turn_pair",
]

RELATIONS = tuple(Relation)
KINDS = tuple(Kind)


def turn_pair(role: str, text: str, prev: tuple[str, str] | None) -> tuple[str, str | None]:
    """(head, context) of a turn as PSM embeds it (see ``psm_core.index.contextual_vectors``)."""
    head = speaker_line(role, text)
    return head, (speaker_line(prev[0], prev[1])[:CONTEXT_CHARS] if prev is not None else None)


@dataclass
class GateRow:
    role: str
    text: str
    prev: tuple[str, str] | None  # (role, text) of the preceding turn of the session
    keep: float
    kind: int = -1  # index in Kind, -1 when unlabelled
    emotion: float = float("nan")
    confidence: float = float("nan")
    weight: float = 1.0
    group: str = "curriculum"


@dataclass
class GateArrays:
    x: NDArray[np.float32]
    keep: NDArray[np.float32]
    kind: NDArray[np.int64]
    emotion: NDArray[np.float32]
    confidence: NDArray[np.float32]
    weight: NDArray[np.float32]
    group: NDArray[Any]


def gate_arrays(rows: Sequence[GateRow], vectors: VectorCache) -> GateArrays:
    pairs = [turn_pair(r.role, r.text, r.prev) for r in rows]
    v = contextual_vectors(lambda texts: vectors.embed(texts, desc="embedding gate turns"), pairs)
    x = gate_inputs([r.text for r in rows], v, [r.role for r in rows], [r.prev[1] if r.prev else None for r in rows])
    return GateArrays(
        x=x,
        keep=np.array([r.keep for r in rows], dtype=np.float32),
        kind=np.array([r.kind for r in rows], dtype=np.int64),
        emotion=np.array([r.emotion for r in rows], dtype=np.float32),
        confidence=np.array([r.confidence for r in rows], dtype=np.float32),
        weight=np.array([r.weight for r in rows], dtype=np.float32),
        group=np.array([r.group for r in rows]),
    )


def dialogue_gate_rows(dialogues: Sequence[Dialogue], group: str = "curriculum") -> list[GateRow]:
    rows = []
    for d in dialogues:
        last: dict[int, tuple[str, str]] = {}
        for t in d.turns:
            if not t.observed:
                continue
            rows.append(
                GateRow(
                    t.speaker,
                    t.text,
                    last.get(t.session),
                    float(t.keep),
                    KINDS.index(t.kind),
                    t.emotion,
                    t.confidence,
                    1.0,
                    group,
                )
            )
            last[t.session] = (t.speaker, t.text)
    return rows


def locomo_gate_rows(convs: Sequence[LocomoConversation], negative_weight: float = 0.5) -> list[GateRow]:
    """Every turn; evidence turns are positives, the rest weak negatives (``negative_weight``)."""
    rows = []
    for c in convs:
        ev = c.evidence
        last: dict[int, tuple[str, str]] = {}
        for t in c.turns:
            pos = t.dia_id in ev
            rows.append(
                GateRow(
                    t.speaker, t.text, last.get(t.session), float(pos), weight=1.0 if pos else negative_weight, group=c.sample_id
                )
            )
            last[t.session] = (t.speaker, t.text)
    return rows


def lme_gate_rows(entries: Sequence[dict[str, Any]], weight: float = 0.5) -> list[GateRow]:
    """User turns with ``has_answer`` as positives (the other user turns carry no label)."""
    rows = []
    for e in entries:
        for session in e["haystack_sessions"]:
            prev: tuple[str, str] | None = None
            for t in session:
                if t["role"] != "user" or not t["content"].strip():
                    continue
                if t.get("has_answer"):
                    rows.append(GateRow("user", t["content"], prev, 1.0, weight=weight, group="longmemeval"))
                prev = ("user", t["content"])
    return rows


def pair_arrays(pairs: Sequence[PairExample], vectors: VectorCache) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    vn = vectors.embed([p.new for p in pairs], desc="embedding pairs")
    vo = vectors.embed([p.existing for p in pairs], desc="embedding pairs")
    cos = (vn * vo).sum(1)
    cues = np.array([pair_cues(p.new, p.existing, float(c)) for p, c in zip(pairs, cos)], dtype=np.float32)
    x = interfere_inputs(vn, vo, cues)
    return x, np.array([RELATIONS.index(p.relation) for p in pairs], dtype=np.int64)


def correction_arrays(
    examples: Sequence[CorrectionExample], vectors: VectorCache
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    vt = vectors.embed([e.turn for e in examples], desc="embedding corrections")
    va = vectors.embed([e.answer for e in examples], desc="embedding corrections")
    cos = (vt * va).sum(1)
    cues = np.array([correction_cues(e.turn, e.answer, float(c)) for e, c in zip(examples, cos)], dtype=np.float32)
    x = correction_inputs(vt, va, cues)
    return x, np.array([float(e.is_correction) for e in examples], dtype=np.float32)

"""PSM-mini: the default memory skill — the shared sentence embedder plus small trained heads.

```
PSMMini(MemorySkill)
  gate       MLP on [retrieval-text embedding | surface cues]      → keep, kind, emotion, confidence
  interfere  MLP on [v_new | v_new*v_old | |v_new-v_old| | cues]   → 5 relations
  weigh      MLP on content-free candidate features                → recall score (numpy, vectorized)
  query      linear map of a question's embedding (query adapter)   → the vector recall searches with
  is_correction  MLP on [v_turn | v_turn*v_answer | cues]          → probability
  read_attributes  MLP on [v | attribute cues]                     → taxonomy attribute or none (optional head)
  relate_batch   MLP on [v_new | v_old | v_new*v_old | |v_new-v_old| | relation cues]  → 5 relations (optional head)
  decay      parametric half-life schedule (config of the weights)
  extract_patterns  clustering with the interference head (psm_core.skill.mini_patterns)
```
Weights ship in ``psm_core/skill/weights/model.safetensors`` (see its MODEL_CARD.md) and load
offline; ``psm train --out DIR`` reproduces them. Inference is numpy only and deterministic.
Text outside the Latin script is out of the training distribution: the gate keeps it (never lose
a memory it cannot judge) with confidence at most 0.5.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.embeddings import Embedder
from psm_core.errors import ConfigurationError, InvalidInputError
from psm_core.index import CONTEXT_CHARS, speaker_line
from psm_core.skill import mini_features as mf
from psm_core.skill import relate_features as rf
from psm_core.skill.base import (
    AttributeReading,
    Candidate,
    Correction,
    GateDecision,
    Interference,
    MemorySkill,
    Pattern,
    Relation,
)
from psm_core.skill.mini_heads import MLP, WEIGHTS_FILE, load_heads, save_heads
from psm_core.skill.mini_patterns import extract_patterns
from psm_core.types import Event, Kind, MemoryRecord, Tier

__all__ = ["ATTRIBUTE_HEAD", "DEFAULT_WEIGHTS", "HEADS", "QUERY_HEAD", "RELATE_HEAD", "SENTENCE_HEAD", "PSMMini"]

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights"
HEADS = ("correct", "gate", "interfere", "weigh")
SENTENCE_HEAD = "weigh_sentences"  # optional: recall weighting once a pass has embedded sentences
QUERY_HEAD = "query"  # optional: the query adapter (psm_core.skill.training.adapter), for the embedder it was trained with
ATTRIBUTE_HEAD = "attribute"  # optional: read_attributes (psm_core.skill.training.relations)
RELATE_HEAD = "relate"  # optional: relate_batch (needs the attribute head too)
OPTIONAL_HEADS = (SENTENCE_HEAD, QUERY_HEAD, ATTRIBUTE_HEAD, RELATE_HEAD)
_KINDS = tuple(Kind)
_RELATIONS = tuple(Relation)
_CHUNK = 2048
DEFAULT_DECAY: dict[str, Any] = {
    "half_life_days": {"chitchat": 3.0, "event": 45.0, "plan": 21.0, "fact": 240.0, "preference": 120.0, "relation": 365.0},
    "tier_factor": {"semantic": 4.0, "archival": 8.0},
    "recall_gain": 0.2,
    "emotion_gain": 1.0,
    "importance_gain": 1.0,
}


def _sigmoid(x: NDArray[np.float32]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -40, 40)))


def _softmax(x: NDArray[np.float32]) -> NDArray[np.float64]:
    z = x.astype(np.float64) - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string, got {value!r}")
    return value


class PSMMini(MemorySkill):
    """The trained default skill. Build with :meth:`load`; every operation is deterministic."""

    name = "psm-mini"

    def __init__(self, heads: dict[str, MLP], config: dict[str, Any], embedder: Embedder) -> None:
        self.heads = heads
        self.config = config
        self.embedder = embedder
        self.dim = int(config.get("dim", heads["gate"].n_in - len(mf.TEXT_CUE_NAMES) - len(mf.GATE_EXTRA_NAMES)))
        if embedder.dim != self.dim:
            raise ConfigurationError(
                f"PSM-mini weights expect {self.dim}-d vectors from {config.get('embedder')!r}, the embedder "
                f"{embedder.name!r} gives {embedder.dim}: use skill='baseline' or retrain with `psm train`"
            )
        self.adapter = heads.get(QUERY_HEAD)
        if config.get("embedder") and embedder.name != config["embedder"]:
            logger.warning("PSM-mini was trained with embedder %s, running with %s", config["embedder"], embedder.name)
            self.adapter = None  # a map learned in one embedding space means nothing in another
        if self.adapter is not None and (self.adapter.n_in != self.dim or self.adapter.n_out != self.dim):
            raise ConfigurationError(
                f"PSM-mini's query adapter maps {self.adapter.n_in}-d to {self.adapter.n_out}-d vectors, "
                f"the embedder gives {self.dim}: retrain with `psm train`"
            )
        trained = config.get("weigh_features")
        if trained is not None and tuple(trained) != mf.WEIGH_FEATURE_NAMES:
            raise ConfigurationError(
                "these PSM-mini weights were trained on other recall features than this version computes: "
                "retrain with `psm train` (or use skill='baseline')"
            )
        trained_s = config.get("weigh_sentence_features")
        if SENTENCE_HEAD in heads and trained_s is not None and tuple(trained_s) != mf.SENTENCE_FEATURE_NAMES:
            raise ConfigurationError(
                "these PSM-mini weights were trained on other sentence features than this version computes: "
                "retrain with `psm train` (or use skill='baseline')"
            )
        self._attribute_map: NDArray[np.float64] = np.eye(len(rf.ATTRIBUTE_CLASSES))  # head classes → taxonomy classes
        self.attribute_head, self.relate_head = self._relation_heads(heads, config, embedder)
        self.gate_threshold = float(config.get("gate_threshold", 0.5))
        self.correction_threshold = float(config.get("correction_threshold", 0.5))
        self.decay_config: dict[str, Any] = {**DEFAULT_DECAY, **config.get("decay", {})}
        self.pattern_config: dict[str, Any] = dict(config.get("patterns", {}))

    def _relation_heads(self, heads: dict[str, MLP], config: dict[str, Any], embedder: Embedder) -> tuple[MLP | None, MLP | None]:
        """The attribute and relation heads when the weights have them and they fit this version's features
        and embedder; otherwise None (read_attributes / relate_batch fall back to the rule defaults). Attribute
        classes are matched by name: one the taxonomy no longer has reads as ``other``."""
        attr, relate = heads.get(ATTRIBUTE_HEAD), heads.get(RELATE_HEAD)
        if attr is None:
            return None, None
        classes = [str(c) for c in config.get("attribute_classes", ())]
        expected = {
            "attribute_cues": rf.ATTRIBUTE_CUE_NAMES,
            "relate_classes": tuple(r.value for r in _RELATIONS),
            "relate_cues": rf.RELATE_CUE_NAMES,
        }
        stale = [k for k, v in expected.items() if tuple(config.get(k, ())) != v]
        if len(classes) != attr.n_out:
            stale.append("attribute_classes")
        if stale or (config.get("embedder") and embedder.name != config["embedder"]):
            logger.warning(
                "PSM-mini's attribute / relation heads do not fit this version (%s) or embedder: using the rule "
                "defaults; retrain them with `psm train-relations`",
                ", ".join(stale) or embedder.name,
            )
            return None, None
        current = rf.ATTRIBUTE_CLASSES
        self._attribute_map = np.zeros((len(classes), len(current)), dtype=np.float64)
        for i, c in enumerate(classes):
            self._attribute_map[i, current.index(c) if c in current else current.index("other")] = 1.0
        return attr, relate

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, *, embedder: Embedder) -> PSMMini:
        """Load weights from ``path`` (a directory or the safetensors file; default: the shipped weights)."""
        p = Path(path).expanduser() if path is not None else DEFAULT_WEIGHTS
        file = p / WEIGHTS_FILE if p.is_dir() or not p.suffix else p
        heads, config = load_heads(file, HEADS, optional=OPTIONAL_HEADS)
        logger.info("loaded PSM-mini weights %s", file)
        return cls(heads, config, embedder)

    def save(self, path: str | Path) -> Path:
        """Write the weights and config to ``path/model.safetensors``; returns the file."""
        file = Path(path) / WEIGHTS_FILE
        save_heads(file, self.heads, self.config)
        return file

    # -- gate -----------------------------------------------------------------------------------
    def gate(self, event: Event, context: Sequence[Event] = (), vector: NDArray[np.float32] | None = None) -> GateDecision:
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return self.gate_batch([event], vectors, [context])[0]

    def gate_batch(
        self,
        events: Sequence[Event],
        vectors: NDArray[np.float32] | None = None,
        contexts: Sequence[Sequence[Event]] | None = None,
    ) -> list[GateDecision]:
        if not events:
            return []
        if contexts is not None and len(contexts) != len(events):
            raise InvalidInputError(f"{len(events)} events but {len(contexts)} contexts")
        texts = [_text(getattr(e, "text", None), "event text") for e in events]
        prev: list[Event | None] = []
        for i, e in enumerate(events):
            ctx = contexts[i] if contexts else ()
            last = ctx[-1] if ctx else None
            prev.append(last if last is not None and last.session_id == e.session_id else None)
        if vectors is None:
            lines = [
                speaker_line(e.role, e.text) + (f" (after {speaker_line(p.role, p.text)[:CONTEXT_CHARS]})" if p else "")
                for e, p in zip(events, prev)
            ]
            vectors = self.embedder.embed(lines)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(events), self.dim):
            raise InvalidInputError(f"gate needs one {self.dim}-d vector per event, got shape {vectors.shape}")
        out: list[GateDecision] = []
        for s in range(0, len(events), _CHUNK):
            sl = slice(s, s + _CHUNK)
            x = mf.gate_inputs(texts[sl], vectors[sl], [e.role for e in events[sl]], [p.text if p else None for p in prev[sl]])
            out.extend(self._decide(self.heads["gate"](x), texts[sl]))
        return out

    def _decide(self, raw: NDArray[np.float32], texts: Sequence[str]) -> list[GateDecision]:
        keep_p = _sigmoid(raw[:, 0])
        kinds = raw[:, 1:7].argmax(1)
        emo = _sigmoid(raw[:, 7])
        conf = _sigmoid(raw[:, 8])
        t = self.gate_threshold
        out = []
        for i, text in enumerate(texts):
            p = float(keep_p[i])
            keep = p >= t
            confidence = float(conf[i])
            if mf.latin_share(text) < 0.5:  # outside the training distribution: keep, with low confidence
                keep, confidence = True, min(confidence, 0.5)
            elif keep and mf.is_ack_only(text):  # "ok", "lol", "thanks!": nothing to remember, whatever came before
                keep, p = False, min(p, t * 0.5)
            importance = 0.3 + 0.7 * (p - t) / max(1e-6, 1 - t) if p >= t else 0.3 * p / max(t, 1e-6)
            if keep:
                importance = max(importance, 0.3)
            out.append(
                GateDecision(
                    keep=keep,
                    kind=_KINDS[int(kinds[i])],
                    importance=round(float(np.clip(importance, 0.0, 1.0)), 4),
                    emotional_weight=round(float(emo[i]), 4),
                    confidence=round(float(np.clip(confidence, 0.0, 1.0)), 4),
                )
            )
        return out

    # -- interference ---------------------------------------------------------------------------
    def _pair_vectors(self, pairs: Sequence[tuple[str, str]]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        uniq = list(dict.fromkeys(t for pair in pairs for t in pair))
        vecs = self.embedder.embed(uniq)
        pos = {t: i for i, t in enumerate(uniq)}
        return vecs[[pos[a] for a, _ in pairs]], vecs[[pos[b] for _, b in pairs]]

    def interference_probabilities(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float64]:
        """Probabilities of the five relations (columns in :class:`Relation` order) for (new, existing) pairs."""
        checked = [(_text(a, "new"), _text(b, "existing")) for a, b in pairs]
        out = np.zeros((len(checked), len(_RELATIONS)), dtype=np.float64)
        for s in range(0, len(checked), _CHUNK):
            chunk = checked[s : s + _CHUNK]
            vn, vo = self._pair_vectors(chunk)
            cos = (vn * vo).sum(1)
            cues = np.array([mf.pair_cues(a, b, float(c)) for (a, b), c in zip(chunk, cos)], dtype=np.float32)
            out[s : s + len(chunk)] = _softmax(self.heads["interfere"](mf.interfere_inputs(vn, vo, cues)))
        return out

    def interfere(self, new: str, existing: str, similarity: float | None = None) -> Interference:
        return self.interfere_batch([(new, existing)])[0]

    def interfere_batch(
        self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float] | None = None
    ) -> list[Interference]:
        """Relations of (new, existing) pairs. ``similarities`` are accepted for the interface; the head
        computes its own cosine from plain-text embeddings, as in training."""
        probs = self.interference_probabilities(pairs)
        return [Interference(relation=_RELATIONS[int(p.argmax())], probability=round(float(p.max()), 4)) for p in probs]

    # -- attributes and relations of single statements --------------------------------------------
    def attribute_probabilities(
        self, texts: Sequence[str], vectors: NDArray[np.float32] | None = None
    ) -> NDArray[np.float64] | None:
        """Distributions over :data:`psm_core.skill.relate_features.ATTRIBUTE_CLASSES` (the taxonomy, then
        ``none``) for ``texts``; None without an attribute head. ``vectors``: their plain embeddings, if known."""
        if self.attribute_head is None:
            return None
        checked = [_text(t, "statement") for t in texts]
        if vectors is None:
            vectors = self.embedder.embed(checked) if checked else np.zeros((0, self.dim), np.float32)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(checked), self.dim):
            raise InvalidInputError(f"read_attributes needs one {self.dim}-d vector per text, got shape {vectors.shape}")
        out = np.zeros((len(checked), len(rf.ATTRIBUTE_CLASSES)), dtype=np.float64)
        for s in range(0, len(checked), _CHUNK):
            raw = self.attribute_head(rf.attribute_inputs(vectors[s : s + _CHUNK], checked[s : s + _CHUNK]))
            out[s : s + _CHUNK] = _softmax(raw) @ self._attribute_map
        return out

    def read_attributes(self, texts: Sequence[str], vectors: NDArray[np.float32] | None = None) -> list[AttributeReading]:
        """The attribute each statement is about (``none``: not a personal statement), from the attribute head;
        the rule default when the weights have none. Text mostly outside the Latin script is out of the
        training distribution: its probability is at most 0.5."""
        probs = self.attribute_probabilities(texts, vectors)
        if probs is None:
            return super().read_attributes(texts, vectors)
        out = []
        for text, p in zip(texts, probs):
            i = int(p.argmax())
            conf = float(p[i]) if mf.latin_share(text) >= 0.5 else min(float(p[i]), 0.5)
            out.append(AttributeReading(attribute=rf.ATTRIBUTE_CLASSES[i], probability=round(conf, 4)))
        return out

    def relation_probabilities(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float64] | None:
        """Probabilities of the five relations (columns in :class:`Relation` order) of (new, earlier) statement
        pairs of one speaker, from the relation head; None without one."""
        if self.relate_head is None or self.attribute_head is None:
            return None
        checked = [(_text(a, "new"), _text(b, "old")) for a, b in pairs]
        out = np.zeros((len(checked), len(_RELATIONS)), dtype=np.float64)
        for s in range(0, len(checked), _CHUNK):
            chunk = checked[s : s + _CHUNK]
            uniq = list(dict.fromkeys(t for pair in chunk for t in pair))
            vecs = self.embedder.embed(uniq)
            probs = self.attribute_probabilities(uniq, vecs)
            assert probs is not None
            pos = {t: i for i, t in enumerate(uniq)}
            ni = np.array([pos[a] for a, _ in chunk], dtype=np.int64)
            oi = np.array([pos[b] for _, b in chunk], dtype=np.int64)
            vn, vo = vecs[ni], vecs[oi]
            cos = (vn * vo).sum(1)
            cues = np.array(
                [rf.relate_cues(a, b, float(c), probs[i], probs[j]) for (a, b), c, i, j in zip(chunk, cos, ni, oi)],
                dtype=np.float32,
            ).reshape(len(chunk), len(rf.RELATE_CUE_NAMES))
            out[s : s + len(chunk)] = _softmax(self.relate_head(rf.relate_inputs(vn, vo, cues)))
        return out

    def relate_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Interference]:
        """How each new statement relates to an earlier statement of the same speaker, from the relation head
        (the rule default when the weights have none)."""
        if not pairs:
            return []
        probs = self.relation_probabilities(pairs)
        if probs is None:
            return super().relate_batch(pairs)
        return [Interference(relation=_RELATIONS[int(p.argmax())], probability=round(float(p.max()), 4)) for p in probs]

    # -- recall weighting -----------------------------------------------------------------------
    def query_vector(self, vector: NDArray[np.float32]) -> NDArray[np.float32]:
        """``normalize(vector @ W)`` with the trained query adapter (the vector itself without one, or when
        running with another embedder than the weights were trained with)."""
        if self.adapter is None:
            return vector
        out = self.adapter(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        norm = float(np.linalg.norm(out))
        return (out / norm).astype(np.float32) if norm > 0 else np.asarray(vector, dtype=np.float32)

    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        """Recall scores. Before a consolidation pass has embedded a user's sentences the ``weigh`` head
        decides; after it, the ``weigh_sentences`` head, which also reads each memory's best sentence
        (trained on the same questions asked after a pass; absent from older weights)."""
        if not candidates:
            return np.zeros(0, dtype=np.float64)
        x = mf.weigh_matrix(candidates, now)
        head = self.heads.get(SENTENCE_HEAD)
        if head is not None and mf.has_sentences(candidates):
            return head(np.hstack([x, mf.sentence_matrix(candidates)]))[:, 0].astype(np.float64)
        return self.heads["weigh"](x)[:, 0].astype(np.float64)

    # -- decay ----------------------------------------------------------------------------------
    def decay(self, record: MemoryRecord) -> float:
        c = self.decay_config
        half = float(c["half_life_days"].get(record.kind.value, 90.0))
        if record.tier in (Tier.SEMANTIC, Tier.ARCHIVAL):
            half *= float(c["tier_factor"].get(record.tier.value, 1.0))
        half *= (1.0 + float(c["recall_gain"])) ** min(record.recall_count, 20)
        half *= 1.0 + float(c["emotion_gain"]) * record.emotional_weight
        half *= 0.5 + float(c["importance_gain"]) * record.importance
        return math.log(2) / max(half, 1e-3)

    # -- patterns -------------------------------------------------------------------------------
    def extract_patterns(self, episodes: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> list[Pattern]:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(episodes) == 0:
            return []
        if vectors.ndim != 2 or len(vectors) != len(episodes):
            raise InvalidInputError(f"{len(episodes)} episodes but vectors of shape {vectors.shape}: pass one row per episode")
        dup = _RELATIONS.index(Relation.DUPLICATE)
        return extract_patterns(
            episodes, vectors, lambda pairs: self.interference_probabilities(pairs)[:, dup], **self.pattern_config
        )

    # -- corrections ----------------------------------------------------------------------------
    def correction_probabilities(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float64]:
        checked = [(_text(u, "user_turn"), _text(a, "previous_answer")) for u, a in pairs]
        out = np.zeros(len(checked), dtype=np.float64)
        for s in range(0, len(checked), _CHUNK):
            chunk = checked[s : s + _CHUNK]
            vt, va = self._pair_vectors(chunk)
            cos = (vt * va).sum(1)
            cues = np.array([mf.correction_cues(u, a, float(c)) for (u, a), c in zip(chunk, cos)], dtype=np.float32)
            out[s : s + len(chunk)] = _sigmoid(self.heads["correct"](mf.correction_inputs(vt, va, cues))[:, 0])
        return out

    def is_correction(self, user_turn: str, previous_answer: str) -> Correction:
        return self.is_correction_batch([(user_turn, previous_answer)])[0]

    def is_correction_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Correction]:
        probs = self.correction_probabilities(pairs)
        t = self.correction_threshold
        return [Correction(is_correction=bool(p >= t), probability=round(float(p), 4)) for p in probs]

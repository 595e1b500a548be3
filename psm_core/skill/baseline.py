"""The baseline policy: documented heuristics behind the :class:`MemorySkill` interface.

It is what PSM does without a trained model, and the bar every trained skill must beat.

* **gate** — an importance heuristic: content words, numbers, names, first-person statements and
  emotion raise importance; pure greetings/acknowledgements are dropped. Keep when importance ≥ 0.3.
* **weigh** — the Generative Agents score (Park et al., 2023): a weighted sum of min-max normalized
  relevance, recency (0.995 per hour since last access) and importance; relevance is a blend of
  cosine similarity and normalized BM25 (hybrid retrieval).
* **decay** — half-life by kind (chit-chat 3 days … relations 1 year), ×4 in the semantic tier,
  +20 % per recall (spaced repetition).
* **interfere** — cosine bands plus negation / number mismatch cues.
* **extract_patterns** — greedy clustering (cosine ≥ 0.8); the medoid is the canonical statement.
* **is_correction** — a keyword list ("no,", "that's wrong", "actually", …).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from psm_core.lexical import tokenize
from psm_core.skill.base import Candidate, Correction, GateDecision, Interference, MemorySkill, Pattern, Relation
from psm_core.types import Event, Kind, MemoryRecord, Tier

__all__ = ["BaselinePolicy", "classify_kind"]

_CHITCHAT = re.compile(
    r"^\W*(hi|hey|hello|yo|thanks?( you)?( so much)?|thx|ok(ay)?|cool|nice|great|wow|lol|haha+|bye|"
    r"good (morning|night|evening)|see you|sure|yes|yeah|no|nope|awesome|right|indeed|exactly|"
    r"sounds good|you too|same|me too)\W*$",
    re.IGNORECASE,
)
_KIND_RULES: list[tuple[Kind, re.Pattern[str]]] = [
    (Kind.PREFERENCE, re.compile(r"\b(love|like|enjoy|prefer|favou?rite|hate|dislike|can't stand|into|fan of)\b", re.I)),
    (Kind.PLAN, re.compile(r"\b(will|going to|gonna|plan(ning)?|next (week|month|year)|tomorrow|soon|intend|want to)\b", re.I)),
    (
        Kind.RELATION,
        re.compile(
            r"\b(my|our) (mom|mother|dad|father|wife|husband|partner|son|daughter|kids?|sister|brother|friend|boss|colleague|dog|cat)s?\b",
            re.I,
        ),
    ),
    (
        Kind.EVENT,
        re.compile(r"\b(yesterday|last (week|month|year|night)|ago|went|visited|attended|happened|just got|finished)\b", re.I),
    ),
]
_EMOTION = re.compile(
    r"\b(love|hate|happy|sad|excited|angry|afraid|scared|worried|proud|thrilled|upset|grateful|"
    r"devastated|lonely|anxious|amazing|terrible|awful|wonderful|miss|cried|stress(ed)?)\b",
    re.I,
)
_HEDGE = re.compile(r"\b(maybe|perhaps|i think|i guess|probably|not sure|might)\b", re.I)
_NEGATION = re.compile(r"\b(not|no longer|never|don't|doesn't|didn't|isn't|aren't|wasn't|stopped|quit)\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CORRECTION = re.compile(
    r"^\W*(no\b|nope|wrong|that's (not|wrong|incorrect)|that is (not|wrong|incorrect)|incorrect|"
    r"actually\b|not quite|you're wrong|you are wrong|i never said|i didn't say|i said)|"
    r"\b(that's not (right|true|correct)|you (got|have) it wrong|i meant|correction:)",
    re.I,
)
_HALF_LIFE_DAYS = {
    Kind.CHITCHAT: 3.0,
    Kind.EVENT: 30.0,
    Kind.PLAN: 14.0,
    Kind.FACT: 180.0,
    Kind.PREFERENCE: 90.0,
    Kind.RELATION: 365.0,
}


def classify_kind(text: str) -> Kind:
    """The kind of a statement by keyword rules (first match wins; fact otherwise)."""
    if _CHITCHAT.match(text):
        return Kind.CHITCHAT
    for kind, rule in _KIND_RULES:
        if rule.search(text):
            return kind
    return Kind.FACT


def _minmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x) if hi - lo < 1e-12 else (x - lo) / (hi - lo)


class BaselinePolicy(MemorySkill):
    """Heuristic memory skill (see the module docstring for every rule)."""

    name = "baseline"

    def __init__(
        self,
        relevance_weight: float = 1.0,
        recency_weight: float = 0.15,
        importance_weight: float = 0.1,
        lexical_share: float = 0.4,
        neighbor_weight: float = 0.5,
        speaker_weight: float = 0.1,
        session_weight: float = 0.2,
        time_weight: float = 0.2,
        keep_threshold: float = 0.3,
    ) -> None:
        self.time_weight = time_weight
        self.session_weight = session_weight
        self.neighbor_weight = neighbor_weight
        self.speaker_weight = speaker_weight
        self.relevance_weight = relevance_weight
        self.recency_weight = recency_weight
        self.importance_weight = importance_weight
        self.lexical_share = lexical_share
        self.keep_threshold = keep_threshold

    # -- gate -----------------------------------------------------------------------------------
    def gate(self, event: Event, context: Sequence[Event] = (), vector: NDArray[np.float32] | None = None) -> GateDecision:
        text = event.text.strip()
        content = tokenize(text)
        if _CHITCHAT.match(text) or not content:
            return GateDecision(keep=False, kind=Kind.CHITCHAT, importance=0.05, confidence=0.9)
        importance = 0.1 + min(0.4, 0.05 * len(content))
        if _NUMBER.search(text):
            importance += 0.15
        if re.search(r"\b(i|my|i'm|i've|we|our)\b", text, re.I):
            importance += 0.15
        if re.search(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+", text):
            importance += 0.1
        emotion = min(1.0, 0.3 * len(_EMOTION.findall(text)) + 0.1 * text.count("!"))
        importance = min(1.0, importance + 0.2 * emotion)
        confidence = 0.5 if _HEDGE.search(text) else 0.8
        kind = classify_kind(text)
        return GateDecision(
            keep=importance >= self.keep_threshold,
            kind=kind,
            importance=round(importance, 4),
            emotional_weight=round(emotion, 4),
            confidence=confidence,
        )

    # -- weigh ----------------------------------------------------------------------------------
    def relevance(self, candidates: Sequence[Candidate]) -> NDArray[np.float64]:
        """Hybrid relevance: own cosine/BM25 blend, plus half the neighbours' blend, plus a speaker bonus."""
        ls = self.lexical_share
        sim = np.array([c.similarity for c in candidates], dtype=np.float64)
        lex = np.array([c.lexical for c in candidates], dtype=np.float64)
        nsim = np.array([c.neighbor_similarity for c in candidates], dtype=np.float64)
        nlex = np.array([c.neighbor_lexical for c in candidates], dtype=np.float64)
        spk = np.array([c.speaker_match for c in candidates], dtype=np.float64)
        sess = np.array([c.session_relevance for c in candidates], dtype=np.float64)
        when = np.array([c.temporal_match for c in candidates], dtype=np.float64)
        own = (1 - ls) * sim + ls * lex
        nb = self.neighbor_weight * ((1 - ls) * nsim + ls * nlex)
        return own + nb + self.speaker_weight * spk + self.session_weight * sess + self.time_weight * when

    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        if not candidates:
            return np.zeros(0, dtype=np.float64)
        rel = self.relevance(candidates)
        hours = np.array(
            [max(0.0, (now - (c.record.last_access or c.record.observed_at)).total_seconds() / 3600) for c in candidates]
        )
        recency = 0.995**hours
        importance = np.array([c.record.importance * c.record.strength_at(now) for c in candidates])
        tier_penalty = np.array([0.1 if c.record.tier is Tier.ARCHIVAL else 0.0 for c in candidates])
        return (
            self.relevance_weight * _minmax(rel)
            + self.recency_weight * _minmax(recency)
            + self.importance_weight * _minmax(importance)
            - tier_penalty
        )

    # -- decay ----------------------------------------------------------------------------------
    def decay(self, record: MemoryRecord) -> float:
        half = _HALF_LIFE_DAYS[record.kind]
        if record.tier in (Tier.SEMANTIC, Tier.ARCHIVAL):
            half *= 4
        half *= 1.2 ** min(record.recall_count, 20)
        half *= 1 + record.emotional_weight
        return math.log(2) / half

    # -- interfere ------------------------------------------------------------------------------
    def interfere(self, new: str, existing: str, similarity: float | None = None) -> Interference:
        if similarity is None:
            a, b = set(tokenize(new)), set(tokenize(existing))
            similarity = len(a & b) / max(1, len(a | b))
        if new.strip().lower() == existing.strip().lower() or similarity >= 0.97:
            return Interference(relation=Relation.DUPLICATE, probability=round(min(1.0, max(0.5, similarity)), 4))
        if similarity < 0.55:
            return Interference(relation=Relation.UNRELATED, probability=round(min(1.0, 1 - similarity), 4))
        neg_new, neg_old = bool(_NEGATION.search(new)), bool(_NEGATION.search(existing))
        if neg_new != neg_old:
            return Interference(relation=Relation.CONTRADICTION, probability=0.6)
        if set(_NUMBER.findall(new)) != set(_NUMBER.findall(existing)) and _NUMBER.search(new):
            return Interference(relation=Relation.UPDATE, probability=0.6)
        if similarity >= 0.8:
            return Interference(relation=Relation.UPDATE, probability=0.5)
        return Interference(relation=Relation.COMPLEMENT, probability=0.5)

    # -- patterns -------------------------------------------------------------------------------
    def extract_patterns(self, episodes: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> list[Pattern]:
        if len(episodes) != len(vectors):
            raise ValueError(f"{len(episodes)} episodes but {len(vectors)} vectors")
        if not episodes:
            return []
        sims = vectors @ vectors.T
        unassigned = list(range(len(episodes)))
        patterns: list[Pattern] = []
        while unassigned:
            seed = unassigned[0]
            members = [i for i in unassigned if sims[seed, i] >= 0.8]
            unassigned = [i for i in unassigned if i not in members]
            if len(members) < 2:
                continue
            sub = sims[np.ix_(members, members)]
            medoid = members[int(sub.sum(1).argmax())]
            conf = float(np.clip(sub.mean(), 0.0, 1.0))
            patterns.append(
                Pattern(
                    text=episodes[medoid].text,
                    kind=episodes[medoid].kind,
                    confidence=round(conf, 4),
                    episode_ids=sorted(episodes[i].id for i in members),
                )
            )
        return patterns

    # -- corrections ----------------------------------------------------------------------------
    def is_correction(self, user_turn: str, previous_answer: str) -> Correction:
        hit = bool(_CORRECTION.search(user_turn.strip()))
        return Correction(is_correction=hit, probability=0.8 if hit else 0.1)

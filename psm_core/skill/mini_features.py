"""Input features of the PSM-mini heads, computed without any learned text model.

```
text_cues(text)                 surface cues of one utterance (length, pronouns, numbers, social openers, …)
gate_inputs(texts, vectors, …)  [embedding | cues | previous-turn cues] rows for the gate head
pair_cues(a, b)                 lexical relations of two statements (overlap, negation, numbers, change cues)
interfere_inputs / correction_inputs   embedding interactions + cues for those two heads
weigh_matrix(candidates, now)   vectorized content-free candidate features for the recall head
```
Everything is deterministic and pure numpy / ``re``; the cue lists are English, so text in other
scripts yields neutral cues and the embedding carries the decision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.lexical import tokenize
from psm_core.skill.base import Candidate
from psm_core.types import Event, Kind, Status, Tier

__all__ = [
    "CORRECTION_CUE_NAMES",
    "GATE_EXTRA_NAMES",
    "PAIR_CUE_NAMES",
    "SENTENCE_FEATURE_NAMES",
    "TEXT_CUE_NAMES",
    "WEIGH_FEATURE_NAMES",
    "correction_cues",
    "correction_inputs",
    "gate_inputs",
    "has_sentences",
    "heuristic_importance",
    "interfere_inputs",
    "is_ack_only",
    "latin_share",
    "pair_cues",
    "sentence_matrix",
    "text_cues",
    "weigh_matrix",
]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_FIRST = re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|our|us)\b", re.I)
_SECOND = re.compile(r"\b(you|your|you're|you've|yours|yourself)\b", re.I)
_THIRD = re.compile(r"\b(he|she|they|his|her|their|him|them)\b", re.I)
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)(?<!\")\b[A-Z][a-z]{2,}")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)?|\b(one|two|three|four|five|six|seven|eight|nine|ten|twenty|hundred|dozen)\b", re.I)
_SOCIAL_OPEN = re.compile(
    r"^\W*(hi|hey|hello|wow|whoa|oh|ooh|aww+|cool|nice|great|awesome|amazing|thanks|thank you|thx|congrats|"
    r"congratulations|no worries|sure|yeah|yep|yes|ok|okay|haha+|lol|omg|sounds|that's|that is|glad|"
    r"good (morning|night|evening|luck)|take care|bye|see you|cheers|absolutely|totally|definitely|right)\b",
    re.I,
)
_SOCIAL_ONLY = re.compile(
    r"^\W*((hi|hey|hello|yo|thanks?( you)?( so much)?|thx|ok(ay)?|cool|nice|great|wow|lol|haha+|bye|"
    r"good (morning|night|evening)|see you( soon| later)?|sure|yes|yeah|no|nope|awesome|right|indeed|exactly|"
    r"sounds good|you too|same|me too|take care|cheers|no worries|got it|will do)[\s,.!?]*)+$",
    re.I,
)
_THANKS = re.compile(r"\b(thanks|thank you|appreciate|grateful)\b", re.I)
_FAREWELL = re.compile(r"\b(bye|take care|talk (to you )?soon|see (you|ya)|catch you later|have a (good|great|nice))\b", re.I)
_SUPPORT = re.compile(
    r"\b(you got this|proud of you|here for you|keep (it )?up|keep going|good luck|hang in there|you can do it|"
    r"believe in you|means a lot|so happy for you|sounds (great|amazing|awesome|fun|cool|lovely|wonderful)|"
    r"that's (great|amazing|awesome|cool|wonderful|so cool)|can't wait to (see|hear))\b",
    re.I,
)
_EMOTION = re.compile(
    r"\b(love|loved|hate|happy|sad|excited|thrilled|angry|afraid|scared|worried|proud|upset|devastated|"
    r"lonely|anxious|nervous|heartbroken|overwhelmed|stressed|depressed|grateful|miss|missed|cried|"
    r"passed away|died|divorce|broke up|diagnosed|accident|hospital|fired|laid off|amazing|terrible|awful)\b",
    re.I,
)
_HEDGE = re.compile(r"\b(maybe|perhaps|i think|i guess|probably|not sure|might|kind of|sort of|i suppose|possibly)\b", re.I)
_TIME = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|last (week|month|year|night|weekend|summer|winter|spring|fall)|"
    r"next (week|month|year|weekend|summer)|ago|since|(this|last|next) (monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)|in (january|february|march|april|may|june|july|august|september|october|november|december)|"
    r"\d{4}|weekend|recently|lately|these days)\b",
    re.I,
)
_PAST = re.compile(r"\b(went|was|were|had|did|got|made|visited|finished|started|bought|took|met|saw|moved|adopted|\w+ed)\b", re.I)
_FUTURE = re.compile(r"\b(will|going to|gonna|plan(ning)? to|want to|hope to|intend|about to|thinking of|next)\b", re.I)
_REQUEST = re.compile(
    r"\b(can you|could you|would you|please|recommend|suggest|any (tips|ideas|suggestions)|what are some|how (do|can|should) i|"
    r"help me|give me|tell me|explain|write a|list of)\b",
    re.I,
)
_PHOTO = re.compile(r"\[shares a photo|\bphoto\b|\bpic\b|\bpicture\b", re.I)
_NEGATION = re.compile(
    r"\b(not|no|never|don't|doesn't|didn't|isn't|aren't|wasn't|weren't|won't|can't|cannot|nor|without)\b", re.I
)
_CHANGE = re.compile(
    r"\b(now|anymore|no longer|switched|moved|changed|new|started|stopped|quit|used to|these days|nowadays|instead|"
    r"lately|recently|became|become|turned|since|finally|any more|upgraded|replaced|gave up|took up|ended)\b",
    re.I,
)
_DENY = re.compile(
    r"\b(never|not true|not actually|actually|wrong|mistaken|isn't true|that's not|i don't have|i've never|i have never|"
    r"i am not|i'm not|was never|didn't ever|no such)\b",
    re.I,
)
_CORR_OPEN = re.compile(
    r"^\W*(no\b|nope|nah|not quite|not really|wrong|incorrect|actually\b|hmm+,? no|hold on|wait\b|uh,? no|sorry,? (but )?no)",
    re.I,
)
_CORR_ANY = re.compile(
    r"\b(that's (not|wrong|incorrect)|that is (not|wrong|incorrect)|not (right|correct|true|what i said)|you('re| are) wrong|"
    r"(isn't|wasn't) (right|correct|true|what i)|not what i (said|meant|told|asked)|you('re| are) mistaken|misheard|"
    r"(it|this|that) (is|was) wrong|you('ve)? (got|have) (it|that|this)( all)? wrong|never told you|wrong (again|city|person)|"
    r"i never said|i didn't say|i said|i meant|i mean\b|you (got|have) it wrong|you('ve)? mixed|mix(ed|ing)? (\w+ )?up|"
    r"confus(ed|ing)|correction|it's actually|it was actually|it is actually|rather than|instead of|not \w+,? but|"
    r"remember,? i|as i (said|told you|mentioned)|i told you|misremember|misunderstood|that was my)\b",
    re.I,
)
_NEGATED_ACK = re.compile(
    r"\b(not|isn't|wasn't|aren't|never)\s+(quite\s+|exactly\s+|really\s+|totally\s+)?(right|correct|true|exactly|great)\b", re.I
)
_OFFER = re.compile(
    r"\b(anything else|would you like|do you want|want me to|shall i|should i|can i help|need anything|any other|"
    r"let me know if|more (ideas|suggestions|details|options|examples))\b",
    re.I,
)
_ACK_ONLY = re.compile(  # a turn made of acknowledgements, thanks, laughter, greetings or goodbyes only
    r"^\W*((ok(ay|ie)?|k+|cool|nice( one)?|great|awesome|perfect|sweet|lol+|lmao|rofl|ha(ha)+h?|hah|he(he)+|"
    r"thanks?( you)?( so much| a lot)?|thx|ty|cheers|bye|goodbye|see (you|ya)( later| soon)?|later|good ?night|night|"
    r"sounds (good|great)|got it|noted|alright|all right|all good|wow|yay|oh|ah|hmm+|mhm|np|no problem|no worries|"
    r"will do|take care|you too|hi|hey|hello|talk (to you )?(soon|later)|ttyl|catch you later|"
    r"have a (good|great|nice|lovely) (one|day|night|evening|weekend))\b[\s,.!?:;)(~*-]*)+$",
    re.I,
)
_ACK = re.compile(
    r"\b(thanks|thank you|perfect|great|exactly|correct|right|yes|yep|sounds good|makes sense|got it|awesome|that helps|no worries|"
    r"no problem|love it|nice)\b",
    re.I,
)

TEXT_CUE_NAMES: tuple[str, ...] = (
    "log_chars", "log_words", "content_share", "n_sentences", "question", "exclaim", "number", "first_person",
    "second_person", "third_person", "proper_nouns", "social_open", "social_only", "thanks", "farewell", "support",
    "emotion", "hedge", "time_expr", "past", "future", "request", "photo", "negation", "latin_share", "ack_only",
)  # fmt: skip
GATE_EXTRA_NAMES: tuple[str, ...] = (
    "role_user", "role_assistant", "role_named", "prev_question", "prev_social", "has_prev", "heuristic_importance",
)  # fmt: skip
PAIR_CUE_NAMES: tuple[str, ...] = (
    "cosine", "jaccard", "overlap_new", "overlap_old", "len_ratio", "neg_new", "neg_old", "neg_xor", "num_new",
    "num_old", "num_mismatch", "num_shared", "change_new", "change_old", "deny_new", "proper_shared", "proper_new_only",
    "exact",
)  # fmt: skip
CORRECTION_CUE_NAMES: tuple[str, ...] = (
    "corr_open", "corr_any", "ack", "question", "negation", "new_number", "new_proper", "overlap_answer", "log_words",
    "cosine", "answer_question", "answer_offer",
)  # fmt: skip
_KINDS = tuple(Kind)
WEIGH_FEATURE_NAMES: tuple[str, ...] = (
    "similarity", "sim_gap", "sim_z", "lexical", "dense_rrf", "lexical_rrf", "in_dense", "in_lexical", "both",
    "neighbor_similarity", "neighbor_gap", "neighbor_lexical", "speaker_match", "session_relevance", "temporal_match",
    "log_age_days", "age_rel", "log_since_access_days", "strength_now", "log_recall_count", "importance",
    "emotional_weight", "confidence", "superseded", "flagged", "semantic_or_archival", "working",
    *(f"kind_{k.value}" for k in _KINDS),
)  # fmt: skip


def latin_share(text: str) -> float:
    """Share of letters that are ASCII (1.0 for English; near 0 for CJK, Cyrillic, Arabic…)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    return sum(1 for c in letters if c.isascii()) / len(letters)


def _count(rx: re.Pattern[str], text: str, cap: float = 3.0) -> float:
    return min(cap, float(len(rx.findall(text)))) / cap


def text_cues(text: str) -> list[float]:
    """The :data:`TEXT_CUE_NAMES` values of one utterance, each roughly in [0, 1]."""
    t = text.strip()
    words = _WORD.findall(t)
    n = max(1, len(words))
    content = tokenize(t)
    sentences = max(1, len(re.findall(r"[.!?]+(\s|$)", t)))
    return [
        math.log1p(len(t)) / 8.0,
        math.log1p(len(words)) / 5.0,
        len(content) / n,
        min(sentences, 6) / 6.0,
        float("?" in t),
        min(t.count("!"), 3) / 3.0,
        _count(_NUMBER, t),
        _count(_FIRST, t, 5.0),
        _count(_SECOND, t),
        _count(_THIRD, t),
        _count(_PROPER, t),
        float(bool(_SOCIAL_OPEN.match(t))),
        float(bool(_SOCIAL_ONLY.match(t))),
        float(bool(_THANKS.search(t))),
        float(bool(_FAREWELL.search(t))),
        _count(_SUPPORT, t, 2.0),
        _count(_EMOTION, t),
        float(bool(_HEDGE.search(t))),
        _count(_TIME, t, 2.0),
        _count(_PAST, t),
        float(bool(_FUTURE.search(t))),
        float(bool(_REQUEST.search(t))),
        float(bool(_PHOTO.search(t))),
        float(bool(_NEGATION.search(t))),
        latin_share(t),
        float(is_ack_only(t)),
    ]


def is_ack_only(text: str) -> bool:
    """True for a turn made only of acknowledgements, thanks, laughter, greetings or goodbyes ("ok thanks",
    "lol", "sounds good, bye!"); answers such as "yes", "no", "sure" or "me too" are not."""
    t = text.strip()
    return len(t) <= 60 and bool(_ACK_ONLY.match(t))


_HEURISTIC: Any = None


def heuristic_importance(text: str) -> float:
    """The baseline policy's importance of ``text`` (its documented rules), a cue for the gate head."""
    global _HEURISTIC
    if _HEURISTIC is None:
        from psm_core.skill.baseline import BaselinePolicy

        _HEURISTIC = BaselinePolicy()
    return float(_HEURISTIC.gate(Event(text=text)).importance)


def gate_inputs(
    texts: Sequence[str],
    vectors: NDArray[np.float32],
    roles: Sequence[str],
    previous: Sequence[str | None],
) -> NDArray[np.float32]:
    """Rows of [embedding | text cues | role, previous-turn and heuristic cues] for the gate head."""
    rows = []
    for text, role, prev in zip(texts, roles, previous):
        r = (role or "").lower()
        extra = [
            float(r == "user"),
            float(r in ("assistant", "system")),
            float(r not in ("user", "assistant", "system", "")),
            float(prev is not None and "?" in prev),
            float(prev is not None and bool(_SOCIAL_ONLY.match(prev.strip()))),
            float(prev is not None),
            heuristic_importance(text),
        ]
        rows.append(text_cues(text) + extra)
    cues = np.asarray(rows, dtype=np.float32).reshape(len(texts), len(TEXT_CUE_NAMES) + len(GATE_EXTRA_NAMES))
    return np.hstack([np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), cues])


def _numbers(text: str) -> set[str]:
    return {m.group(0).lower() for m in _NUMBER.finditer(text)}


def _propers(text: str) -> set[str]:
    return set(_PROPER.findall(text))


def pair_cues(new: str, old: str, cosine: float) -> list[float]:
    """The :data:`PAIR_CUE_NAMES` values relating statement ``new`` to an existing statement ``old``."""
    a, b = set(tokenize(new)), set(tokenize(old))
    inter = len(a & b)
    na, nb = _numbers(new), _numbers(old)
    pa, pb = _propers(new), _propers(old)
    neg_a, neg_b = bool(_NEGATION.search(new)), bool(_NEGATION.search(old))
    return [
        float(cosine),
        inter / max(1, len(a | b)),
        inter / max(1, len(a)),
        inter / max(1, len(b)),
        min(len(new), len(old)) / max(1, len(new), len(old)),
        float(neg_a),
        float(neg_b),
        float(neg_a != neg_b),
        float(bool(na)),
        float(bool(nb)),
        float(bool(na) and bool(nb) and na != nb),
        float(bool(na & nb)),
        float(bool(_CHANGE.search(new))),
        float(bool(_CHANGE.search(old))),
        float(bool(_DENY.search(new))),
        float(bool(pa & pb)),
        float(bool(pa - pb)),
        float(new.strip().lower() == old.strip().lower()),
    ]


def correction_cues(turn: str, answer: str, cosine: float) -> list[float]:
    """The :data:`CORRECTION_CUE_NAMES` values of a user ``turn`` replying to ``answer``."""
    t = turn.strip()
    tt, ta = set(tokenize(t)), set(tokenize(answer))
    return [
        float(bool(_CORR_OPEN.match(t))),
        _count(_CORR_ANY, t, 2.0),
        float(bool(_ACK.search(_NEGATED_ACK.sub(" ", t)))),
        float("?" in t),
        float(bool(_NEGATION.search(t))),
        float(bool(_numbers(t) - _numbers(answer))),
        float(bool(_propers(t) - _propers(answer))),
        len(tt & ta) / max(1, len(tt)),
        math.log1p(len(_WORD.findall(t))) / 5.0,
        float(cosine),
        float("?" in answer),
        float(bool(_OFFER.search(answer))),
    ]


def interfere_inputs(vn: NDArray[np.float32], vo: NDArray[np.float32], cues: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows of [v_new | v_new*v_old | |v_new-v_old| | pair cues] for the interference head."""
    vn = np.asarray(vn, dtype=np.float32).reshape(len(cues), -1)
    vo = np.asarray(vo, dtype=np.float32).reshape(len(cues), -1)
    return np.hstack([vn, vn * vo, np.abs(vn - vo), np.asarray(cues, dtype=np.float32)])


def correction_inputs(vt: NDArray[np.float32], va: NDArray[np.float32], cues: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows of [v_turn | v_turn*v_answer | correction cues] for the correction head."""
    vt = np.asarray(vt, dtype=np.float32).reshape(len(cues), -1)
    va = np.asarray(va, dtype=np.float32).reshape(len(cues), -1)
    return np.hstack([vt, vt * va, np.asarray(cues, dtype=np.float32)])


SENTENCE_FEATURE_NAMES: tuple[str, ...] = ("sentence_similarity", "sentence_gap", "has_sentences")


def has_sentences(cands: Sequence[Candidate]) -> bool:
    """Whether any candidate carries sentence vectors (its user's store has been through a pass)."""
    return any(c.sentence_similarity is not None for c in cands)


def sentence_matrix(cands: Sequence[Candidate]) -> NDArray[np.float32]:
    """Rows of :data:`SENTENCE_FEATURE_NAMES`: the best sentence cosine (the memory's similarity when it
    has no sentence vectors, and never below it), its gap to the list's best, and whether it has them."""
    n = len(cands)
    out = np.zeros((n, len(SENTENCE_FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    for i, c in enumerate(cands):
        s = c.sentence_similarity
        out[i, 0] = c.similarity if s is None else max(s, c.similarity)
        out[i, 2] = s is not None
    out[:, 1] = out[:, 0] - out[:, 0].max()
    return out


def weigh_matrix(cands: Sequence[Candidate], now: datetime) -> NDArray[np.float32]:
    """Rows of :data:`WEIGH_FEATURE_NAMES` for ``cands`` (vectorized; list-relative features included)."""
    n = len(cands)
    out = np.zeros((n, len(WEIGH_FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    ts = now.timestamp()
    raw = np.array(
        [
            (
                c.similarity,
                c.lexical,
                -1.0 if c.dense_rank is None else c.dense_rank,
                -1.0 if c.lexical_rank is None else c.lexical_rank,
                c.record.observed_at.timestamp(),
                (c.record.last_access or c.record.observed_at).timestamp(),
                c.record.strength,
                c.record.decay_rate,
                c.record.recall_count,
                c.record.importance,
                c.record.emotional_weight,
                c.record.confidence,
                c.neighbor_similarity,
                c.neighbor_lexical,
                float(c.speaker_match),
                float(getattr(c, "session_relevance", 0.0)),
                float(getattr(c, "temporal_match", 0.0)),
            )
            for c in cands
        ],
        dtype=np.float64,
    )
    sim, lex, drank, lrank = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
    in_d, in_l = drank >= 0, lrank >= 0
    age = np.maximum(0.0, (ts - raw[:, 4]) / 86400.0)
    since = np.maximum(0.0, (ts - raw[:, 5]) / 86400.0)
    out[:, 0] = sim
    out[:, 1] = sim - sim.max()
    out[:, 2] = (sim - sim.mean()) / (sim.std() + 1e-3) / 3.0
    out[:, 3] = lex
    out[:, 4] = np.where(in_d, 10.0 / (10.0 + np.maximum(drank, 0)), 0.0)
    out[:, 5] = np.where(in_l, 10.0 / (10.0 + np.maximum(lrank, 0)), 0.0)
    out[:, 6] = in_d
    out[:, 7] = in_l
    out[:, 8] = in_d & in_l
    nsim = raw[:, 12]
    out[:, 9] = nsim
    out[:, 10] = np.where(nsim > 0, nsim - sim.max(), -1.0)
    out[:, 11] = raw[:, 13]
    out[:, 12] = raw[:, 14]
    out[:, 13] = raw[:, 15]
    out[:, 14] = raw[:, 16]
    out[:, 15] = np.log1p(age) / 6.0
    out[:, 16] = np.log1p(age - age.min()) / 6.0
    out[:, 17] = np.log1p(since) / 6.0
    out[:, 18] = raw[:, 6] * np.exp(-raw[:, 7] * since)
    out[:, 19] = np.log1p(raw[:, 8]) / 3.0
    out[:, 20:23] = raw[:, 9:12]
    for i, c in enumerate(cands):
        r = c.record
        out[i, 23] = r.status is Status.SUPERSEDED
        out[i, 24] = r.status is Status.FLAGGED
        out[i, 25] = r.tier is Tier.SEMANTIC or r.tier is Tier.ARCHIVAL
        out[i, 26] = r.tier is Tier.WORKING
        out[i, 27 + _KINDS.index(r.kind)] = 1.0
    return out.astype(np.float32)

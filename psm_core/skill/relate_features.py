"""Input features of PSM-mini's attribute and relation heads, computed without any learned text model.

```
attribute_cues(text)            surface cues of one statement (question/request form, first person, …)
attribute_inputs(vectors, texts)  [plain embedding | attribute cues] rows for the attribute head
AttributeProfile                the attribute head's distribution over the taxonomy, summarised for a pair
relate_cues(new, old, cos, pn, po)  lexical relations of a new statement to an earlier one (value words,
                                one-sided values, negation, "never", change / end / "also" / restatement
                                words, times and numbers changed) + agreement of their attribute readings
relate_inputs(vn, vo, cues)     [v_new | v_old | v_new*v_old | |v_new-v_old| | cues] for the relation head
```
Deterministic, pure numpy / ``re``; English cue lists (other scripts give neutral cues and the
embedding decides). The attribute classes are :data:`psm_core.attributes.ATTRIBUTE_NAMES` then ``none``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np
from numpy.typing import NDArray

from psm_core.attributes import ATTRIBUTE_NAMES, ATTRIBUTES, NONE, OTHER
from psm_core.lexical import tokenize
from psm_core.skill.mini_features import TEXT_CUE_NAMES, text_cues

__all__ = [
    "ATTRIBUTE_CLASSES",
    "ATTRIBUTE_CUE_NAMES",
    "RELATE_CUE_NAMES",
    "attribute_cues",
    "attribute_inputs",
    "relate_cues",
    "relate_inputs",
    "value_words",
]

ATTRIBUTE_CLASSES: tuple[str, ...] = (*ATTRIBUTE_NAMES, NONE)
_SINGLE = np.array([a.cardinality == "single" for a in ATTRIBUTES] + [False], dtype=np.float64)
_MULTI = np.array([a.cardinality == "multi" and a.name != OTHER for a in ATTRIBUTES] + [False], dtype=np.float64)
_KEYED = np.array([a.keyed for a in ATTRIBUTES] + [False], dtype=np.float64)
_OTHER_I = ATTRIBUTE_CLASSES.index(OTHER)
_NONE_I = ATTRIBUTE_CLASSES.index(NONE)

_OPEN = r"^\W*(?:(?:so|and|but|ok(?:ay)?|hey|hi|um+|well|btw|also|oh|hmm+|quick question|sorry)\W+)*"
_WH = re.compile(
    _OPEN + r"(?:what|what's|whats|where|where's|when|when's|who|who's|whose|why|how|how's|which|do|does|did|is|are|was|"
    r"were|am|can|could|would|should|will|have|has|had|any idea|remind me|tell me|do you (?:know|remember))\b",
    re.I,
)
_REQUEST = re.compile(
    _OPEN + r"(?:please\W+)?(?:can you|could you|would you|will you|pls|please|help me|give me|show me|tell me|remind me|"
    r"let me know|write|draft|make|create|generate|summari[sz]e|explain|suggest|recommend|list|translate|find|search|"
    r"look up|check|calculate|compare|describe|rewrite|fix|i need you to|i want you to|i'd like you to|any (?:tips|ideas|"
    r"suggestions|advice))\b",
    re.I,
)
_SELF_START = re.compile(_OPEN + r"(?:i|i'm|im|i've|ive|i'd|i'll|my|we|we're|we've|our)\b", re.I)
_MY = re.compile(r"\b(?:my|our|mine)\b", re.I)
_SELF_ANY = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|i'll|me|my|mine|myself|we|we're|we've|our|ours|us)\b", re.I)
_THIRD_PARTY = re.compile(
    r"\b(?:my|our)\s+(?:\w+\s+)?(?:sister|brother|mum|mom|mother|dad|father|parents|husband|wife|partner|boyfriend|"
    r"girlfriend|fianc[eé]e?|son|daughter|kids?|children|friend|mate|neighbou?r|boss|manager|colleague|flatmate|"
    r"roommate|grandma|grandad|grandpa|grandmother|grandfather|aunt|uncle|cousin|in-laws?|niece|nephew)\b",
    re.I,
)
ATTRIBUTE_CUE_NAMES: tuple[str, ...] = (
    "question", "wh_start", "request_start", "self_start", "my", "self_any", "third_party", "self_question", "log_words",
    "number", "social_only", "ack_only", "second_person", "negation", "latin_share",
)  # fmt: skip
_TEXT_CUE_USED = ("question", "number", "social_only", "ack_only", "second_person", "negation", "latin_share", "log_words")
_TEXT_IDX = {name: i for i, name in enumerate(TEXT_CUE_NAMES)}


def attribute_cues(text: str) -> list[float]:
    """The :data:`ATTRIBUTE_CUE_NAMES` values of one statement, each in [0, 1]."""
    t = text.strip()
    base = text_cues(t)
    get = {n: base[_TEXT_IDX[n]] for n in _TEXT_CUE_USED}
    question = "?" in t or bool(_WH.match(t))
    self_any = bool(_SELF_ANY.search(t))
    return [
        float("?" in t),
        float(bool(_WH.match(t))),
        float(bool(_REQUEST.match(t))),
        float(bool(_SELF_START.match(t))),
        float(bool(_MY.search(t))),
        float(self_any),
        float(bool(_THIRD_PARTY.search(t))),
        float(question and self_any),
        get["log_words"],
        get["number"],
        get["social_only"],
        get["ack_only"],
        get["second_person"],
        get["negation"],
        get["latin_share"],
    ]


def attribute_inputs(vectors: NDArray[np.float32], texts: Sequence[str]) -> NDArray[np.float32]:
    """Rows of [plain sentence embedding | attribute cues] for the attribute head."""
    cues = np.asarray([attribute_cues(t) for t in texts], dtype=np.float32).reshape(len(texts), len(ATTRIBUTE_CUE_NAMES))
    return np.hstack([np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), cues])


# -- pair cues ------------------------------------------------------------------------------------
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)(?<![.!?])\b[A-Z][\w'&-]*[\w]")
_NUMBER = re.compile(
    r"\d+(?:[.,:/]\d+)*(?:am|pm|k|st|nd|rd|th|mg|kg|km|%)?|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|thousand|dozen|half|first|second|third|fourth|fifth)\b",
    re.I,
)
_TIMEWORD = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|"
    r"sep|sept|oct|nov|dec|noon|midnight|morning|afternoon|evening|tonight|tomorrow|weekend|weekday|\d{1,2}(?::\d\d)?\s?(?:am|pm)|"
    r"\d{1,2}:\d\d|\d{1,2}(?:st|nd|rd|th))\b",
    re.I,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|don't|dont|doesn't|didn't|isn't|aren't|wasn't|weren't|won't|can't|cannot|haven't|hasn't|"
    r"nor|without|none)\b",
    re.I,
)
_NEVER = re.compile(
    r"\b(?:never|not once|not a single|only child|no (?:pets|kids|children|siblings|car|brothers|sisters|idea)|"
    r"don't (?:have|own|drink|eat|smoke|speak|play|know)|do not (?:have|own|drink|eat|smoke)|"
    r"haven't (?:ever|got)|have no|i'm not (?:a|an|into)|am not|can't stand|allergic|intolerant|teetotal|"
    r"vegan|vegetarian|hate|avoid|nothing to do with)\b",
    re.I,
)
_CHANGE = re.compile(
    r"\b(?:now|nowadays|these days|anymore|any more|no longer|moved|moving|switched|switching|changed|changing|new|"
    r"newly|started|starting|start|stopped|quit|quitting|used to|instead|lately|recently|became|become|turned|since|"
    r"finally|upgraded|replaced|gave up|took up|ended|left|leaving|joined|joining|transferred|promoted|relocated|"
    r"rebooked|rescheduled|pushed|postponed|brought forward|bumped|swapped|traded|sold|bought|dropped|upped|raised|"
    r"increased|decreased|went up|gone up|put up|down to|up to|from now on|as of|going forward|handed in|resigned|"
    r"retired|dyed|cut|got married|divorced|broke up|split|engaged|hired|offer|signed|renewed|cancelled|canceled)\b",
    re.I,
)
_END = re.compile(
    r"\b(?:died|passed away|passed|put (?:him|her|them|it) (?:to sleep|down)|to sleep|lost|stolen|got stolen|sold|"
    r"scrapped|written off|wrote off|broke up|split up|separated|divorced|left|quit|resigned|fired|laid off|let go|"
    r"cancelled|canceled|closed|shut down|gave up|no more|gone|over|ended|dumped|moved out|rehomed|retired)\b",
    re.I,
)
_ALSO = re.compile(
    r"\b(?:too|also|as well|another|second|third|other|more|additionally|plus|besides|added|addition|both|each|"
    r"either|along with|on top of|in addition|joined by|new addition|one more|now have two|now have three|branch out)\b",
    re.I,
)
_RESTATE = re.compile(
    r"\b(?:as i (?:said|mentioned|told you)|like i (?:said|mentioned)|as mentioned|reminder|remind(?:ing)? you|"
    r"remember|by the way|btw|again|still|as you know|you know|always|same|don't forget|just so you know|"
    r"for the record|once more|in case you forgot|like i say)\b",
    re.I,
)
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_QUESTION = re.compile(r"\?\s*$|^\W*(?:what|where|when|who|which|how|do|does|did|is|are|am|can|could)\b", re.I)

RELATE_CUE_NAMES: tuple[str, ...] = (
    "cosine", "jaccard", "overlap_new", "overlap_old", "words_new_only", "words_old_only", "swap", "one_replace",
    "frame_share", "len_ratio", "exact",
    "value_shared", "value_new_only",
    "value_old_only", "value_any_new", "value_any_old", "num_new", "num_old", "num_changed", "num_shared", "time_new",
    "time_old", "time_changed", "proper_changed", "neg_new", "neg_old", "neg_xor", "never_new", "never_old",
    "never_xor", "change_new", "change_old", "end_new", "also_new", "restate_new", "question_new", "question_old",
    "third_new", "third_old", "third_xor", "attr_dot", "attr_single", "attr_multi", "attr_keyed", "attr_other",
    "none_new", "none_old", "attr_same", "attr_max_new", "attr_max_old",
)  # fmt: skip


def value_words(text: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(names, numbers, times) of ``text``: capitalised words not opening a sentence, numbers and number
    words, days / months / clock times (lowercased)."""
    names = frozenset(w.lower() for w in _CAPITAL.findall(text))
    numbers = frozenset(m.group(0).lower() for m in _NUMBER.finditer(text))
    times = frozenset(m.group(0).lower() for m in _TIMEWORD.finditer(text))
    return names, numbers, times


def _has(rx: re.Pattern[str], text: str) -> float:
    return float(bool(rx.search(text)))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _frame(new: str, old: str) -> tuple[float, float]:
    """(one_replace, frame_share): whether the two word sequences differ by one replaced span only (the same
    sentence with another value: "Dutch is my first language" / "Greek is my first language"), and the share of
    the shorter sequence that is the same words in the same order."""
    a, b = _WORDS.findall(new.lower()), _WORDS.findall(old.lower())
    if not a or not b:
        return 0.0, 0.0
    m = SequenceMatcher(None, a, b, autojunk=False)
    ops = [op for op in m.get_opcodes() if op[0] != "equal"]
    same = sum(i2 - i1 for tag, i1, i2, _, _ in m.get_opcodes() if tag == "equal")
    share = same / min(len(a), len(b))
    one = len(ops) == 1 and ops[0][0] == "replace" and share >= 0.5
    if one:  # the replaced words carry content on both sides ("at" → "for" is no new value)
        _, i1, i2, j1, j2 = ops[0]
        one = bool(tokenize(" ".join(a[i1:i2]))) and bool(tokenize(" ".join(b[j1:j2])))
    return float(one), share


def relate_cues(new: str, old: str, cosine: float, p_new: NDArray[np.float64], p_old: NDArray[np.float64]) -> list[float]:
    """The :data:`RELATE_CUE_NAMES` values relating statement ``new`` to an earlier statement ``old``; ``p_new`` /
    ``p_old`` are the attribute head's distributions over :data:`ATTRIBUTE_CLASSES` for the two statements."""
    a, b = set(tokenize(new)), set(tokenize(old))
    inter = len(a & b)
    na, ua, ta = value_words(new)
    nb, ub, tb = value_words(old)
    va, vb = na | ua | ta, nb | ub | tb
    neg_a, neg_b = _has(_NEGATION, new), _has(_NEGATION, old)
    never_a, never_b = _has(_NEVER, new), _has(_NEVER, old)
    third_a, third_b = _has(_THIRD_PARTY, new), _has(_THIRD_PARTY, old)
    joint = p_new * p_old
    only_a, only_b = len(a - b), len(b - a)
    return [
        float(cosine),
        inter / max(1, len(a | b)),
        inter / max(1, len(a)),
        inter / max(1, len(b)),
        min(only_a, 6) / 6.0,
        min(only_b, 6) / 6.0,
        float(only_a > 0 and only_b > 0 and inter >= max(1, 0.4 * min(len(a), len(b)))),
        *_frame(new, old),
        min(len(new), len(old)) / max(1, len(new), len(old)),
        float(_norm(new) == _norm(old)),
        float(bool(va & vb)),
        len(va - vb) / max(1, len(va)),
        len(vb - va) / max(1, len(vb)),
        float(bool(va)),
        float(bool(vb)),
        float(bool(ua)),
        float(bool(ub)),
        float(bool(ua) and bool(ub) and ua != ub),
        float(bool(ua & ub)),
        float(bool(ta)),
        float(bool(tb)),
        float(bool(ta) and bool(tb) and ta != tb),
        float(bool(na) and bool(nb) and bool(na - nb)),
        neg_a,
        neg_b,
        float(neg_a != neg_b),
        never_a,
        never_b,
        float(never_a != never_b),
        _has(_CHANGE, new),
        _has(_CHANGE, old),
        _has(_END, new),
        _has(_ALSO, new),
        _has(_RESTATE, new),
        _has(_QUESTION, new.strip()),
        _has(_QUESTION, old.strip()),
        third_a,
        third_b,
        float(third_a != third_b),
        float(joint.sum()),
        float((joint * _SINGLE).sum()),
        float((joint * _MULTI).sum()),
        float((joint * _KEYED).sum()),
        float(joint[_OTHER_I]),
        float(p_new[_NONE_I]),
        float(p_old[_NONE_I]),
        float(int(p_new.argmax()) == int(p_old.argmax())),
        float(p_new.max()),
        float(p_old.max()),
    ]


def relate_inputs(vn: NDArray[np.float32], vo: NDArray[np.float32], cues: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows of [v_new | v_old | v_new*v_old | |v_new-v_old| | relation cues] for the relation head."""
    n = len(cues)
    vn = np.asarray(vn, dtype=np.float32).reshape(n, -1)
    vo = np.asarray(vo, dtype=np.float32).reshape(n, -1)
    return np.hstack([vn, vo, vn * vo, np.abs(vn - vo), np.asarray(cues, dtype=np.float32).reshape(n, -1)])

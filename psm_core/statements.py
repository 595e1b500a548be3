"""Reading one conversation turn: is it a statement worth a fact, and what does it say?

```
speech_act(text)        statement | question | request | social   (questions, requests to the assistant,
                                                                   greetings and acknowledgements are
                                                                   never facts)
about_self(text)        the speaker talks about themselves or their world (first person, "my X")
fact_text(text)         the turn as a statement: greetings, interjections and trailing questions removed
value_words(text)       the words that carry the value (names, numbers, content words beyond the slot's)
negated(text)           "never", "not", "no longer", "don't"
parse_correction(text)  "Saturday, not Friday" / "No, my manager is Stein, not Klein" → ("Saturday", "Friday")
cue_attribute(text)     the taxonomy attribute whose cue words the text carries (the rule fallback)
```
All rules are plain English surface cues: cheap (microseconds), deterministic, and the fallback for
what a trained skill reads better (PSM-mini's attribute and relation heads).
"""

from __future__ import annotations

import re
from typing import Literal

from psm_core.attributes import ATTRIBUTES, NONE
from psm_core.lexical import tokenize
from psm_core.skill.mini_patterns import tidy_statement

__all__ = [
    "Act",
    "about_self",
    "cue_attribute",
    "fact_text",
    "negated",
    "parse_correction",
    "speech_act",
    "value_words",
]

Act = Literal["statement", "question", "request", "social"]

_SENT = re.compile(r"[^.!?\n]+[.!?]*")
_WH = re.compile(
    r"^\s*(?:so|and|but|ok(?:ay)?|hey|hi|um+|well|btw|also|oh)?[ ,]*"
    r"(?:what|what's|whats|where|where's|when|when's|who|who's|whom|whose|why|how|how's|which|"
    r"do|does|did|is|are|was|were|am|can|could|would|should|will|shall|may|might|have|has|had|"
    r"isn't|aren't|don't|doesn't|didn't|won't|wouldn't|can't|couldn't|shouldn't|any idea|remind me|tell me)\b",
    re.I,
)
_REQUEST = re.compile(
    r"^\s*(?:hey|hi|ok(?:ay)?|so|and|also|now|pls|please)?[ ,]*(?:please[ ,]+)?"
    r"(?:can you|could you|would you|will you|pls|please|help me|give me|show me|tell me|remind me|let me know|"
    r"write|draft|make|create|generate|summari[sz]e|explain|suggest|recommend|list|translate|find|search|look up|"
    r"check|calculate|compute|compare|plan|book|set|send|rewrite|fix|edit|describe|name|i need you to|i want you to|"
    r"i'd like you to|what should i|should i|how do i|how can i|how should i|any (?:tips|ideas|suggestions|advice))\b",
    re.I,
)
_SOCIAL_WORDS = frozenset(
    """hi hey hello hiya yo good morning afternoon evening night thanks thank you thx ty cheers ok okay k kk cool nice "
    "great awesome sure yes yeah yep yup no nope nah lol haha hahaha hah hmm hmmm wow oh ah sounds got it makes sense fair "
    "enough alright all right worries bye goodbye see talk soon later too same me perfect brilliant lovely indeed exactly "
    "true fine np ttyl gn xd so much a lot again then man mate buddy there for that the help very bunch one totally agreed "
    "agree absolutely definitely of course welcome night's lmao omg aw aww ha yay that's thats it's its was is really super
    amazing helpful useful appreciate appreciated much very that this works worked will do glad happy""".split()
)


def _social(sentence: str) -> bool:
    """A sentence made of greeting, thanks and acknowledgement words only ("ok thanks!", "haha nice one")."""
    words = re.findall(r"[a-z']+", sentence.lower())
    return bool(words) and all(w in _SOCIAL_WORDS or re.fullmatch(r"(?:ha)+h?|a+w+|o+h+|lo+l", w) for w in words)


_SELF = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|i'll|my|me|mine|myself|we|we're|we've|our|ours|us)\b", re.I)
_NEG = re.compile(
    r"\b(?:never|not|no longer|don't|dont|doesn't|didn't|haven't|hasn't|isn't|aren't|wasn't|can't|cannot|won't|no)\b", re.I
)
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]+")
_NUMBER = re.compile(
    r"\d+(?:[.,:]\d+)*(?:am|pm|k|st|nd|rd|th)?|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|hundred|thousand|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|noon|midnight)\b",
    re.I,
)
_CORRECTION_CUE = re.compile(
    r"\b(?:sorry|correction|i got that wrong|got it wrong|my mistake|my bad|i meant|i mean|actually|wait|oops|"
    r"scratch that|i misspoke|typo)|^\s*(?:no|nope|nah)\b",
    re.I,
)
_X_NOT_Y = re.compile(
    r"(?:^|[\s,:;(])(?:it'?s\s+|it is\s+|is\s+|was\s+|on\s+|at\s+|in\s+)?"
    r"(?P<new>[\w'][\w' :.-]{0,40}?)\s*(?:,\s*not|\s+rather than|\s+instead of)\s+(?P<old>[\w'][\w' :.-]{0,40}?)\s*(?=[.!?,;)]|$)",
    re.I,
)
_NOT_Y_BUT_X = re.compile(
    r"\bnot\s+(?P<old>[\w'][\w' :.-]{0,40}?)\s*,?\s+but\s+(?P<new>[\w'][\w' :.-]{0,40}?)\s*(?=[.!?,;)]|$)", re.I
)
_I_MEANT = re.compile(r"\bi meant\s+(?P<new>[\w'][\w' :.-]{0,40}?)\s*(?=[.!?,;)]|$)", re.I)
_FILLER = frozenset({"it", "its", "it's", "is", "was", "the", "a", "an", "on", "at", "in", "my", "no", "sorry", "actually",
                     "oh", "wait", "correction", "i", "meant", "mean", "that", "wrong", "got"})  # fmt: skip


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if s.strip()]


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") or bool(_WH.match(sentence))


def speech_act(text: str) -> Act:
    """What the turn does. A turn with any declarative sentence about something is a ``statement``
    (it may carry a question too: "I moved to Porto. Any tips?"); otherwise it is a ``social`` turn
    (greetings, thanks, acknowledgements), a ``request`` to the assistant, or a ``question``."""
    parts = _sentences(text)
    if not parts or all(_social(p) for p in parts):
        return "social"
    words = re.findall(r"[\w']+", text)
    if len(words) <= 3 and not _SELF.search(text) and not any(ch.isdigit() for ch in text):
        return "social"  # too short to say anything about the speaker ("cheers mate", "sounds fun")
    acts: list[Act] = []
    for p in parts:
        if _social(p):
            continue
        if _declarative_self(p):
            return "statement"
        if _REQUEST.match(p):  # a request that says something about the speaker on the way is a statement too
            if _SELF_CONTENT.search(p):
                return "statement"
            acts.append("request")
        elif _is_question(p) and not _SELF_CLAUSE.search(p):
            acts.append("question")
        else:
            return "statement"
    return "request" if "request" in acts else "question" if acts else "social"


_SELF_CLAUSE = re.compile(
    r"\b(?:i'm|i am|i've|i have|i had|i was|i'll|i will|i'd|we're|we are|we've|we have|we were|my \w+ (?:is|are|was|has))\b"
    r"(?!\s*(?:\?|$))",
    re.I,
)
"""A clause stating something about the speaker inside a question ("I'm vegan, what should I cook?")."""
_SELF_CONTENT = re.compile(r"\b(?:my|our)\s+\w+|" + _SELF_CLAUSE.pattern, re.I)
"""Something about the speaker inside a request ("plan meals for my vegan diet")."""


def _declarative_self(sentence: str) -> bool:
    """A sentence that, although phrased as a request or question, states something about the speaker:
    "can you believe I got the job!", "did I tell you I moved to Porto?"."""
    low = sentence.lower()
    return bool(
        re.search(r"\b(?:i|we)\s+(?:just\s+)?(?:got|moved|started|finished|bought|adopted|have|had|am|was|'m)\b", low)
    ) and bool(re.search(r"\b(?:believe|tell you|told you|guess|know)\b", low))


def about_self(text: str) -> bool:
    """Whether the speaker talks about themselves or their world (first person or a possessive)."""
    return bool(_SELF.search(text))


def fact_text(text: str) -> str:
    """The turn as a plain statement: leading greetings and interjections and trailing social questions
    removed (never empty)."""
    return tidy_statement(text)


def negated(text: str) -> bool:
    return bool(_NEG.search(text))


def value_words(text: str) -> frozenset[str]:
    """The words of ``text`` that carry values: names (capitalized words not opening a sentence), numbers,
    days and months, and every other content word (lowercased, stemmed as BM25 does)."""
    names = {w.lower() for w in _CAPITAL.findall(text)}
    numbers = {m.group(0).lower() for m in _NUMBER.finditer(text)}
    return frozenset(names | numbers | set(tokenize(text)))


def _clean_value(value: str, n: int = 4) -> str:
    """The last ``n`` meaningful words of ``value`` (after any ``:`` or ``-``)."""
    tail = re.split(r"[:;–—]|\s-\s", value)[-1]
    words = [w for w in tail.strip(" ,.:;").split() if w.lower() not in _FILLER]
    return " ".join(words[-n:]).strip(" ,.:;")


def parse_correction(text: str) -> tuple[str, str] | None:
    """``(new value, old value)`` when ``text`` corrects a value just given ("sorry, I got that wrong: it is
    Saturday, not Friday", "No, my manager is Stein, not Klein", "I meant Tuesday"); None otherwise.
    "I meant X" gives an empty old value (the caller takes the latest statement of the session)."""
    if not _CORRECTION_CUE.search(text):
        return None
    for pattern in (_X_NOT_Y, _NOT_Y_BUT_X):
        m = pattern.search(text)
        if m:
            old = _clean_value(m.group("old"))
            new = _clean_value(m.group("new"), max(1, len(old.split())))
            if new and old and new.lower() != old.lower():
                return new, old
    m = _I_MEANT.search(text)
    if m and _clean_value(m.group("new")):
        return _clean_value(m.group("new")), ""
    return None


_CUES = [(a.name, tuple(re.compile(rf"\b{re.escape(c)}\b", re.I) for c in a.cues)) for a in ATTRIBUTES if a.cues]


def cue_attribute(text: str) -> tuple[str, float]:
    """The attribute whose cue words ``text`` carries most; ``none`` when the speaker does not talk about
    themselves or no attribute's cue words occur (the rule reads no "other"); a rough probability."""
    if not about_self(text):
        return NONE, 0.5
    best, hits = NONE, 0
    for name, cues in _CUES:
        n = sum(1 for c in cues if c.search(text))
        if n > hits:
            best, hits = name, n
    return best, min(0.9, 0.4 + 0.2 * hits) if hits else 0.5

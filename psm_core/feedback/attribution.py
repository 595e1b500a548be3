"""Attribution: which surfaced memories an answer drew on, and the outcome each gets from the user's next turn.

One rule for every adapter. Words are content words (:func:`psm_core.lexical.tokenize`: lowercased,
stop-word free, lightly stemmed).

*Used.* A memory is used by an answer when they share a word the question lacks: "Your dog is
called Pixel." to "What is my dog called?" is traced to "I adopted a beagle named Pixel" through
"pixel"; words the answer merely echoes from the question ("dog", "called") attribute nothing.

*Blamed.* A correction blames a used memory only when the memory carries what the user corrected
(:func:`blamed_memories`):

- the answer's *wrong content* is its words (those the question lacks) that the correction denies
  ("not Klein", "isn't Porto", "instead of Klein"); when it denies none, those it does not repeat
  ("No, I live in Lisbon" after "You live in Porto": "porto"); when it repeats them all ("Pixel was
  my cat, my dog is Rex"), all of them;
- the *corrected value* is the correction's words found in neither the answer nor the question,
  nor denied, nor words of correcting itself ("wrong", "actually", "sorry"...): "stein", "lisbon";
- a used memory is blamed when it contains a wrong word and no corrected-value word. A memory that
  already states the corrected value ("I moved to Lisbon" when the model said Porto) was ignored,
  not misleading: it gets no event.

The user's next turn then decides the outcomes (:func:`memory_outcomes`):

| user's next turn | memories | the retrieval as a whole |
|---|---|---|
| a correction | blamed: ``corrected``; the others: no event | ``corrected`` when no memory is blamed |
| no correction | used: ``helpful``; the others: ``neutral`` | no event |

The retrieval-level event is the caller's to log (:meth:`psm_core.feedback.FeedbackLog.log_retrieval_outcome`):
the correction says the answer went wrong, but no memory carried the error.
Only outcomes and memory ids leave this module: texts are compared in process, never logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from psm_core.errors import InvalidInputError
from psm_core.feedback.log import Outcome
from psm_core.lexical import tokenize
from psm_core.recall import ScoredMemory
from psm_core.types import MemoryRecord

__all__ = ["MemoryLike", "blamed_memories", "correction_terms", "group_by_outcome", "memory_outcomes", "used_memories"]

MemoryLike = MemoryRecord | ScoredMemory | str
"""A surfaced memory: a record, a recalled (scored) memory, or its text."""

_NEGATED = re.compile(r"\b(?:not|never|no longer|instead of|rather than|[a-z]+n't)\b([^,.;:!?]*)")
_CLAUSE_END = re.compile(r"\b(?:but|and|it's|it is|its)\b")
_CORRECTING = frozenset(
    tokenize(
        "wrong right correct correctly incorrect actually mistake mistaken sorry true false nope nah mean meant say said "
        "tell told sure exactly never longer instead rather"
    )
)


def _text(memory: MemoryLike) -> str:
    return memory if isinstance(memory, str) else memory.text


def _novel(answer: str, question: str) -> set[str]:
    return set(tokenize(answer)) - set(tokenize(question))


def _denied(user_turn: str) -> set[str]:
    """Words of the clauses ``user_turn`` negates: "Stein, not Klein" -> {"klein"}."""
    out: set[str] = set()
    for m in _NEGATED.finditer(user_turn.lower().replace("\u2019", "'")):
        out.update(tokenize(_CLAUSE_END.split(m.group(1), maxsplit=1)[0]))
    return out


def correction_terms(answer: str, question: str, user_turn: str) -> tuple[frozenset[str], frozenset[str]]:
    """``(wrong, corrected)``: the answer's words the correction rejects, and the value it gives instead.

    See the module docstring for the rule. Both are sets of content-word tokens (in process only).
    """
    novel = _novel(answer, question)
    said = set(tokenize(user_turn))
    denied = _denied(user_turn)
    wrong = (novel & denied) or (novel - said) or novel
    corrected = {w for w in said - novel - set(tokenize(question)) - denied - _CORRECTING if "'" not in w}
    return frozenset(wrong), frozenset(corrected)


def used_memories(answer: str, question: str, memories: Sequence[MemoryLike]) -> list[bool]:
    """For each memory, whether ``answer`` draws on it.

    A memory is used when it shares a content word with ``answer`` that ``question`` lacks. An
    answer with no such word (empty, or only echoing the question) uses no memory.
    """
    novel = _novel(answer, question)
    if not novel:
        return [False] * len(memories)
    return [not novel.isdisjoint(tokenize(_text(m))) for m in memories]


def blamed_memories(answer: str, question: str, user_turn: str, memories: Sequence[MemoryLike]) -> list[bool]:
    """For each memory, whether the correction ``user_turn`` of ``answer`` blames it.

    Blamed: the memory contains a word of the answer's wrong content and none of the corrected
    value (:func:`correction_terms`). A blamed memory is always a used one.
    """
    wrong, corrected = correction_terms(answer, question, user_turn)
    if not wrong:
        return [False] * len(memories)
    out = []
    for m in memories:
        words = set(tokenize(_text(m)))
        out.append(not words.isdisjoint(wrong) and words.isdisjoint(corrected))
    return out


def memory_outcomes(
    answer: str, question: str, memories: Sequence[MemoryLike], *, corrected: bool, user_turn: str = ""
) -> list[Outcome | None]:
    """The outcome of each surfaced memory once the user has taken ``answer`` (None: no event).

    ``corrected`` (the user's next turn, ``user_turn``, corrected the answer): the blamed memories
    (:func:`blamed_memories`) are ``corrected`` and the others get no event; when none is blamed
    the correction belongs to the retrieval as a whole, not to a memory (every entry None).
    Otherwise used memories are ``helpful`` and the rest ``neutral``.
    """
    if corrected:
        return [Outcome.CORRECTED if b else None for b in blamed_memories(answer, question, user_turn, memories)]
    return [Outcome.HELPFUL if u else Outcome.NEUTRAL for u in used_memories(answer, question, memories)]


def group_by_outcome(memory_ids: Sequence[str], outcomes: Sequence[Outcome | None]) -> dict[Outcome, list[str]]:
    """``{outcome: memory ids}`` in first-seen order (memories without an outcome left out), one feedback call each."""
    if len(memory_ids) != len(outcomes):
        raise InvalidInputError(f"{len(memory_ids)} memory ids but {len(outcomes)} outcomes")
    groups: dict[Outcome, list[str]] = {}
    for mid, outcome in zip(memory_ids, outcomes):
        if outcome is not None:
            groups.setdefault(outcome, []).append(mid)
    return groups

"""Attribution: which surfaced memories an answer drew on, and the outcome each gets from the user's next turn.

One rule for every adapter. A memory is *used* by an answer when they share a content word
(:func:`psm_core.lexical.tokenize`: lowercased, stop-word free, lightly stemmed) that the question
lacks: "Your dog is called Pixel." to "What is my dog called?" is traced to "I adopted a beagle
named Pixel" through "pixel"; words the answer merely echoes from the question ("dog", "called")
attribute nothing.

The user's next turn then decides the outcomes (:func:`memory_outcomes`):

| user's next turn | used memories | other surfaced memories |
|---|---|---|
| a correction | ``corrected`` | none (``corrected`` when no memory can be attributed) |
| no correction | ``helpful`` | ``neutral`` |

Only outcomes and memory ids leave this module: texts are compared in process, never logged.
"""

from __future__ import annotations

from collections.abc import Sequence

from psm_core.errors import InvalidInputError
from psm_core.feedback.log import Outcome
from psm_core.lexical import tokenize
from psm_core.recall import ScoredMemory
from psm_core.types import MemoryRecord

__all__ = ["MemoryLike", "group_by_outcome", "memory_outcomes", "used_memories"]

MemoryLike = MemoryRecord | ScoredMemory | str
"""A surfaced memory: a record, a recalled (scored) memory, or its text."""


def _text(memory: MemoryLike) -> str:
    return memory if isinstance(memory, str) else memory.text


def used_memories(answer: str, question: str, memories: Sequence[MemoryLike]) -> list[bool]:
    """For each memory, whether ``answer`` draws on it.

    A memory is used when it shares a content word with ``answer`` that ``question`` lacks. An
    answer with no such word (empty, or only echoing the question) uses no memory.
    """
    novel = set(tokenize(answer)) - set(tokenize(question))
    if not novel:
        return [False] * len(memories)
    return [not novel.isdisjoint(tokenize(_text(m))) for m in memories]


def memory_outcomes(answer: str, question: str, memories: Sequence[MemoryLike], *, corrected: bool) -> list[Outcome | None]:
    """The outcome of each surfaced memory once the user has taken ``answer`` (None: no event).

    ``corrected`` (the user's next turn corrected the answer): the used memories are ``corrected``,
    or every memory when none can be attributed (the correction still says the context misled);
    unused memories get no event. Otherwise used memories are ``helpful`` and the rest ``neutral``.
    """
    used = used_memories(answer, question, memories)
    if corrected:
        blame_all = not any(used)
        return [Outcome.CORRECTED if (u or blame_all) else None for u in used]
    return [Outcome.HELPFUL if u else Outcome.NEUTRAL for u in used]


def group_by_outcome(memory_ids: Sequence[str], outcomes: Sequence[Outcome | None]) -> dict[Outcome, list[str]]:
    """``{outcome: memory ids}`` in first-seen order (memories without an outcome left out), one feedback call each."""
    if len(memory_ids) != len(outcomes):
        raise InvalidInputError(f"{len(memory_ids)} memory ids but {len(outcomes)} outcomes")
    groups: dict[Outcome, list[str]] = {}
    for mid, outcome in zip(memory_ids, outcomes):
        if outcome is not None:
            groups.setdefault(outcome, []).append(mid)
    return groups

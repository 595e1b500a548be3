"""The vocabulary the hand-written scenario sources use (``authored_train``, ``authored_test``).

```
update(attr, old, new, old_v, new_v, probe, past)      a single-valued attribute changes (old -> new)
correction(attr, old, new, old_v, new_v, probe)        the same session corrects a statement just made
complement(attr, first, second, first_v, second_v, q)  a multi-valued attribute gains a value (not an update)
restatement(attr, statements, value, probe)            the same fact said again (identically or not)
never(attr, first, second, probe)                      two statements that cannot both hold ("never" / "did")
noise(attr, fact, value, probe, asks)                  a fact among the user's own questions about it
Pools                                                  a split's filler: greetings, acks, requests, distractors, answers, reactions
```
Each function returns a plain dict; :mod:`benchmarks.memops.build` turns them into conversations.
A value is one text fragment or several alternatives (matched case-insensitively, on word edges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Pools", "complement", "correction", "never", "noise", "restatement", "update"]

Value = str | list[str]


def _frags(v: Value) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def update(attr: str, old: str, new: str, old_v: Value, new_v: Value, probe: str, past: str | None = None) -> dict[str, Any]:
    """``old`` then, sessions later, ``new``: the current value is ``new_v``; ``past`` asks for ``old_v``."""
    return {"type": "update", "attribute": attr, "relation": "update", "old": old, "new": new,
            "old_v": _frags(old_v), "new_v": _frags(new_v), "probe": probe, "past": past}  # fmt: skip


def correction(attr: str, old: str, new: str, old_v: Value, new_v: Value, probe: str) -> dict[str, Any]:
    """``old`` then, a turn or two later in the same session, ``new`` corrects it."""
    return {"type": "correction", "attribute": attr, "relation": "update", "old": old, "new": new,
            "old_v": _frags(old_v), "new_v": _frags(new_v), "probe": probe, "past": None}  # fmt: skip


def complement(attr: str, first: str, second: str, first_v: Value, second_v: Value, probe: str) -> dict[str, Any]:
    """``first`` then ``second``: both values hold (a second pet is not a new pet instead of the first)."""
    return {"type": "complement", "attribute": attr, "relation": "complement", "old": first, "new": second,
            "old_v": _frags(first_v), "new_v": _frags(second_v), "probe": probe, "past": None}  # fmt: skip


def restatement(attr: str, statements: list[str], value: Value, probe: str) -> dict[str, Any]:
    """The same fact in two or three sessions: one memory, never returned twice."""
    return {"type": "restatement", "attribute": attr, "relation": "duplicate", "statements": list(statements),
            "new_v": _frags(value), "old_v": [], "probe": probe, "past": None}  # fmt: skip


def never(attr: str, first: str, second: str, probe: str) -> dict[str, Any]:
    """Two statements that cannot both hold without a time order: to be flagged for review."""
    return {"type": "never", "attribute": attr, "relation": "contradiction", "statements": [first, second],
            "new_v": [], "old_v": [], "probe": probe, "past": None}  # fmt: skip


def noise(attr: str, fact: str, value: Value, probe: str, asks: list[str]) -> dict[str, Any]:
    """One fact and the user's own questions and requests around it (``asks``: never memories)."""
    return {"type": "noise", "attribute": attr, "relation": "none", "new": fact, "new_v": _frags(value), "old_v": [],
            "probe": probe, "past": None, "asks": list(asks)}  # fmt: skip


@dataclass(frozen=True)
class Pools:
    """A split's filler turns. ``greetings``, ``acks`` and ``requests`` are noise (questions and requests to
    the assistant, greetings, acknowledgements); ``distractors`` are unrelated statements a memory may keep;
    ``answers`` (to a request) and ``reactions`` (to a statement) are generic assistant turns."""

    greetings: tuple[str, ...]
    acks: tuple[str, ...]
    requests: tuple[str, ...]
    distractors: tuple[str, ...]
    answers: tuple[str, ...]
    reactions: tuple[str, ...]

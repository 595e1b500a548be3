"""The memory-operation scenario suite: loading, validation and value matching.

```
Scenario          one short multi-session conversation with its expectations (see FIELDS below)
load_scenarios    the committed suite (benchmarks/memops/scenarios/{train,test}.jsonl), one split or all
validate          every structural rule of the suite; the problems found (empty when it is sound)
holds             does a text hold a value: case-insensitive fragments matched on word edges
value_of          "new", "old" or None for a text (a text holding both values counts as new)
```
Scenario fields: ``id``, ``split`` (train | test), ``type`` (update | correction | complement |
restatement | never | noise), ``attribute``, ``relation`` (update | complement | duplicate |
contradiction | none), ``turns`` (``session``, ``time`` ISO 8601, ``role``, ``text``, ``label``: old | new |
statement | noise | distractor | reply), ``old_turns``/``new_turns``/``statement_turns``/``noise_turns``
(indices into ``turns``), ``probe``, ``past_probe`` (or null), ``new_values``/``old_values`` (fragments),
``probe_time``. For a complement, "old" is the first value and "new" the second; for a restatement,
``new_values`` is the restated value; a never-scenario's two statements are its ``statement_turns``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "LABELS",
    "SCENARIO_DIR",
    "SPLITS",
    "TYPES",
    "Scenario",
    "Turn",
    "holds",
    "load_scenarios",
    "normalize",
    "validate",
    "value_of",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SPLITS = ("train", "test")
TYPES = ("update", "correction", "complement", "restatement", "never", "noise")
LABELS = ("old", "new", "statement", "noise", "distractor", "reply")
RELATIONS = {"update": "update", "correction": "update", "complement": "complement", "restatement": "duplicate",
             "never": "contradiction", "noise": "none"}  # fmt: skip


@dataclass(frozen=True)
class Turn:
    session: str
    time: datetime
    role: str
    text: str
    label: str


@dataclass(frozen=True)
class Scenario:
    id: str
    split: str
    type: str
    attribute: str
    relation: str
    turns: tuple[Turn, ...]
    old_turns: tuple[int, ...]
    new_turns: tuple[int, ...]
    statement_turns: tuple[int, ...]
    noise_turns: tuple[int, ...]
    probe: str
    past_probe: str | None
    new_values: tuple[str, ...]
    old_values: tuple[str, ...]
    probe_time: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Scenario:
        return cls(
            id=str(d["id"]), split=str(d["split"]), type=str(d["type"]), attribute=str(d["attribute"]),
            relation=str(d["relation"]),
            turns=tuple(Turn(str(t["session"]), datetime.fromisoformat(t["time"]), str(t["role"]), str(t["text"]), str(t["label"]))
                        for t in d["turns"]),
            old_turns=tuple(d.get("old_turns", ())), new_turns=tuple(d.get("new_turns", ())),
            statement_turns=tuple(d.get("statement_turns", ())), noise_turns=tuple(d.get("noise_turns", ())),
            probe=str(d["probe"]), past_probe=d.get("past_probe"),
            new_values=tuple(d.get("new_values", ())), old_values=tuple(d.get("old_values", ())),
            probe_time=datetime.fromisoformat(d["probe_time"]),
        )  # fmt: skip

    @property
    def sessions(self) -> list[list[int]]:
        """Turn indices grouped by session, in order."""
        out: list[list[int]] = []
        last: str | None = None
        for i, t in enumerate(self.turns):
            if t.session != last:
                out.append([])
                last = t.session
            out[-1].append(i)
        return out

    @property
    def key_turns(self) -> tuple[int, ...]:
        return tuple(sorted({*self.old_turns, *self.new_turns, *self.statement_turns}))


def normalize(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation (to compare statement texts)."""
    return re.sub(r"\s+", " ", text.lower()).strip(" .!?,;:")


@lru_cache(maxsize=4096)
def _pattern(fragment: str) -> re.Pattern[str]:
    frag = fragment.strip()
    head = r"(?<![0-9a-z])" if frag[:1].isalnum() else ""
    tail = r"(?![0-9a-z])" if frag[-1:].isalnum() else ""
    return re.compile(head + re.escape(frag.lower()) + tail)


def holds(text: str, fragments: Iterable[str]) -> bool:
    """Whether ``text`` holds any of ``fragments``: case-insensitive, a fragment's alphanumeric ends on word
    edges ("red" is not in "tired", "Tom" not in "tomorrow")."""
    low = text.lower()
    return any(_pattern(f).search(low) is not None for f in fragments if f.strip())


def value_of(text: str, scenario: Scenario) -> str | None:
    """``"new"`` when ``text`` holds a new value (whatever else it holds: "Saturday, not Friday" is new),
    ``"old"`` when it holds only an old one, else None."""
    if holds(text, scenario.new_values):
        return "new"
    if holds(text, scenario.old_values):
        return "old"
    return None


def load_scenarios(split: str = "all", directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """The committed scenarios of ``split`` (train, test or all), in file order."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    out: list[Scenario] = []
    for name in SPLITS:
        if split not in ("all", name):
            continue
        path = directory / f"{name}.jsonl"
        with path.open(encoding="utf-8") as f:
            out.extend(Scenario.from_json(json.loads(line)) for line in f if line.strip())
    return out


def validate(scenarios: Sequence[Scenario]) -> list[str]:
    """Structural problems of the suite (an empty list when it is sound)."""
    problems: list[str] = []
    seen: set[str] = set()
    for s in scenarios:
        where = s.id
        if s.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(s.id)
        if s.split not in SPLITS or s.type not in TYPES or RELATIONS.get(s.type) != s.relation:
            problems.append(f"{where}: bad split/type/relation {s.split}/{s.type}/{s.relation}")
        if not s.probe.strip():
            problems.append(f"{where}: no probe")
        n = len(s.turns)
        for idx in (*s.old_turns, *s.new_turns, *s.statement_turns, *s.noise_turns):
            if not 0 <= idx < n:
                problems.append(f"{where}: turn index {idx} out of range")
                return problems
        times = [t.time for t in s.turns]
        if any(b <= a for a, b in zip(times, times[1:])) or s.probe_time <= times[-1]:
            problems.append(f"{where}: times not increasing")
        if any(t.label not in LABELS for t in s.turns):
            problems.append(f"{where}: unknown label")
        for i, t in enumerate(s.turns):
            if (t.label == "old") != (i in s.old_turns) or (t.label == "new") != (i in s.new_turns):
                problems.append(f"{where}: turn {i} label {t.label} disagrees with the index lists")
            if (t.label == "noise") != (i in s.noise_turns) or (t.label == "statement") != (i in s.statement_turns):
                problems.append(f"{where}: turn {i} label {t.label} disagrees with the index lists")
            if t.label in ("noise", "distractor", "reply") and holds(t.text, (*s.new_values, *s.old_values)):
                problems.append(f"{where}: filler turn {i} holds a value: {t.text!r}")
            if t.label != "reply" and t.role != "user":
                problems.append(f"{where}: turn {i} ({t.label}) is not a user turn")
        problems.extend(f"{where}: {p}" for p in _key_rules(s))
    return problems


def _key_rules(s: Scenario) -> list[str]:
    out: list[str] = []
    text = [t.text for t in s.turns]
    if s.type in ("update", "correction", "complement"):
        if len(s.old_turns) != 1 or len(s.new_turns) != 1 or not s.old_values or not s.new_values:
            return ["needs one old and one new turn and both values"]
        old, new = text[s.old_turns[0]], text[s.new_turns[0]]
        if not holds(old, s.old_values) or holds(old, s.new_values):
            out.append(f"old statement must hold the old value only: {old!r}")
        if not holds(new, s.new_values):
            out.append(f"new statement must hold the new value: {new!r}")
        sessions = {s.turns[s.old_turns[0]].session, s.turns[s.new_turns[0]].session}
        if (len(sessions) == 1) != (s.type == "correction"):
            out.append("a correction is in the same session, an update or complement in a later one")
    elif s.type == "restatement":
        if len(s.statement_turns) < 2 or not s.new_values or not all(holds(text[i], s.new_values) for i in s.statement_turns):
            out.append("a restatement needs >= 2 statements that hold the value")
    elif s.type == "never":
        if len(s.statement_turns) != 2:
            out.append("a never-scenario needs two statements")
    elif s.type == "noise":
        if len(s.new_turns) != 1 or not holds(text[s.new_turns[0]], s.new_values) or len(s.noise_turns) < 3:
            out.append("a noise scenario needs one fact holding its value and >= 3 noise turns")
    return out

"""Facts from single statements, decided when a turn is observed (DESIGN.md "Memory operations in detail").

```
observed turn (kept by the gate, said by the user or a named speaker, a statement)
  ├─ the same text again          → not stored twice: the earlier episode is restated (strength grows)
  ├─ a correction ("Saturday, not Friday", "No, Stein, not Klein")
  │                               → the corrected fact: the latest fact holding the old value, with the new
  │                                 value; the wrong one is superseded as never true (valid_to = valid_from)
  └─ a personal statement (skill.read_attributes: an attribute of psm_core.attributes, not "none")
       compared with the speaker's facts of the same attribute or of similar meaning (skill.relate_batch):
       ├─ duplicate     → the fact gains this episode as provenance (strength grows); no new fact
       ├─ update        → a new fact; the old one superseded (valid_to = when the new value was said),
       │                  its episodes record the new one in their ledger (recall puts the new first)
       ├─ contradiction → a new fact, flagged, and a conflict for review (``mem.review_queue()``)
       └─ complement / unrelated / nothing close → a new fact
```
A fact is a semantic record with the statement as its text (as said, or in the skill's own words when it
writes them: PSM-LM), the attribute, provenance to its episode and ``ledger["origin"] = "statement"``; its id derives from its
provenance (:func:`psm_core.consolidation.plan.fact_id`), so a pass never creates it twice. Nothing is
deleted: a superseded fact keeps its text, provenance and validity interval.

:func:`plan_facts` is pure (a snapshot and the skill's readings in, the writes out); the caller applies
them under the user's lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.attributes import NONE, OTHER, family
from psm_core.index import UserIndex, normalized, speaker_line
from psm_core.ledger import MAX_UPDATED_BY, NO_LONGER, RETRACTED, SOURCE, SUPERSEDED_BY, UPDATED_BY, updated_by
from psm_core.skill.base import MemorySkill, Relation
from psm_core.statements import parse_correction
from psm_core.types import MemoryRecord, Status, Tier

__all__ = ["ASSISTANT_ROLES", "ORIGIN", "STATEMENT", "USER_ROLES", "FactWrites", "Thresholds", "fact_id_for", "plan_facts"]

ORIGIN = "origin"
STATEMENT = "statement"
RESTATED = "restated"
ASSISTANT_ROLES = frozenset({"assistant", "ai", "system", "tool", "function", "developer"})
USER_ROLES = frozenset({"user", "human"})
"""The app's user talking to an assistant (named speakers talk to each other)."""
_MAX_RESTATED = 16


@dataclass(frozen=True)
class Thresholds:
    """Probabilities above which the skill's reading of a pair is acted on, and how near a fact must be."""

    duplicate: float = 0.5
    update: float = 0.5
    contradiction: float = 0.6
    near_cosine: float = 0.45
    candidates: int = 8
    restate_gain: float = 0.2


@dataclass
class FactWrites:
    """What observing a batch of turns changes beyond storing its episodes."""

    facts: list[tuple[MemoryRecord, NDArray[np.float32]]] = field(default_factory=list)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # existing record id -> fields to set
    conflicts: list[tuple[str, str, float]] = field(default_factory=list)  # (new id, old id, probability)
    restated: dict[int, str] = field(default_factory=dict)  # row of the batch -> the stored episode it repeats


def fact_id_for(user_key: str, provenance: Sequence[str]) -> str:
    """The id of the fact with ``provenance`` (the same as a consolidation pass gives it)."""
    digest = hashlib.sha256(f"{user_key}|{','.join(sorted(set(provenance)))}".encode()).hexdigest()
    return "f" + digest[:31]


class _View:
    """The user's records as this batch changes them (pending changes applied on read)."""

    def __init__(self, idx: UserIndex, writes: FactWrites) -> None:
        self.idx = idx
        self.w = writes
        self.new: dict[str, MemoryRecord] = {}
        self.vectors: dict[str, NDArray[np.float32]] = {}

    def get(self, rid: str) -> MemoryRecord | None:
        rec = self.new.get(rid) or self.idx.records.get(rid)
        if rec is None:
            return None
        change = self.w.changes.get(rid)
        return rec.model_copy(update=change) if change else rec

    def change(self, rid: str, **fields: Any) -> None:
        if rid in self.new:
            self.new[rid] = self.new[rid].model_copy(update=fields)
        else:
            self.w.changes.setdefault(rid, {}).update(fields)

    def add(self, rec: MemoryRecord, vec: NDArray[np.float32]) -> None:
        self.new[rec.id] = rec
        self.vectors[rec.id] = vec

    def finish(self) -> FactWrites:
        """The writes, with the planned facts as this batch left them (a later turn may supersede one)."""
        self.w.facts = [(rec, self.vectors[rid]) for rid, rec in self.new.items()]
        return self.w

    def facts(self, role: str, attribute: str | None) -> list[MemoryRecord]:
        """The speaker's live facts of ``attribute`` (stored and planned in this batch)."""
        ids = set(self.idx.by_attribute.get((role, attribute), ())) if attribute else set()
        ids |= {i for i, r in self.new.items() if r.role == role and r.attribute == attribute}
        return [r for r in map(self.get, sorted(ids)) if r is not None and r.status is not Status.SUPERSEDED]


def _statement_fact(user_key: str, ep: MemoryRecord, text: str, attribute: str, provenance: list[str]) -> MemoryRecord:
    return MemoryRecord(
        id=fact_id_for(user_key, provenance), user_id=ep.user_id, tier=Tier.SEMANTIC, text=text, kind=ep.kind,
        role=ep.role, session_id=ep.session_id, created_at=ep.created_at, observed_at=ep.observed_at,
        valid_from=ep.observed_at, strength=ep.strength, decay_rate=ep.decay_rate, importance=ep.importance,
        emotional_weight=ep.emotional_weight, confidence=ep.confidence, provenance=provenance, attribute=attribute,
        metadata=dict(ep.metadata), ledger={ORIGIN: STATEMENT, SOURCE: ep.id},
    )  # fmt: skip


def _link_later(view: _View, old: MemoryRecord, later: Sequence[str], until: datetime | None = None) -> None:
    """Record in the ledger of ``old``'s episodes (and ``old`` itself) that ``later`` records update them
    (recall puts those first) and, given ``until``, that what the episodes said no longer holds from then."""
    for rid in [*old.provenance, old.id]:
        rec = view.get(rid)
        if rec is None:
            continue
        led = dict(rec.ledger)
        merged = sorted(set(updated_by(rec)) | set(later))
        led[UPDATED_BY] = merged[-MAX_UPDATED_BY:]
        if until is not None and rec.tier is not Tier.SEMANTIC and rid not in later:
            led[NO_LONGER] = until.isoformat()
        if led != rec.ledger:
            view.change(rid, ledger=led)


def _supersede(view: _View, old: MemoryRecord, new: MemoryRecord, *, retracted: bool = False) -> None:
    start = old.valid_from or old.observed_at
    end = start if retracted else max(start, new.valid_from or new.observed_at)
    led = {**old.ledger, SUPERSEDED_BY: new.id, **({RETRACTED: True} if retracted else {})}
    view.change(old.id, status=Status.SUPERSEDED, valid_to=end, ledger=led)
    later = [*[p for p in new.provenance if p not in old.provenance], new.id]
    _link_later(view, old, later, None if retracted else end)


_MAX_WORDS = 40
"""Statements longer than this (a request with its whole context, several topics at once) are outside what the
skill's relation reading was trained on: they form facts and merge duplicates, but supersede or flag nothing."""


def _short(text: str) -> bool:
    return len(text.split()) <= _MAX_WORDS


def _strengthen(rec: MemoryRecord, gain: float) -> float:
    return float(min(1.0, 1.0 - (1.0 - rec.strength) * (1.0 - gain)))


def _holding(value: str, text: str) -> bool:
    return bool(value) and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.I) is not None


def _correct(view: _View, user_key: str, ep: MemoryRecord, vec: NDArray[np.float32], new: str, old: str) -> bool:
    """Apply a correction of the latest statement holding ``old`` (of this session first); False when none."""
    pool = [r for r in (view.get(i) for i in list(view.idx.records) + list(view.new)) if r is not None]
    mine = [r for r in pool if r.role == ep.role and r.id != ep.id and r.status is not Status.SUPERSEDED
            and r.tier in (Tier.SEMANTIC, Tier.EPISODIC)]  # fmt: skip
    hits = [r for r in mine if _holding(old, r.text)] if old else [r for r in mine if r.session_id == ep.session_id]
    if not hits:
        return False
    target = max(hits, key=lambda r: (r.session_id == ep.session_id, r.tier is Tier.SEMANTIC, r.observed_at, r.id))
    text = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, target.text, flags=re.I) if old else f"{target.text} ({new})"
    if target.tier is Tier.EPISODIC:
        covering = [f for f in view.idx.facts_covering(target.id) if f.status is not Status.SUPERSEDED]
        target = covering[0] if covering else target
    prov = sorted(set(target.provenance if target.tier is Tier.SEMANTIC else [target.id]) | {ep.id})
    fact = _statement_fact(user_key, ep, text, target.attribute or OTHER, prov)
    fact = fact.model_copy(update={"valid_from": target.valid_from or target.observed_at})
    view.add(fact, vec)
    if target.tier is Tier.SEMANTIC:
        _supersede(view, target, fact, retracted=True)
    else:
        _link_later(view, target.model_copy(update={"provenance": []}), [ep.id, fact.id])
    return True


def plan_facts(
    *,
    user_key: str,
    skill: MemorySkill,
    idx: UserIndex,
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    thresholds: Thresholds = Thresholds(),
) -> FactWrites:
    """The facts, merges, supersessions and conflicts that observing ``episodes`` (stored by the gate, in
    time order, row-aligned with their retrieval ``vectors``) brings to the user's store ``idx``."""
    w = FactWrites()
    view = _View(idx, w)
    rows = [i for i, e in enumerate(episodes) if e.role.lower() not in ASSISTANT_ROLES]
    if not rows:
        return w
    seen: dict[tuple[str, str], str] = {}  # this batch's own turns (the stored ones are in idx.said)
    # the statement as said, with its speaker: the embedder has it cached from storing the turn
    texts = [speaker_line(episodes[i].role, episodes[i].text) for i in rows]
    readings = skill.read_attributes(texts)
    for i, reading in zip(rows, readings):
        ep, vec = episodes[i], vectors[i]
        key = (ep.role, normalized(ep.text))
        again = seen.get(key) or idx.said.get(key)
        if again is not None:  # the same words again: stored once, restated
            w.restated[i] = again
            old = view.get(again)
            if old is not None:
                times = [*old.ledger.get(RESTATED, []), ep.observed_at.isoformat()][-_MAX_RESTATED:]
                view.change(old.id, strength=_strengthen(old, thresholds.restate_gain), ledger={**old.ledger, RESTATED: times})
            continue
        seen[key] = ep.id
        correction = parse_correction(ep.text)
        if correction is not None and _correct(view, user_key, ep, vec, *correction):
            continue
        if reading.attribute == NONE:
            continue
        fact = _statement_fact(user_key, ep, reading.fact or ep.text, reading.attribute, [ep.id])
        if fact.id in idx.records:
            continue
        cands = _candidates(view, fact, vec, thresholds)
        pairs = [(speaker_line(fact.role, fact.text), speaker_line(c.role, c.text)) for c in cands]
        rels = skill.relate_batch(pairs) if cands else []
        dup = next(
            (c for c, r in zip(cands, rels) if r.relation is Relation.DUPLICATE and r.probability >= thresholds.duplicate), None
        )
        if dup is not None:
            view.change(dup.id, provenance=sorted(set(dup.provenance) | {ep.id}), strength=_strengthen(dup, thresholds.restate_gain),
                        confidence=max(dup.confidence, ep.confidence))  # fmt: skip
            continue
        # only short statements replace or contradict one another (see _MAX_WORDS)
        judged = _short(fact.text)
        updated = [c for c, r in zip(cands, rels) if r.relation is Relation.UPDATE and r.probability >= thresholds.update
                   and judged and _short(c.text)]  # fmt: skip
        clash = [(c, r.probability) for c, r in zip(cands, rels) if r.relation is Relation.CONTRADICTION
                 and r.probability >= thresholds.contradiction and judged and _short(c.text)]  # fmt: skip
        if clash and not updated:
            fact = fact.model_copy(update={"status": Status.FLAGGED})
            w.conflicts.extend((fact.id, c.id, p) for c, p in clash)
        view.add(fact, vec)
        for old in updated:
            _supersede(view, old, fact)
    return view.finish()


def _candidates(view: _View, fact: MemoryRecord, vec: NDArray[np.float32], t: Thresholds) -> list[MemoryRecord]:
    """The speaker's live facts a new fact may relate to: of the same attribute, or near in meaning."""
    out: dict[str, MemoryRecord] = {}
    if fact.attribute and fact.attribute != OTHER:
        for name in family(fact.attribute):
            for r in view.facts(fact.role, name):  # however few words they share ("flat in Leeds" / "new place in Bristol")
                out[r.id] = r
    for rid, sim in view.idx.nearest(vec, [Tier.EPISODIC], 4 * t.candidates):  # facts are found through their episodes
        if sim < t.near_cosine:
            continue
        for near in view.idx.facts_covering(rid):
            near = view.get(near.id) or near
            if near.role == fact.role and near.status is not Status.SUPERSEDED and near.ledger.get(ORIGIN) == STATEMENT:
                out.setdefault(near.id, near)
    for planned in view.new.values():
        if planned.role == fact.role and planned.status is not Status.SUPERSEDED and planned.id not in out:
            if float(np.dot(vec, _vec_of(view, planned))) >= t.near_cosine:
                out[planned.id] = planned
    ranked = sorted(out.values(), key=lambda r: -float(np.dot(vec, _vec_of(view, r))))
    return ranked[: t.candidates]


def _vec_of(view: _View, rec: MemoryRecord) -> NDArray[np.float32]:
    vec = view.vectors.get(rec.id)
    return vec if vec is not None else view.idx.vector(rec.id)

"""Planning a pass: episodes → patterns → semantic facts, merges, supersessions and conflicts.

The plan is a pure function of a snapshot of the user's store and the skill's decisions. It is
journaled before anything is written, so a pass killed at any point resumes the same plan.
Fact ids derive from their provenance (:func:`fact_id`), so a fact is never created twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.consolidation.guards import may_conflict, plain_statement, validate_patterns
from psm_core.consolidation.links import Link, changed_value, find_update_links, ledger_links
from psm_core.errors import SkillError
from psm_core.skill.base import Interference, MemorySkill, Pattern, Relation
from psm_core.types import Kind, MemoryRecord, Status

__all__ = [
    "ChangeSpec",
    "ConflictSpec",
    "FactSpec",
    "MergeSpec",
    "PassPlan",
    "conflict_id",
    "fact_id",
    "history_id",
    "plan_pass",
]

logger = logging.getLogger(__name__)


def fact_id(user_key: str, provenance: Sequence[str]) -> str:
    """The deterministic id of the semantic fact distilled from the episodes ``provenance``."""
    digest = hashlib.sha256(f"{user_key}|{','.join(sorted(set(provenance)))}".encode()).hexdigest()
    return "f" + digest[:31]


def history_id(user_key: str, episode_id: str, sentence: str) -> str:
    """The deterministic id of the superseded fact that keeps one sentence of an episode as history."""
    digest = hashlib.sha256(f"{user_key}|history|{episode_id}|{sentence}".encode()).hexdigest()
    return "h" + digest[:31]


def conflict_id(new_id: str, old_id: str) -> str:
    """The deterministic id of the conflict between two facts."""
    return "c" + hashlib.sha256(f"{new_id}|{old_id}".encode()).hexdigest()[:31]


class FactSpec(BaseModel):
    """A semantic fact to create, with the status it ends the pass in."""

    id: str
    text: str
    role: str = "user"
    context: str | None = None
    kind: Kind
    confidence: float
    importance: float
    emotional_weight: float
    provenance: list[str]
    source_id: str
    observed_at: datetime
    valid_from: datetime
    status: Status = Status.ACTIVE
    valid_to: datetime | None = None
    superseded_by: str | None = None  # history: an earlier sentence a later episode (this id) updated


class MergeSpec(BaseModel):
    """Episodes a duplicate pattern adds to an existing fact's provenance."""

    fact_id: str
    episode_ids: list[str]
    confidence: float


class ChangeSpec(BaseModel):
    """A status change of an existing fact (superseded with its validity end, or flagged)."""

    record_id: str
    status: Status
    valid_to: datetime | None = None


class ConflictSpec(BaseModel):
    """A contradiction between two facts, flagged for review."""

    conflict_id: str
    new_id: str
    old_id: str
    relation: Literal["contradiction", "update"]
    probability: float


class PassPlan(BaseModel):
    """Everything a pass decided from its snapshot; journaled, then applied idempotently."""

    pass_id: str
    created_at: datetime
    now: datetime
    skill: str
    episodes: int
    new_ids: list[str] = Field(default_factory=list)
    patterns: int = 0
    reshaped: int = 0
    facts: list[FactSpec] = Field(default_factory=list)
    merges: list[MergeSpec] = Field(default_factory=list)
    changes: list[ChangeSpec] = Field(default_factory=list)
    conflicts: list[ConflictSpec] = Field(default_factory=list)
    updated_by: dict[str, list[str]] = Field(default_factory=dict)  # earlier episode id -> later ids updating it


def _patterns(
    skill: MemorySkill, episodes: Sequence[MemoryRecord], vectors: NDArray[np.float32], max_batch: int
) -> list[Pattern]:
    out: list[Pattern] = []
    for start in range(0, len(episodes), max_batch):
        chunk = episodes[start : start + max_batch]
        ids = {e.id for e in chunk}
        for p in skill.extract_patterns(chunk, vectors[start : start + max_batch]):
            unknown = set(p.episode_ids) - ids
            if unknown:
                raise SkillError(f"skill {skill.name!r} returned a pattern citing unknown episodes {sorted(unknown)[:3]}")
            out.append(p)
    return out


def _statements(
    patterns: Sequence[Pattern],
    by_id: dict[str, int],
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    embed: Callable[[list[str]], NDArray[np.float32]],
) -> tuple[list[Pattern], NDArray[np.float32]]:
    """Patterns stated without a speaker prefix (the fact keeps its speaker as its role), and the
    statement vector of each (a member's vector when a member says exactly that)."""
    out: list[Pattern] = []
    rows: list[int | None] = []
    for p in patterns:
        members = [by_id[i] for i in p.episode_ids]
        text = p.text
        for m in members:
            text = plain_statement(text, episodes[m].role)
            if text != p.text:
                break
        out.append(p if text == p.text else p.model_copy(update={"text": text}))
        rows.append(next((m for m in members if episodes[m].text == text), None))
    missing = [k for k, r in enumerate(rows) if r is None]
    fresh = embed([out[k].text for k in missing]) if missing else np.zeros((0, vectors.shape[1]), np.float32)
    anchors = np.zeros((len(out), vectors.shape[1]), np.float32)
    for k, r in enumerate(rows):
        if r is not None:
            anchors[k] = vectors[r]
    for n, k in enumerate(missing):
        anchors[k] = fresh[n]
    return out, anchors


def _split_in_time(
    skill: MemorySkill,
    patterns: Sequence[tuple[Pattern, int]],
    by_id: dict[str, int],
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    cfg: ConsolidationConfig,
) -> list[tuple[Pattern, int]]:
    """(pattern, source episode index) pairs. A pattern whose members update or contradict its
    statement is split in two: the members that agree, and those that changed (stated by the newest)."""
    sources = [src for _, src in patterns]
    checks = [(k, m) for k, (p, _) in enumerate(patterns) for m in (by_id[i] for i in p.episode_ids) if m != sources[k]]
    rels = skill.interfere_batch(
        [(episodes[m].text, episodes[sources[k]].text) for k, m in checks],
        [float(vectors[m] @ vectors[sources[k]]) for k, m in checks],
    )
    changed: dict[int, list[int]] = {}
    for (k, m), rel in zip(checks, rels):
        if rel.relation in (Relation.UPDATE, Relation.CONTRADICTION) and rel.probability >= cfg.split_threshold:
            changed.setdefault(k, []).append(m)
    out: list[tuple[Pattern, int]] = []
    for k, (p, src) in enumerate(patterns):
        moved = {episodes[m].id for m in changed.get(k, [])}
        if not moved:
            out.append((p, src))
            continue
        latest = max(changed[k], key=lambda m: (episodes[m].observed_at, episodes[m].id))
        out.append((p.model_copy(update={"episode_ids": [i for i in p.episode_ids if i not in moved]}), src))
        out.append((Pattern(text=episodes[latest].text, kind=episodes[latest].kind, confidence=p.confidence,
                            episode_ids=sorted(moved)), latest))  # fmt: skip
    return out


def _spec(user_key: str, p: Pattern, source: MemoryRecord, members: Sequence[MemoryRecord]) -> FactSpec:
    times = [m.observed_at for m in members]
    return FactSpec(
        id=fact_id(user_key, p.episode_ids),
        text=p.text,
        role=source.role,
        context=source.context if p.text == source.text else None,
        kind=p.kind,
        confidence=p.confidence,
        importance=max(m.importance for m in members),
        emotional_weight=max(m.emotional_weight for m in members),
        provenance=sorted(set(p.episode_ids)),
        source_id=source.id,
        observed_at=max(times),
        valid_from=min(times),
    )


def plan_pass(
    *,
    pass_id: str,
    created_at: datetime,
    now: datetime,
    user_key: str,
    skill: MemorySkill,
    cfg: ConsolidationConfig,
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    new_ids: Sequence[str],
    facts: Sequence[MemoryRecord],
    fact_vectors: NDArray[np.float32],
    known_ids: set[str],
    embed: Callable[[list[str]], NDArray[np.float32]],
    embed_sentences: Callable[[list[str]], NDArray[np.float32]] | None = None,
) -> PassPlan:
    """Decide a pass from a snapshot: ``episodes`` (time-ordered, row-aligned with ``vectors``),
    the user's active/flagged semantic ``facts`` and every stored id (``known_ids``).

    Vectors are embeddings of the statements (``embed`` of plain texts), not the stored retrieval
    vectors, which also carry speaker and preceding turn and make a conversation's turns alike.
    ``embed_sentences`` (default ``embed``) embeds the sentences update links compare."""
    plan = PassPlan(pass_id=pass_id, created_at=created_at, now=now, skill=skill.name, episodes=len(episodes),
                    new_ids=list(new_ids))  # fmt: skip
    if not episodes or not new_ids:
        return plan
    by_id = {e.id: i for i, e in enumerate(episodes)}
    links = find_update_links(skill, cfg, episodes, set(new_ids), embed_sentences or embed)
    plan.updated_by = ledger_links(episodes, links)
    history = _history(user_key, cfg, episodes, links, known_ids)
    found = _patterns(skill, episodes, vectors, cfg.max_batch)
    plan.patterns = len(found)
    kept, anchors = _statements([p for p in found if p.confidence >= cfg.min_confidence], by_id, episodes, vectors, embed)
    cohesive, plan.reshaped = validate_patterns(kept, by_id, episodes, vectors, anchors, cfg)
    specs: dict[str, FactSpec] = {}
    for p, src in _split_in_time(skill, cohesive, by_id, episodes, vectors, cfg):
        spec = _spec(user_key, p, episodes[src], [episodes[by_id[i]] for i in p.episode_ids])
        if spec.id not in known_ids and spec.id not in specs:
            specs[spec.id] = spec
    cands = sorted(specs.values(), key=lambda s: (s.observed_at, s.id))
    dim = vectors.shape[1]
    cvecs = embed([s.text for s in cands]) if cands else np.zeros((0, dim), np.float32)
    merges: dict[str, MergeSpec] = {}
    lone, lone_vecs = _lone_episodes(user_key, skill, cfg, episodes, vectors, set(new_ids), cands, cvecs, facts,
                                     fact_vectors, known_ids, merges)  # fmt: skip
    if lone:
        allspecs = [*cands, *lone]
        allvecs = np.concatenate([cvecs, lone_vecs])
        order = sorted(range(len(allspecs)), key=lambda k: (allspecs[k].observed_at, allspecs[k].id))
        cands, cvecs = [allspecs[k] for k in order], allvecs[order]
    if cands or merges:
        _interfere(plan, skill, cfg, cands, cvecs, facts, fact_vectors, merges)
    planned = {f.id for f in plan.facts}
    covered = {i for f in plan.facts for i in f.provenance} | {i for f in facts for i in f.provenance}
    plan.facts.extend(h for h in history if h.id not in planned and h.provenance[0] not in covered)
    return plan


def _history(
    user_key: str, cfg: ConsolidationConfig, episodes: Sequence[MemoryRecord], links: Sequence[Link], known_ids: set[str]
) -> list[FactSpec]:
    """Superseded facts keeping, as history with its validity interval, each earlier sentence of a link
    whose later sentence states a different quantity ("17 postcards" → "25 postcards",
    :func:`psm_core.consolidation.links.changed_value`). The earliest such later episode ends it.
    PSM-mini's update/contradiction verdict alone was wrong on most real sentence pairs ("We can make
    a difference" → "Let's continue making a difference"), so it is not enough to end a statement. The
    episodes themselves stay as they are; these facts are left out of recall unless it asks for
    superseded memories, and they cover nothing (pruning ignores them). An episode a distilled fact
    already covers gets none: that fact carries its history."""
    ends: dict[str, tuple[Link, MemoryRecord, MemoryRecord]] = {}
    for lk in links:
        if not changed_value(lk.later_sentence, lk.earlier_sentence):
            continue
        old, new = episodes[lk.earlier], episodes[lk.later]
        hid = history_id(user_key, old.id, lk.earlier_sentence)
        if hid in known_ids:
            continue
        if hid not in ends or (new.observed_at, new.id) < (ends[hid][2].observed_at, ends[hid][2].id):
            ends[hid] = (lk, old, new)
    out: list[FactSpec] = []
    for hid, (lk, old, new) in sorted(ends.items()):
        start = old.valid_from or old.observed_at
        out.append(
            FactSpec(
                id=hid,
                text=lk.earlier_sentence,
                role=old.role,
                kind=old.kind,
                confidence=old.confidence,
                importance=old.importance,
                emotional_weight=old.emotional_weight,
                provenance=[old.id],
                source_id=old.id,
                observed_at=old.observed_at,
                valid_from=start,
                status=Status.SUPERSEDED,
                valid_to=max(start, new.observed_at),
                superseded_by=new.id,
            )
        )
    return out


def _lone_episodes(
    user_key: str,
    skill: MemorySkill,
    cfg: ConsolidationConfig,
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    new_ids: set[str],
    cands: Sequence[FactSpec],
    cvecs: NDArray[np.float32],
    facts: Sequence[MemoryRecord],
    fact_vectors: NDArray[np.float32],
    known_ids: set[str],
    merges: dict[str, MergeSpec],
) -> tuple[list[FactSpec], NDArray[np.float32]]:
    """New episodes in no pattern, compared with the facts. A duplicate of a fact joins its
    provenance (in ``merges``); one that updates or contradicts a fact becomes a fact of its own,
    which the interference step then weighs against the old one. Returns those facts and vectors."""
    covered = {i for s in cands for i in s.provenance} | {i for f in facts for i in f.provenance}
    rows = [k for k, e in enumerate(episodes) if e.id in new_ids and e.id not in covered]
    pool: list[FactSpec | MemoryRecord] = [*facts, *cands]
    empty = np.zeros((0, vectors.shape[1]), np.float32)
    if not rows or not pool:
        return [], empty
    sims = vectors[rows] @ np.concatenate([fact_vectors, cvecs]).T
    meta: list[tuple[int, int, float]] = []
    for a, k in enumerate(rows):
        for j in np.argsort(-sims[a], kind="stable")[: cfg.conflict_candidates]:
            if sims[a, j] >= cfg.conflict_min_similarity:
                meta.append((k, int(j), float(sims[a, j])))
    rels = skill.interfere_batch([(episodes[k].text, pool[j].text) for k, j, _ in meta], [s for _, _, s in meta])
    decided: dict[int, tuple[Relation, int]] = {}
    for (k, j, sim), rel in zip(meta, rels):
        if k in decided:
            continue
        if _is_duplicate(rel, sim, len(pool[j].provenance) + 1, cfg):
            decided[k] = (rel.relation, j)
        elif _is_conflict(rel, cfg) and may_conflict(*_in_time(episodes[k], pool[j]), sim, cfg):
            decided[k] = (rel.relation, j)
    out: list[FactSpec] = []
    out_rows: list[int] = []
    for k, (relation, j) in sorted(decided.items()):
        e, target = episodes[k], pool[j]
        if relation is Relation.DUPLICATE:
            if isinstance(target, FactSpec):
                target.provenance = sorted(set(target.provenance) | {e.id})
            else:
                m = merges.setdefault(target.id, MergeSpec(fact_id=target.id, episode_ids=[], confidence=target.confidence))
                m.episode_ids = sorted(set(m.episode_ids) | {e.id})
        elif e.confidence >= cfg.min_confidence:
            spec = _spec(user_key, Pattern(text=e.text, kind=e.kind, confidence=e.confidence, episode_ids=[e.id]), e, [e])
            if spec.id not in known_ids:
                out.append(spec)
                out_rows.append(k)
    return out, (vectors[out_rows] if out_rows else empty)


def _is_duplicate(rel: Interference, similarity: float, cover: int, cfg: ConsolidationConfig) -> bool:
    """A duplicate the guards accept: close enough to join the fact, which stays within ``max_cover``."""
    return (
        rel.relation is Relation.DUPLICATE
        and rel.probability >= cfg.duplicate_threshold
        and similarity >= cfg.pattern_cohesion
        and cover <= cfg.max_cover
    )


def _show(item: FactSpec | MemoryRecord) -> str:
    return f"[{item.role}/{item.kind.value}] {item.text[:80]}"


def _in_time(a: FactSpec | MemoryRecord, b: FactSpec | MemoryRecord) -> tuple[FactSpec | MemoryRecord, FactSpec | MemoryRecord]:
    """The older and the newer of two statements."""
    return (b, a) if (a.observed_at, a.id) > (b.observed_at, b.id) else (a, b)


def _is_conflict(rel: Interference, cfg: ConsolidationConfig) -> bool:
    return (rel.relation is Relation.UPDATE and rel.probability >= cfg.update_threshold) or (
        rel.relation is Relation.CONTRADICTION and rel.probability >= cfg.contradiction_threshold
    )


class _Pool:
    """Active facts a new fact is compared with: existing ones and those accepted in this plan."""

    def __init__(self, facts: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> None:
        self.items: list[FactSpec | MemoryRecord] = list(facts)
        self.vectors: list[NDArray[np.float32]] = list(vectors)

    def add(self, item: FactSpec | MemoryRecord, vector: NDArray[np.float32]) -> None:
        self.items.append(item)
        self.vectors.append(vector)

    def remove(self, item_id: str) -> None:
        keep = [k for k, it in enumerate(self.items) if it.id != item_id]
        self.items = [self.items[k] for k in keep]
        self.vectors = [self.vectors[k] for k in keep]


def _interfere(
    plan: PassPlan,
    skill: MemorySkill,
    cfg: ConsolidationConfig,
    cands: Sequence[FactSpec],
    cvecs: NDArray[np.float32],
    facts: Sequence[MemoryRecord],
    fact_vectors: NDArray[np.float32],
    merges: dict[str, MergeSpec],
) -> None:
    pool = _Pool(facts, fact_vectors)
    changes: dict[str, ChangeSpec] = {}
    conflicts: dict[str, ConflictSpec] = {}
    accepted: list[FactSpec] = []
    for spec, vec in zip(cands, cvecs):
        if any(set(spec.provenance) <= set(it.provenance) for it in pool.items):
            continue
        near: list[tuple[float, FactSpec | MemoryRecord]] = []
        if pool.items:
            sims = np.stack(pool.vectors) @ vec
            order = np.argsort(-sims, kind="stable")[: cfg.conflict_candidates]
            near = [(float(sims[k]), pool.items[k]) for k in order if sims[k] >= cfg.conflict_min_similarity]
        rels = skill.interfere_batch([(spec.text, it.text) for _, it in near], [s for s, _ in near]) if near else []
        dup = next((it for (sim, it), r in zip(near, rels)
                    if _is_duplicate(r, sim, len(set(it.provenance) | set(spec.provenance)), cfg)), None)  # fmt: skip
        if dup is not None:
            if isinstance(dup, FactSpec):
                dup.provenance = sorted(set(dup.provenance) | set(spec.provenance))
                dup.confidence = max(dup.confidence, spec.confidence)
            else:
                m = merges.setdefault(dup.id, MergeSpec(fact_id=dup.id, episode_ids=[], confidence=dup.confidence))
                m.episode_ids = sorted(set(m.episode_ids) | set(spec.provenance))
                m.confidence = max(m.confidence, spec.confidence)
            continue
        for (sim, other), rel in zip(near, rels):
            newer_is_spec = (spec.observed_at, spec.id) > (other.observed_at, other.id)
            if not may_conflict(*_in_time(spec, other), sim, cfg):
                continue
            if rel.relation is Relation.UPDATE and rel.probability >= cfg.update_threshold:
                old = other if newer_is_spec else spec
                newer = spec if newer_is_spec else other
                new_from = newer.valid_from or newer.observed_at
                until = max(old.valid_from or new_from, new_from)
                logger.debug("update p=%.2f cos=%.2f: %r supersedes %r", rel.probability, sim, _show(newer), _show(old))
                if old is spec:
                    spec.status, spec.valid_to = Status.SUPERSEDED, until
                elif isinstance(old, FactSpec):
                    old.status, old.valid_to = Status.SUPERSEDED, until
                    pool.remove(old.id)
                else:
                    changes[old.id] = ChangeSpec(record_id=old.id, status=Status.SUPERSEDED, valid_to=until)
                    pool.remove(old.id)
            elif rel.relation is Relation.CONTRADICTION and rel.probability >= cfg.contradiction_threshold:
                new, old = (spec, other) if newer_is_spec else (other, spec)
                logger.debug("contradiction p=%.2f cos=%.2f: %r flagged against %r", rel.probability, sim, _show(new), _show(old))
                if isinstance(new, FactSpec):
                    new.status = Status.FLAGGED
                else:
                    changes[new.id] = ChangeSpec(record_id=new.id, status=Status.FLAGGED)
                cid = conflict_id(new.id, old.id)
                conflicts[cid] = ConflictSpec(conflict_id=cid, new_id=new.id, old_id=old.id, relation="contradiction",
                                              probability=rel.probability)  # fmt: skip
            if spec.status is Status.SUPERSEDED:
                break
        accepted.append(spec)
        if spec.status is not Status.SUPERSEDED:
            pool.add(spec, vec)
    plan.facts = accepted
    plan.merges = list(merges.values())
    plan.changes = list(changes.values())
    plan.conflicts = list(conflicts.values())

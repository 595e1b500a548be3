"""One sleep-time pass over one user's store (the loop in DESIGN.md), safe to kill at any point.

```
snapshot   unseen episodic records (+ recent seen ones as context), active facts, user time
plan       extract_patterns → facts above the confidence threshold → interference with facts
           (duplicate: merge; update: supersede the older; contradiction: flag) → journal
facts      create the planned facts (ids from provenance) and merge provenance into duplicates
conflicts  supersede / flag existing facts; record conflicts for review
decay      decay rate of every record from the skill's schedule, applying from the pass's time on
reinforce  strength from recalls since the last pass and from feedback outcomes (exactly once)
prune      move episodes covered by semantic facts to the archival tier (superseded along with the
           facts covering them); mark new episodes seen
sentences  vectors of the first-person sentences of every episode that has none yet (the statements
           the update links compare, embedded once): recall weighs a turn by its best sentence too
done       drop the journal, record the pass
```
A rerun after a crash resumes the journaled plan; every write converges records to a target
(no-op when already there) and ledger entries (``MemoryRecord.ledger``, :mod:`psm_core.ledger`) make
increments exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.consolidation.db import StateDB
from psm_core.consolidation.links import statements_about_speaker
from psm_core.consolidation.plan import FactSpec, PassPlan, plan_pass
from psm_core.consolidation.review import ReviewLog
from psm_core.consolidation.vectors import TextVectors
from psm_core.consolidation.writes import Hook, RecordWriter
from psm_core.facts import ORIGIN, STATEMENT
from psm_core.index import record_vectors
from psm_core.ledger import (
    FEEDBACK,
    MAX_UPDATED_BY,
    PASS,
    RECALLS,
    SEEN,
    SOURCE,
    SUPERSEDED_BY,
    UPDATED_BY,
    ledger,
    ledger_int,
    updated_by,
)
from psm_core.types import MemoryRecord, Status, Tier, utcnow

if TYPE_CHECKING:
    from psm_core.memory import UserMemory

__all__ = ["STEPS", "ConsolidationPass", "PassReport", "rerate"]

logger = logging.getLogger(__name__)

_SENTENCE_BATCH = 2048  # episodes whose sentence vectors are embedded and written at once

STEPS = ("snapshot", "plan", "facts", "conflicts", "decay", "reinforce", "prune", "sentences", "done")


class PassReport(BaseModel):
    """What one pass changed for one user."""

    user_id: str
    pass_id: str
    skill: str
    now: datetime
    resumed: bool = False
    aborted: bool = False
    episodes: int = 0
    new_episodes: int = 0
    patterns: int = 0
    facts_created: int = 0
    facts_merged: int = 0
    superseded: int = 0
    flagged: int = 0
    conflicts: int = 0
    decay_updated: int = 0
    reinforced: int = 0
    feedback_applied: int = 0
    archived: int = 0
    sentences_indexed: int = 0
    seconds: float = 0.0

    def changes(self) -> dict[str, int]:
        """The counts of what changed (for summaries)."""
        names = ("facts_created", "facts_merged", "superseded", "flagged", "conflicts", "decay_updated", "reinforced",
                 "feedback_applied", "archived")  # fmt: skip
        return {n: int(getattr(self, n)) for n in names}


def _pass_id(key: str, now: datetime, episodes: list[MemoryRecord], facts: list[MemoryRecord]) -> str:
    """Deterministic id of a pass: the same snapshot at the same user time gives the same id."""
    parts = [key, now.isoformat(), *(f"{r.id}:{r.version}" for r in episodes), "|", *(f"{r.id}:{r.version}" for r in facts)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def rerate(record: MemoryRecord, rate: float, now: datetime) -> dict[str, Any]:
    """A new decay rate that applies from ``now`` on: the strength is rescaled so that the strength
    at ``now`` is unchanged (a rate change never rewrites the decay already accrued)."""
    ref = record.last_access or record.observed_at
    days = max(0.0, (now - ref).total_seconds() / 86400.0)
    if record.strength <= 0.0:
        return {"decay_rate": rate, "strength": 0.0}
    # in log space: strength·e^(-old·days)·e^(rate·days) overflows for far-apart times (years 1000 and 8999)
    log_s = math.log(record.strength) + (rate - record.decay_rate) * days
    return {"decay_rate": rate, "strength": float(math.exp(min(0.0, max(log_s, -745.0))))}


class ConsolidationPass:
    """Runs the steps of :data:`STEPS` for one user; build one per run."""

    def __init__(
        self,
        mem: UserMemory,
        db: StateDB,
        review: ReviewLog,
        config: ConsolidationConfig,
        *,
        alive: Callable[[], bool],
        hook: Hook | None = None,
        vectors: TextVectors | None = None,
    ) -> None:
        self.mem = mem
        self.vectors = vectors or TextVectors(mem._psm.embed)
        self.psm = mem._psm
        self.db = db
        self.review = review
        self.cfg = config
        self.hook = hook
        self.writer = RecordWriter(mem, alive=alive, hook=hook, retries=config.write_retries)

    def _step(self, name: str) -> None:
        if self.hook is not None:
            self.hook(name)

    # -- run ------------------------------------------------------------------------------------
    def run(self, now: datetime | None = None) -> PassReport:
        t0 = time.perf_counter()
        rows = self.db.query("SELECT plan FROM journal WHERE user_key=?", (self.mem.key,))
        if rows:
            plan = PassPlan.model_validate_json(rows[0]["plan"])
            self.writer.repair_moves()
            resumed = True
            logger.info("user %s: resuming consolidation pass %s", self.mem.key[:8], plan.pass_id[:8])
        else:
            plan = self._plan(now)
            resumed = False
        rep = PassReport(
            user_id=self.mem.user_id, pass_id=plan.pass_id, skill=plan.skill, now=plan.now, resumed=resumed,
            episodes=plan.episodes, new_episodes=len(plan.new_ids), patterns=plan.patterns,
            facts_created=len(plan.facts), facts_merged=len(plan.merges), conflicts=len(plan.conflicts),
            superseded=sum(f.status is Status.SUPERSEDED for f in plan.facts) + sum(c.status is Status.SUPERSEDED for c in plan.changes),
            flagged=sum(f.status is Status.FLAGGED for f in plan.facts) + sum(c.status is Status.FLAGGED for c in plan.changes),
        )  # fmt: skip
        self._facts(plan)
        self._step("facts")
        self._conflicts(plan)
        self._step("conflicts")
        rep.decay_updated = self._decay(plan.now)
        self._step("decay")
        rep.reinforced, rep.feedback_applied = self._reinforce()
        self._step("reinforce")
        rep.archived = self._prune(plan)
        self._step("prune")
        rep.sentences_indexed = self._sentences()
        self._step("sentences")
        rep.seconds = round(time.perf_counter() - t0, 4)
        self._finish(plan, rep)
        self._step("done")
        logger.info(
            "user %s consolidated: %d episodes, %d facts, %d merged, %d superseded, %d flagged, %d archived",
            self.mem.key[:8], rep.episodes, rep.facts_created, rep.facts_merged, rep.superseded, rep.flagged, rep.archived,
        )  # fmt: skip
        return rep

    # -- snapshot and plan ----------------------------------------------------------------------
    def _plan(self, now: datetime | None) -> PassPlan:
        mem = self.mem
        idx = mem._ensure_loaded()
        with idx.lock:
            when = now or mem.now()
            eps = [r for r in idx.records.values() if r.tier is Tier.EPISODIC and r.status is Status.ACTIVE]
            new = [r for r in eps if not r.ledger.get(SEEN)]
            seen = sorted((r for r in eps if r.ledger.get(SEEN)), key=lambda r: (r.observed_at, r.id))
            context = seen[-self.cfg.context_episodes :] if self.cfg.context_episodes else []
            episodes = sorted([*new, *context], key=lambda r: (r.observed_at, r.id))
            # facts taken from single statements when they were observed (psm_core.facts) are their own layer:
            # the pass distils patterns across episodes beside them, and never archives an episode for them
            facts = sorted((r for r in idx.records.values() if r.tier is Tier.SEMANTIC and r.status in (Status.ACTIVE, Status.FLAGGED)
                            and r.ledger.get(ORIGIN) != STATEMENT),
                           key=lambda r: (r.observed_at, r.id))  # fmt: skip
            stored = self.cfg.pattern_vectors == "stored"
            vectors = np.stack([idx.vector(r.id) for r in episodes]).astype(np.float32) if stored and episodes else None
            fvecs = np.stack([idx.vector(r.id) for r in facts]).astype(np.float32) if stored and facts else None
            known = set(idx.records)
        if not stored and new:
            vectors, fvecs = self.vectors.of(episodes), self.vectors.of(facts)
        self._step("snapshot")
        dim = self.psm.embedder.dim
        plan = plan_pass(
            pass_id=_pass_id(mem.key, when, episodes, facts), created_at=utcnow(), now=when, user_key=mem.key, skill=self.psm.skill, cfg=self.cfg,
            episodes=episodes, vectors=vectors if vectors is not None else np.zeros((0, dim), np.float32),
            new_ids=sorted(r.id for r in new), facts=facts,
            fact_vectors=fvecs if fvecs is not None else np.zeros((0, dim), np.float32), known_ids=known,
            embed=self.vectors.embed, embed_sentences=self.vectors.sentences,
        )  # fmt: skip
        self.db.execute(
            "INSERT INTO journal (user_key, pass_id, plan, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (user_key) DO UPDATE SET "
            "pass_id=excluded.pass_id, plan=excluded.plan, created_at=excluded.created_at",
            (mem.key, plan.pass_id, plan.model_dump_json(), time.time()),
        )
        self._step("plan")
        return plan

    # -- apply ----------------------------------------------------------------------------------
    def _facts(self, plan: PassPlan) -> None:
        idx = self.mem._ensure_loaded()
        specs = [f for f in plan.facts if f.id not in idx.records]
        if specs:
            recs = [
                MemoryRecord(
                    id=f.id,
                    user_id=self.mem.user_id,
                    tier=Tier.SEMANTIC,
                    text=f.text,
                    kind=f.kind,
                    role=f.role,
                    context=f.context,
                    created_at=plan.created_at,
                    observed_at=f.observed_at,
                    valid_from=f.valid_from,
                    valid_to=f.valid_to,
                    status=f.status,
                    confidence=f.confidence,
                    importance=f.importance,
                    emotional_weight=f.emotional_weight,
                    strength=max(0.05, f.importance),
                    provenance=f.provenance,
                    ledger=_fact_ledger(f, plan.pass_id),
                )  # fmt: skip
                for f in specs
            ]
            rates = self.psm.skill.decay_batch(recs)
            recs = [r.model_copy(update={"decay_rate": float(d)}) for r, d in zip(recs, rates)]
            self.writer.create(recs, record_vectors(self.psm.embed, recs))
        merges = {m.fact_id: m for m in plan.merges}

        def merge(records: list[MemoryRecord]) -> list[dict[str, Any] | None]:
            out: list[dict[str, Any] | None] = []
            for r in records:
                m = merges[r.id]
                prov = sorted(set(r.provenance) | set(m.episode_ids))
                conf = max(r.confidence, m.confidence)
                out.append({"provenance": prov, "confidence": conf} if prov != r.provenance or conf != r.confidence else None)
            return out

        self.writer.converge(list(merges), merge)

    def _conflicts(self, plan: PassPlan) -> None:
        changes = {c.record_id: c for c in plan.changes}

        def target(records: list[MemoryRecord]) -> list[dict[str, Any] | None]:
            out: list[dict[str, Any] | None] = []
            for r in records:
                c = changes[r.id]
                want: dict[str, Any] = {"status": c.status}
                if c.valid_to is not None:
                    want["valid_to"] = max(c.valid_to, r.valid_from) if r.valid_from else c.valid_to
                out.append(want if any(getattr(r, k) != v for k, v in want.items()) else None)
            return out

        self.writer.converge(list(changes), target)
        if plan.conflicts:
            with self.writer.guard():
                self.review.open(self.mem.key, plan.conflicts)

    def _persistent(self) -> list[MemoryRecord]:
        idx = self.mem._ensure_loaded()
        with idx.lock:
            return sorted(idx.records.values(), key=lambda r: (r.observed_at, r.id))

    def _decay(self, now: datetime) -> int:
        skill = self.psm.skill

        def rates(records: list[MemoryRecord]) -> list[dict[str, Any] | None]:
            new = skill.decay_batch(records)
            return [rerate(r, float(d), now) if abs(float(d) - r.decay_rate) > 1e-12 else None for r, d in zip(records, new)]

        return len(self.writer.converge([r.id for r in self._persistent()], rates))

    def _reinforce(self) -> tuple[int, int]:
        cfg = self.cfg
        log = self.psm.feedback_log
        pending = log.pending_effects(self.mem.user_id)
        effects: dict[str, list[tuple[int, float]]] = {}
        for oid, mid, value in pending:
            if mid:
                effects.setdefault(mid, []).append((int(oid), float(value)))
        recalled = [r.id for r in self._persistent() if r.recall_count > ledger_int(r, RECALLS)]
        applied: dict[str, int] = {}

        def reinforce(records: list[MemoryRecord]) -> list[dict[str, Any] | None]:
            out: list[dict[str, Any] | None] = []
            for r in records:
                led = ledger(r)
                s, conf = r.strength, r.confidence
                fresh_recalls = r.recall_count - ledger_int(r, RECALLS)
                if fresh_recalls > 0:
                    s = 1.0 - (1.0 - s) * (1.0 - cfg.reinforce_gain) ** min(fresh_recalls, 10_000)
                    led[RECALLS] = r.recall_count
                fresh = [(o, v) for o, v in effects.get(r.id, []) if o > ledger_int(r, FEEDBACK)]
                for _, v in fresh:
                    if v > 0:
                        s += cfg.helpful_gain * v * (1.0 - s)
                    elif v < 0:
                        s = max(cfg.min_strength, s * max(0.0, 1.0 + cfg.negative_gain * v))
                        if v <= -1.0:
                            conf *= cfg.correction_confidence
                if fresh:
                    led[FEEDBACK] = max(o for o, _ in fresh)
                    applied[r.id] = len(fresh)
                if led == ledger(r):
                    out.append(None)
                    continue
                out.append({"strength": float(min(1.0, max(0.0, s))), "confidence": float(conf), "ledger": led})
            return out

        written = self.writer.converge(sorted(set(recalled) | set(effects)), reinforce)
        if pending:
            log.mark_applied([int(p[0]) for p in pending])
        return len(written), sum(applied.get(r.id, 0) for r in written)

    def _prune(self, plan: PassPlan) -> int:
        """Archive covered episodes (superseded with their facts when every fact covering them is)."""
        idx = self.mem._ensure_loaded()
        now = plan.now
        with idx.lock:
            recs = list(idx.records.values())
        when = {r.id: r.observed_at for r in recs}
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        live: set[str] = set()
        ended: dict[str, datetime] = {}
        for r in recs:
            if (
                r.tier is Tier.SEMANTIC and not r.ledger.get(SUPERSEDED_BY) and r.ledger.get(ORIGIN) != STATEMENT
            ):  # history covers nothing
                if r.status is Status.SUPERSEDED:
                    for p in r.provenance:
                        end = r.valid_to or now
                        ended[p] = max(ended.get(p, end), end)
                else:
                    live.update(r.provenance)
        episodic = {r.id for r in recs if r.tier is Tier.EPISODIC}
        archived = {r.id for r in recs if r.tier is Tier.ARCHIVAL and r.status in (Status.ARCHIVED, Status.SUPERSEDED)}
        covered = (live | set(ended)) & (episodic | archived)
        floor = self.cfg.archive_strength
        weak = set()
        if floor is not None:
            weak = {r.id for r in recs if r.id in episodic and r.status is Status.ACTIVE and r.strength_at(now) < floor} - covered
        new = set(plan.new_ids)

        def target(records: list[MemoryRecord]) -> list[dict[str, Any] | None]:
            out: list[dict[str, Any] | None] = []
            for r in records:
                led = ledger(r)
                want: dict[str, Any] = {}
                if r.id in new and not led.get(SEEN):
                    led[SEEN] = plan.pass_id
                    want["ledger"] = led
                have = sorted(updated_by(r))
                if set(plan.updated_by.get(r.id, ())) - set(have):
                    # later episodes restate or update this one: recall puts them first (ordering.newer_first);
                    # the ledger keeps the latest MAX_UPDATED_BY of them
                    merged = sorted(set(have) | set(plan.updated_by[r.id]), key=lambda i: (when.get(i, epoch), i))
                    kept = sorted(merged[-MAX_UPDATED_BY:])
                    if kept != sorted(have):
                        led[UPDATED_BY] = kept
                        want["ledger"] = led
                if r.id in covered and r.id not in live and r.kind in self.cfg.supersede_kinds:
                    # only superseded facts cover this statement of a state: so is it (an event stays true)
                    until = max(ended[r.id], r.valid_from) if r.valid_from else ended[r.id]
                    state = {"tier": Tier.ARCHIVAL, "status": Status.SUPERSEDED, "valid_to": until}
                elif r.id in covered or r.id in weak:
                    state = {"tier": Tier.ARCHIVAL, "status": Status.ARCHIVED, "valid_to": None}
                else:
                    state = {}
                want.update({k: v for k, v in state.items() if getattr(r, k) != v})
                out.append(want or None)
            moved = [k for k, c in enumerate(out) if c and "tier" in c]
            if moved:  # the decay schedule of the archival tier applies from the move on
                rates = self.psm.skill.decay_batch([records[k].model_copy(update={"tier": Tier.ARCHIVAL}) for k in moved])
                for k, rate in zip(moved, rates):
                    out[k].update(rerate(records[k], float(rate), now))  # type: ignore[union-attr]
            return out

        linked = set(plan.updated_by) & set(idx.records)
        written = self.writer.converge(sorted(covered | weak | (new & episodic) | linked), target)
        return sum(1 for r in written if r.tier is Tier.ARCHIVAL and r.id in episodic)

    def _sentences(self) -> int:
        """Store the sentence vectors of episodes that have none; returns how many episodes got them.

        Idempotent: an episode with vectors is skipped, a rerun writes nothing new. Episodes without a
        first-person sentence get none and cost a sentence split on each pass."""
        mem = self.mem
        idx = mem._ensure_loaded()
        with idx.lock:
            todo = [(r.id, r.text) for r in idx.records.values()
                    if r.tier in (Tier.EPISODIC, Tier.ARCHIVAL) and not r.provenance and r.id not in idx.sentences]  # fmt: skip
        said = [(rid, text, statements_about_speaker(text)) for rid, text in todo]
        said = [x for x in said if x[2]]
        done = 0
        for start in range(0, len(said), _SENTENCE_BATCH):
            part = said[start : start + _SENTENCE_BATCH]
            vecs = self.vectors.sentences([s for *_, ss in part for s in ss]).astype(np.float32)
            ends = np.cumsum([len(ss) for *_, ss in part])
            mats = np.split(vecs, ends[:-1])
            with self.writer.guard():  # records forgotten or rewritten meanwhile are left out
                live = idx.records
                out = {rid: m for (rid, text, _), m in zip(part, mats) if rid in live and live[rid].text == text}
                if out:
                    mem._psm.store.put_sentences(mem.key, out)
                    idx.sentences.update(out)
            done += len(out)
        return done

    def _finish(self, plan: PassPlan, rep: PassReport) -> None:
        with self.writer.guard(), self.db.tx() as con:
            con.execute("DELETE FROM journal WHERE user_key=? AND pass_id=?", (self.mem.key, plan.pass_id))
            con.execute(
                "INSERT INTO passes (user_key, passes, last_pass_at, last_user_time, summary) VALUES (?, 1, ?, ?, ?) "
                "ON CONFLICT(user_key) DO UPDATE SET passes=passes.passes+1, last_pass_at=excluded.last_pass_at, "
                "last_user_time=excluded.last_user_time, summary=excluded.summary",
                (self.mem.key, time.time(), plan.now.isoformat(), json.dumps(rep.changes())),
            )


def _fact_ledger(f: FactSpec, pass_id: str) -> dict[str, Any]:
    led: dict[str, Any] = {SOURCE: f.source_id, PASS: pass_id}
    if f.superseded_by:
        led[SUPERSEDED_BY] = f.superseded_by
    return led

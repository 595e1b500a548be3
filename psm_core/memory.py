"""One user's memory: observe, remember, recall, get, sources, update, forget, erase, export, import, stats.

Every sync method has an async twin (``aobserve``, ``arecall``, …) that runs it off the event loop.
Obtain instances from :meth:`psm_core.PSM.for_user`; never construct directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from psm_core.candidates import gather_candidates, working_candidates
from psm_core.errors import InvalidInputError, NotFoundError, PSMError, VersionConflictError
from psm_core.facts import USER_ROLES, FactWrites, plan_facts
from psm_core.index import CONTEXT_CHARS, UserIndex, record_vectors, retrieval_text, speaker_line
from psm_core.ledger import source as _source
from psm_core.ledger import updated_by
from psm_core.ordering import LIST_DEPTH, monotone, newer_first, represented, with_updates
from psm_core.profile import Profile, build_profile
from psm_core.provenance import sources as provenance_sources
from psm_core.recall import RecallResult, ScoredMemory, fit_budget
from psm_core.rerank import rerank_order, rerank_text, session_support
from psm_core.skill.base import Candidate
from psm_core.statements import speech_act
from psm_core.stores.buffers import SensoryBuffer, WorkingMemory
from psm_core.stores.chroma import user_key
from psm_core.text import clean_text, count_tokens
from psm_core.types import PERSISTENT_TIERS, Event, Kind, MemoryRecord, Status, Tier, utcnow
from psm_core.validation import (
    MAX_ID_CHARS,
    check_bool,
    check_fraction,
    check_id,
    check_ids,
    check_int,
    check_kind,
    check_metadata,
    check_optional_str,
    check_tier,
    check_tiers,
    check_timestamp,
)

if TYPE_CHECKING:
    from psm_core.consolidation import Conflict
    from psm_core.psm import PSM

__all__ = ["MemoryStats", "UserMemory"]

logger = logging.getLogger(__name__)

_UPDATABLE = frozenset(
    {"text", "kind", "strength", "decay_rate", "emotional_weight", "confidence", "importance",
     "provenance", "valid_from", "valid_to", "status", "metadata", "tier", "recall_count", "last_access"}
)  # fmt: skip
_FLUSH_AT = 256
_UPDATE_SLACK = 0.15  # cosine by which a current fact may trail the statement it replaced and still be put before it
MAX_K = 1000
"""Most memories one recall returns (a larger ``k`` is refused: page with ``exclude_ids`` instead)."""
_MAX_ROLE_CHARS = 128


class MemoryStats(BaseModel):
    """Counts of one user's memories."""

    user_id: str
    tiers: dict[str, int]
    statuses: dict[str, int]
    kinds: dict[str, int]
    total: int
    tokens: int
    latest_activity: datetime | None


class UserMemory:
    """The tiered memory of one user. Thread-safe; all state is per user."""

    def __init__(self, psm: PSM, user_id: str) -> None:
        self._psm = psm
        self.user_id = user_id
        self.key = user_key(user_id)
        self._index = UserIndex(psm.embedder.dim)
        self._sensory = SensoryBuffer(psm.settings.sensory_window)
        self._working = WorkingMemory(psm.settings.working_window)
        self._dirty: set[str] = set()
        self._derived: set[str] = set()  # facts and fact changes decided at observe time, written behind it
        self._latest_seen: datetime | None = None  # latest observed event, kept by the gate or not

    def __repr__(self) -> str:
        return f"UserMemory(user_id={self.user_id!r}, records={len(self._index) if self._index.loaded else '?'})"

    # -- loading --------------------------------------------------------------------------------
    def _ensure_loaded(self) -> UserIndex:
        idx = self._index
        if idx.loaded:
            return idx
        with idx.lock:
            if not idx.loaded:
                found: dict[str, tuple[MemoryRecord, NDArray[np.float32] | None]] = {}
                stale: dict[Tier, list[str]] = {}
                for tier in PERSISTENT_TIERS:
                    for rec, vec in self._psm.store.scan(self.key, tier, with_vectors=True):
                        have = found.get(rec.id)
                        if have is not None:  # a copy left in two tiers (a move cut short): the newer one wins
                            older = have[0] if rec.version >= have[0].version else rec
                            stale.setdefault(older.tier, []).append(rec.id)
                            if older is rec:
                                continue
                        found[rec.id] = (rec, vec)
                idx.put_many(found.values())
                for tier, ids in stale.items():
                    self._psm.store.delete(self.key, tier, ids)
                    logger.warning("user %s: removed %d stale copies left in the %s tier", self.key[:8], len(ids), tier.value)
                idx.sentences = {rid: m for rid, m in self._psm.store.scan_sentences(self.key).items() if rid in idx.records}
                idx.loaded = True
                logger.debug("loaded %d memories of user %s", len(idx), self.key[:8])
        return idx

    def refresh(self) -> None:
        """Reload this user's records from the store (after writes by another process to a server)."""
        with self._index.lock:
            self._flush()
            self._index.clear()
        self._ensure_loaded()

    def now(self) -> datetime:
        """The user's time: their latest observed activity (wall clock when they have none)."""
        idx = self._ensure_loaded()
        latest = idx.latest
        seen = self._latest_seen
        if seen is not None and (latest is None or seen > latest):
            latest = seen
        return latest or utcnow()

    # -- writing --------------------------------------------------------------------------------
    def _event(self, text: Any, role: Any, session_id: Any, timestamp: Any, metadata: Any) -> Event:
        cleaned = clean_text(text, max_bytes=self._psm.settings.max_text_bytes)
        role = check_optional_str(role, "role", max_chars=_MAX_ROLE_CHARS)
        if role is None:
            raise InvalidInputError("role must be a non-empty string, got None")
        session_id = check_optional_str(session_id, "session_id", max_chars=MAX_ID_CHARS)
        timestamp = check_timestamp(timestamp)
        meta = check_metadata(metadata)
        try:
            return Event(text=cleaned, role=role, session_id=session_id, timestamp=timestamp, metadata=meta)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid event: {exc.errors()[0]['msg']}") from exc

    def observe(
        self,
        text: str,
        *,
        role: str = "user",
        session_id: str | None = None,
        timestamp: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> MemoryRecord:
        """Observe one conversation turn: sensory buffer → relevance gate → working (+ episodic if kept).

        Returns the record; its ``tier`` is EPISODIC when the gate kept it, WORKING otherwise.
        """
        return self.observe_many([self._event(text, role, session_id, timestamp, metadata)])[0]

    def observe_many(self, events: Iterable[Event | Mapping[str, Any] | str], *, progress: bool = False) -> list[MemoryRecord]:
        """Observe many turns at once: one embedding batch and one write per tier. All or nothing.

        Events may be :class:`Event`, dicts with the ``observe`` arguments, or plain strings.
        """
        self._psm._check_open()
        if events is None or isinstance(events, (str, bytes, Mapping, Event)) or not isinstance(events, Iterable):
            raise InvalidInputError(f"observe_many takes a list of events (Event, dict or str), got {type(events).__name__}")
        check_bool(progress, "progress")
        evs = [self._coerce(e) for e in events]
        if not evs:
            return []
        now = utcnow()
        records: list[MemoryRecord] = []
        last: dict[str | None, str] = {}
        for n, ev in enumerate(evs):
            # untimed events of one batch keep their order, as when observed one by one (a session's turn
            # order gives each turn its neighbours in recall)
            observed = ev.timestamp or now + timedelta(microseconds=n)
            if ev.session_id not in last:
                prev = self._working.items(ev.session_id, all_sessions=False)
                if prev:
                    last[ev.session_id] = speaker_line(prev[-1].record.role, prev[-1].record.text)
            ctx = last.get(ev.session_id)
            records.append(
                MemoryRecord(
                    user_id=self.user_id,
                    text=ev.text,
                    role=ev.role,
                    session_id=ev.session_id,
                    context=ctx[:CONTEXT_CHARS] if ctx else None,
                    created_at=now,
                    observed_at=observed,
                    valid_from=observed,
                    metadata=dict(ev.metadata),
                )  # fmt: skip
            )
            last[ev.session_id] = speaker_line(ev.role, ev.text)
        vectors = record_vectors(lambda texts: self._psm.embed(texts, progress=progress), records)
        context = self._sensory.recent(4)
        contexts = [context + evs[max(0, i - 4) : i] for i in range(len(evs))]
        decisions = self._psm.skill.gate_batch(evs, vectors, [c[-4:] for c in contexts])
        for i, dec in enumerate(decisions):
            # a user's questions, requests to the assistant, greetings and acknowledgements are working memory only
            # (between named speakers a question is part of what they tell each other: the gate decides)
            keep = dec.keep and (evs[i].role.lower() not in USER_ROLES or speech_act(evs[i].text) == "statement")
            rec = records[i].model_copy(
                update={
                    "tier": Tier.EPISODIC if keep else Tier.WORKING, "kind": dec.kind,
                    "strength": max(0.05, dec.importance), "importance": dec.importance,
                    "emotional_weight": dec.emotional_weight, "confidence": dec.confidence,
                }
            )  # fmt: skip
            records[i] = rec.model_copy(update={"decay_rate": self._psm.skill.decay(rec)})
        kept = [i for i, r in enumerate(records) if r.tier is Tier.EPISODIC]
        idx = self._ensure_loaded()
        with idx.lock:
            if kept:
                writes = self._facts([records[i] for i in kept], vectors[kept])
                stored = [i for n, i in enumerate(kept) if n not in writes.restated]
                self._psm.store.register_user(self.user_id)
                self._store_observed([records[i] for i in stored], vectors[stored], writes)
                for row, existing in writes.restated.items():  # the same words again: the stored episode, restated
                    records[kept[row]] = idx.records.get(existing, records[kept[row]])
            for ev, rec, vec in zip(evs, records, vectors):
                self._sensory.push(ev)
                self._working.add(rec, vec)
                if self._latest_seen is None or rec.observed_at > self._latest_seen:
                    self._latest_seen = rec.observed_at
        logger.info("user %s observed %d events, kept %d", self.key[:8], len(records), len(kept))
        return records

    def _facts(self, episodes: list[MemoryRecord], vectors: NDArray[np.float32]) -> FactWrites:
        """What storing ``episodes`` changes besides them (:mod:`psm_core.facts`); none when facts are off."""
        if not self._psm.settings.statement_facts:
            return FactWrites()
        return plan_facts(user_key=self.key, skill=self._psm.skill, idx=self._index, episodes=episodes, vectors=vectors)

    def _store_observed(self, episodes: list[MemoryRecord], vectors: NDArray[np.float32], writes: FactWrites) -> None:
        """Write observed ``episodes``, their facts and the changes to existing records, all or nothing
        (the caller holds the index lock)."""
        idx, store = self._index, self._psm.store
        changed: list[MemoryRecord] = []
        for rid, change in writes.changes.items():
            cur = idx.records.get(rid)
            if cur is not None:
                changed.append(MemoryRecord.model_validate({**cur.model_dump(), **change, "version": cur.version + 1}))
        # the episodes are the acknowledged write; what they change (facts, supersessions, ledgers) is derived
        # from them and written right behind, by the background flusher (or the next write, pass, close)
        store.upsert(self.key, Tier.EPISODIC, episodes, vectors, new=True)
        idx.put_many(zip(episodes, vectors))
        idx.put_many(writes.facts)
        idx.put_many((r, None) for r in changed)
        self._derived.update(f.id for f, _ in writes.facts)
        self._derived.update(r.id for r in changed)
        if self._derived:  # written in batches: the flusher wakes within a second, or now when many are waiting
            self._psm._request_flush(now=len(self._derived) >= _FLUSH_AT)
        if writes.conflicts:
            self._psm.consolidation.flag(self.user_id, writes.conflicts)

    def _coerce(self, e: Event | Mapping[str, Any] | str) -> Event:
        if isinstance(e, Event):
            return self._event(e.text, e.role, e.session_id, e.timestamp, e.metadata)
        if isinstance(e, str):
            return self._event(e, "user", None, None, None)
        if isinstance(e, Mapping):
            unknown = set(e) - {"text", "role", "session_id", "timestamp", "metadata"}
            if unknown or "text" not in e:
                raise InvalidInputError(f"event dicts take text, role, session_id, timestamp, metadata; got {sorted(e)}")
            return self._event(e["text"], e.get("role", "user"), e.get("session_id"), e.get("timestamp"), e.get("metadata"))
        raise InvalidInputError(f"cannot observe a {type(e).__name__}: pass an Event, a dict or a str")

    def remember(
        self,
        text: str,
        *,
        kind: Kind | str = Kind.FACT,
        tier: Tier | str = Tier.SEMANTIC,
        confidence: float = 1.0,
        importance: float = 0.8,
        emotional_weight: float = 0.0,
        provenance: Sequence[str] = (),
        timestamp: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        record_id: str | None = None,
    ) -> MemoryRecord:
        """Store ``text`` explicitly (no gate) in a persistent tier; semantic by default.

        ``record_id`` names the record (default: a fresh id); a record of this user with that id is
        replaced, whatever its tier, so one id never lives in two tiers."""
        self._psm._check_open()
        cleaned = clean_text(text, max_bytes=self._psm.settings.max_text_bytes)
        tier = check_tier(tier)
        kind = check_kind(kind)
        if tier not in PERSISTENT_TIERS:
            raise InvalidInputError(f"remember() writes persistent tiers {[t.value for t in PERSISTENT_TIERS]}, not {tier.value}")
        confidence = check_fraction(confidence, "confidence")
        importance = check_fraction(importance, "importance")
        emotional_weight = check_fraction(emotional_weight, "emotional_weight")
        prov = check_ids(provenance, "provenance")
        when = check_timestamp(timestamp) or utcnow()
        meta = check_metadata(metadata)
        rid = check_id(record_id) if record_id is not None else None
        extra: dict[str, Any] = {"id": rid} if rid else {}
        try:
            rec = MemoryRecord(
                user_id=self.user_id, tier=tier, text=cleaned, kind=kind, observed_at=when, valid_from=when,
                confidence=confidence, importance=importance, emotional_weight=emotional_weight,
                strength=max(0.05, importance), provenance=prov, metadata=meta, **extra,
            )  # fmt: skip
        except ValidationError as exc:
            raise InvalidInputError(f"invalid memory: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
        rec = rec.model_copy(update={"decay_rate": self._psm.skill.decay(rec)})
        vec = record_vectors(self._psm.embed, [rec])[0]
        idx = self._ensure_loaded()
        with idx.lock:
            self._psm.store.register_user(self.user_id)
            if rid is not None:  # a replaced record leaves no copy behind in another tier
                self._psm.store.delete_everywhere(self.key, [rid], keep=tier)
                self._working.remove(rid)
                self._dirty.discard(rid)
            self._psm.store.upsert(self.key, tier, [rec], vec[None, :], new=rid is None)
            idx.put(rec, vec)
        logger.info("user %s remembered %s in %s", self.key[:8], rec.id, tier.value)
        return rec

    # -- reading --------------------------------------------------------------------------------
    def recall(
        self,
        query: str,
        *,
        k: int = 10,
        tiers: Sequence[Tier | str] | None = None,
        token_budget: int | None = None,
        now: datetime | None = None,
        include_superseded: bool = False,
        exclude_ids: Iterable[str] = (),
        touch: bool = True,
        rerank: int | None = None,
    ) -> RecallResult:
        """The ``k`` memories most worth surfacing for ``query`` (hybrid dense + BM25, weighed by the skill).

        ``tiers`` defaults to episodic, semantic and archival (add ``working`` for this session's
        turns). Superseded facts are left out unless ``include_superseded``; ``exclude_ids`` (e.g. turns
        already in the prompt) are never returned nor counted as recalled. Updates access statistics
        (recall count, last access) unless ``touch=False`` (e.g. for evaluation or previews).
        ``rerank`` (default: ``settings.rerank``; 0: off) rescores the best ``rerank`` candidates with the
        cross-encoder (:mod:`psm_core.rerank`) and reorders them, then orders every candidate again with
        its session's support (:func:`psm_core.rerank.session_support`).
        """
        self._psm._check_open()
        q = clean_text(query, max_bytes=self._psm.settings.max_text_bytes, what="query")
        check_int(k, "k", low=1, high=MAX_K)
        if token_budget is not None:
            check_int(token_budget, "token_budget", low=1)
        depth = self._psm.settings.rerank if rerank is None else rerank
        check_int(depth, "rerank", low=0, high=200)
        wanted = check_tiers(tiers) if tiers is not None else {Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL}
        if Tier.SENSORY in wanted:
            raise InvalidInputError(
                "recall searches working, episodic, semantic and archival tiers; the sensory buffer is sensory()"
            )
        check_bool(include_superseded, "include_superseded")
        check_bool(touch, "touch")
        now = check_timestamp(now, "now")
        excluded = set(check_ids(exclude_ids, "exclude_ids"))
        idx = self._ensure_loaded()
        qv = self._psm.skill.query_vector(self._psm.embed([q])[0])
        n = max(5 * k, 50)
        with idx.lock:
            when = now or self.now()
            cands = gather_candidates(
                idx, self._psm.store, self.key, q, qv, wanted, include_superseded, n + len(excluded), when,
                exact_max=self._psm.settings.exact_search_max,
            )  # fmt: skip
            if Tier.WORKING in wanted:
                cands.extend(working_candidates(self._working.items(), q, qv, {c.record.id for c in cands}))
            if excluded:
                cands = [c for c in cands if c.record.id not in excluded]
            scores = self._psm.skill.weigh(q, cands, when) if cands else np.zeros(0)
            recs = [c.record for c in cands]

            def covering(rid: str) -> list[MemoryRecord]:  # facts stand for their episodes when facts are asked for
                return idx.facts_covering(rid) if Tier.SEMANTIC in wanted else []

            def grouped(order: Sequence[int], limit: int) -> list[tuple[int, MemoryRecord]]:
                return represented(recs, order, limit, covering, include_superseded=include_superseded)

            listed = grouped(np.argsort(-scores, kind="stable").tolist(), max(k, LIST_DEPTH, depth))
            cross: dict[int, float] = {}
            if depth > 1 and len(listed) > 1:
                scores, cross = self._rerank(q, cands, scores, [i for i, _ in listed[:depth]])
                order = session_support(scores, [c.record.session_id for c in cands])
                scores[order] = np.sort(scores)[::-1]  # (a copy from _rerank) the same values, best first in the new order
                listed = grouped([int(i) for i in order], max(k, LIST_DEPTH, depth))

            # a deeper rerank head chooses which memories lead, not how far newer_first reaches: the list it
            # reorders stays max(k, LIST_DEPTH) long, as without a reranker
            def near(new: MemoryRecord, old: MemoryRecord) -> bool:  # the update speaks to the query nearly as well
                sims = idx.similarities([new.id, old.id], qv)
                return float(sims[0]) >= float(sims[1]) - _UPDATE_SLACK

            # the head of the list is put in reading order (current values first); past it, the skill's order
            # stands, so a long list never lifts a distant memory into the head (recall(k=50)[:10] == recall(k=10))
            head = with_updates(listed[:LIST_DEPTH], LIST_DEPTH, idx.records.get, near)
            ids = [rep.id for _, rep in head]
            links = {rep.id: updated_by(rep) | updated_by(recs[i]) for i, rep in head}
            shown = {rep.id for _, rep in head}
            tail = [(i, rep) for i, rep in listed[LIST_DEPTH : max(k, LIST_DEPTH)] if rep.id not in shown]
            final = ([head[n] for n in newer_first(ids, links)] + tail)[:k]
            values = monotone([float(scores[i]) for i, _ in final])
            ranked = [
                ScoredMemory(
                    record=rep,
                    score=values[pos],
                    relevance=float(scores[i]),
                    similarity=cands[i].similarity,
                    lexical=cands[i].lexical,
                    dense_rank=cands[i].dense_rank,
                    lexical_rank=cands[i].lexical_rank,
                    neighbor_similarity=cands[i].neighbor_similarity,
                    neighbor_lexical=cands[i].neighbor_lexical,
                    speaker_match=cands[i].speaker_match,
                    rerank_score=cross.get(i),
                )  # fmt: skip
                for pos, (i, rep) in enumerate(final)
            ]
            kept, used = fit_budget(ranked, token_budget)
            if touch:
                self._touch([m.id for m in kept if m.tier is not Tier.WORKING], when)
        return RecallResult(query=q, memories=kept, now=when, tokens=used)

    def _rerank(
        self, q: str, cands: Sequence[Candidate], scores: NDArray[np.float64], head: list[int]
    ) -> tuple[NDArray[np.float64], dict[int, float]]:
        """``scores`` with the candidates of ``head`` (best first) reordered by the cross-encoder mixed with the
        skill's scores: they take the head's scores in their new order, so scores stay best first (a token
        budget reads them); and each one's logit."""
        ce = self._psm.cross_encoder
        logits = ce.score(q, [rerank_text(cands[i].record) for i in head])
        new = rerank_order(scores[head], logits, ce.weight)
        values = sorted((float(scores[i]) for i in head), reverse=True)
        scores = scores.copy()
        for pos, j in enumerate(new):
            scores[head[j]] = values[pos]
        return scores, {head[j]: float(logits[j]) for j in range(len(head))}

    def _touch(self, ids: Sequence[str], when: datetime) -> None:
        idx = self._index
        for rid in ids:
            r = idx.records.get(rid)
            if r is None:
                continue
            last = max(when, r.last_access) if r.last_access else when
            idx.records[rid] = r.model_copy(update={"recall_count": r.recall_count + 1, "last_access": last})
            self._dirty.add(rid)
        if len(self._dirty) >= _FLUSH_AT:
            self._psm._request_flush()  # written by the PSM's background flusher, off the recall path

    def _flush_derived(self) -> None:
        """Write the records observing changed besides its episodes (new facts, superseded ones, ledgers), as
        they are now in the index (the caller may hold the index lock)."""
        with self._index.lock:
            if not self._derived:
                return
            idx, store = self._index, self._psm.store
            recs = [idx.records[i] for i in sorted(self._derived) if i in idx.records]
            for tier in PERSISTENT_TIERS:
                mine = [r for r in recs if r.tier is tier]
                if mine:
                    store.upsert(self.key, tier, mine, np.stack([idx.vector(r.id) for r in mine]))
            self._derived.clear()

    def _flush(self) -> None:
        """Write pending derived records and access statistics to the store."""
        self._flush_derived()
        with self._index.lock:
            if not self._dirty:
                return
            by_tier: dict[Tier, list[MemoryRecord]] = {}
            for rid in self._dirty:
                r = self._index.records.get(rid)
                if r is not None:
                    by_tier.setdefault(r.tier, []).append(r)
            for tier, recs in by_tier.items():
                self._psm.store.update_meta(self.key, tier, recs)
            self._dirty.clear()

    def get(self, record_id: str) -> MemoryRecord:
        """The record ``record_id`` of this user (any tier); :class:`NotFoundError` otherwise."""
        if not isinstance(record_id, str) or not record_id:
            raise NotFoundError(str(record_id))
        idx = self._ensure_loaded()
        rec = idx.records.get(record_id)
        if rec is not None:
            return rec
        item = self._working.get(record_id)
        if item is not None:
            return item.record
        raise NotFoundError(record_id)

    def sources(self, record_id: str) -> list[MemoryRecord]:
        """The observed episodes that memory ``record_id`` was built from, oldest first.

        Follows provenance through facts distilled from facts down to records without provenance;
        forgotten episodes are skipped. An episode itself has no sources (an empty list);
        :class:`NotFoundError` when ``record_id`` is not this user's."""
        return provenance_sources(self.get(record_id), self.get)

    def records(self, tier: Tier | str | None = None, *, session_id: str | None = None) -> list[MemoryRecord]:
        """Every persistent record of this user (of one tier, of one session when given), oldest first."""
        want = check_tier(tier) if tier is not None else None
        session_id = check_optional_str(session_id, "session_id")
        idx = self._ensure_loaded()
        with idx.lock:
            if session_id is not None:  # the session's turns, and the facts taken from them there
                turns = idx.session_records(session_id)
                said = {f.id: f for t in turns for f in idx.facts_covering(t.id) if f.session_id == session_id}
                pool = [*turns, *said.values()]
            else:
                pool = list(idx.records.values())
            recs = [r for r in pool if want is None or r.tier is want]
        if want is Tier.WORKING:
            recs = [it.record for it in self._working.items() if it.record.tier is Tier.WORKING]
            if session_id is not None:
                recs = [r for r in recs if r.session_id == session_id]
        return sorted(recs, key=lambda r: (r.observed_at, r.id))

    def working(self, session_id: str | None = None) -> list[MemoryRecord]:
        """The turns of ``session_id`` in working memory, in order."""
        session_id = check_optional_str(session_id, "session_id")
        return [it.record for it in self._working.items(session_id, all_sessions=False)]

    def sensory(self) -> list[Event]:
        """The raw events in the sensory buffer, in order."""
        return self._sensory.recent()

    # -- changing -------------------------------------------------------------------------------
    def update(self, record_id: str, *, expected_version: int | None = None, **changes: Any) -> MemoryRecord:
        """Change fields of a persistent record (optimistic concurrency with ``expected_version``)."""
        self._psm._check_open()
        check_id(record_id)
        if expected_version is not None:
            check_int(expected_version, "expected_version", low=1)
        bad = set(changes) - _UPDATABLE
        if bad:
            raise InvalidInputError(f"cannot update {sorted(bad)}; updatable fields: {sorted(_UPDATABLE)}")
        if "metadata" in changes:
            changes["metadata"] = check_metadata(changes["metadata"])
        for name in ("valid_from", "valid_to", "last_access"):
            if name in changes:
                check_timestamp(changes[name], name)
        if "provenance" in changes:
            changes["provenance"] = check_ids(changes["provenance"], "provenance")
        if "tier" in changes:
            changes["tier"] = check_tier(changes["tier"])
        if "kind" in changes:
            changes["kind"] = check_kind(changes["kind"])
        return self._update(record_id, expected_version, changes)

    def _update(self, record_id: str, expected_version: int | None, changes: dict[str, Any]) -> MemoryRecord:
        """Write ``changes`` (checked; ``ledger`` allowed: the library's own writers) to one record."""
        idx = self._ensure_loaded()
        with idx.lock:
            self._flush_derived()
            old = idx.records.get(record_id)
            if old is None:
                raise NotFoundError(record_id)
            if expected_version is not None and expected_version != old.version:
                raise VersionConflictError(record_id, expected_version, old.version)
            if "text" in changes:
                changes["text"] = clean_text(changes["text"], max_bytes=self._psm.settings.max_text_bytes)
            try:
                new = MemoryRecord.model_validate({**old.model_dump(), **changes, "version": old.version + 1})
            except ValidationError as exc:
                raise InvalidInputError(f"invalid update: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
            if new.tier not in PERSISTENT_TIERS:
                raise InvalidInputError(f"records live in persistent tiers, not {new.tier.value}")
            changed = retrieval_text(new) != retrieval_text(old)
            vec = record_vectors(self._psm.embed, [new])[0] if changed else idx.vector(record_id).copy()
            if new.tier is not old.tier:
                self._psm.store.upsert(self.key, new.tier, [new], vec[None, :])
                self._psm.store.delete_everywhere(self.key, [record_id], keep=new.tier)
            elif changed or new.text != old.text:
                self._psm.store.upsert(self.key, new.tier, [new], vec[None, :])
            else:
                self._psm.store.update_meta(self.key, new.tier, [new])
            if new.text != old.text:
                self._psm.store.delete_sentences(self.key, [record_id])  # the next pass embeds the new ones
            idx.put(new, vec)
            self._dirty.discard(record_id)
        return new

    def forget(self, record_id: str) -> None:
        """Delete one record of this user from every tier; :class:`NotFoundError` when absent.

        Semantic facts whose text was taken from it (a fact stated by this episode, or a sentence of it
        kept as history: ledger ``source``) are deleted with it; facts that merely cite it in their
        provenance stay."""
        self._psm._check_open()
        check_id(record_id)
        idx = self._ensure_loaded()
        with idx.lock:
            rec = idx.remove(record_id)
            in_working = self._working.remove(record_id)
            if rec is None and not in_working:
                raise NotFoundError(record_id)
            # every tier, not only the one the index holds: a move cut short between copy and delete
            # (or an older version's bug) may have left a second copy, which must not resurrect
            self._psm.store.delete_everywhere(self.key, [record_id])
            self._psm.store.delete_sentences(self.key, [record_id])
            self._dirty.discard(record_id)
            stated = [r.id for r in idx.records.values() if r.tier is Tier.SEMANTIC and _source(r) == record_id]
            for rid in stated:
                idx.remove(rid)
                self._dirty.discard(rid)
            self._psm.store.delete_everywhere(self.key, stated)
        logger.info("user %s forgot %s", self.key[:8], record_id)

    def erase(self) -> None:
        """Erase everything of this user: every tier, buffers, logs and queued jobs."""
        self._psm._check_open()
        with self._index.lock:
            self._psm.store.delete_user(self.user_id)
            self._index.clear()
            self._index.loaded = True
            self._dirty.clear()
            self._derived.clear()
            self._sensory.clear()
            self._working.clear()
            self._latest_seen = None
            for hook in self._psm._erase_hooks:
                hook(self.user_id)
        logger.info("erased user %s", self.key[:8])

    # -- feedback -------------------------------------------------------------------------------
    def log_retrieval(self, result: RecallResult, *, run_id: str | None = None) -> str:
        """Record that ``result``'s memories reached an LLM (content-free); returns the retrieval id."""
        self._psm._check_open()
        if not isinstance(result, RecallResult):
            raise InvalidInputError(f"log_retrieval takes the RecallResult of recall(), got {type(result).__name__}")
        run_id = check_optional_str(run_id, "run_id")
        return self._psm.feedback_log.log_retrieval(self.user_id, result, skill=self._psm.skill.name, run_id=run_id)

    def feedback(
        self,
        retrieval: str | RecallResult,
        outcome: str,
        *,
        memory_ids: Sequence[str] | None = None,
        score: float | None = None,
        source: str = "api",
    ) -> str:
        """Record how surfaced memories turned out: helpful, neutral, irrelevant, corrected or an explicit score.

        ``retrieval`` is an id from :meth:`log_retrieval` or a :class:`RecallResult` (logged now).
        Returns the retrieval id. Effects on strength are applied by the consolidation pass.
        """
        self._psm._check_open()
        if not isinstance(retrieval, RecallResult):
            check_id(retrieval, "retrieval")
        if not isinstance(outcome, str):
            raise InvalidInputError(f"outcome must be a string such as 'helpful' or 'corrected', got {outcome!r}")
        if memory_ids is not None:
            memory_ids = check_ids(memory_ids, "memory_ids")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score)):
            raise InvalidInputError(f"score must be a finite number in [-1, 1], got {score!r}")
        source = check_optional_str(source, "source") or "api"
        rid = self.log_retrieval(retrieval) if isinstance(retrieval, RecallResult) else retrieval
        self._psm.feedback_log.log_outcome(self.user_id, rid, outcome, memory_ids=memory_ids, score=score, source=source)
        return rid

    # -- reporting ------------------------------------------------------------------------------
    def export(self, path: str | Path | None = None) -> str:
        """Every record (persistent tiers, then working memory) as JSON lines; written to ``path`` too."""
        if path is not None and not isinstance(path, (str, Path)):
            raise InvalidInputError(f"path must be a str or Path, got {type(path).__name__}")
        self._flush()
        recs = self.records() + self.records(Tier.WORKING)
        text = "".join(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in recs)
        if path is not None:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise InvalidInputError(f"cannot write the export to {path}: {exc.strerror or exc}") from exc
        return text

    def import_records(self, source: str | Path, *, as_user: bool = False) -> list[MemoryRecord]:
        """Write back the records of an :meth:`export` (a path, or its text): same ids, tiers and fields.

        A ``str`` that is empty or starts with ``{`` is the JSON lines themselves; any other ``str`` or
        ``Path`` names a file. Every line is checked as ``remember`` checks its arguments before anything
        is written (all or nothing); records of another user id are refused unless ``as_user`` makes them
        this user's. A record with the id of one of this user's replaces it, whatever its tier; vectors
        are recomputed with the embedder (sentence vectors come with the next consolidation pass)."""
        from psm_core.exchange import read_export

        self._psm._check_open()
        check_bool(as_user, "as_user")
        recs = read_export(source, self.user_id, as_user=as_user, max_text_bytes=self._psm.settings.max_text_bytes)
        if not recs:
            return []
        vecs = record_vectors(self._psm.embed, recs)
        by_tier: dict[Tier, list[int]] = {}
        for i, r in enumerate(recs):
            by_tier.setdefault(r.tier, []).append(i)
        idx = self._ensure_loaded()
        with idx.lock:
            self._psm.store.register_user(self.user_id)
            before = {r.id: (idx.records[r.id], idx.vector(r.id).copy()) for r in recs if r.id in idx.records}
            written: list[tuple[Tier, list[str]]] = []
            try:
                for tier, rows in by_tier.items():
                    if tier is not Tier.WORKING:
                        ids = [recs[i].id for i in rows]
                        written.append((tier, ids))
                        self._psm.store.upsert(self.key, tier, [recs[i] for i in rows], vecs[rows])
                        self._psm.store.delete_everywhere(self.key, ids, keep=tier)
                self._psm.store.delete_everywhere(self.key, [recs[i].id for i in by_tier.get(Tier.WORKING, [])])
            except PSMError:  # put back what was there: the import is all or nothing
                for tier, ids in written:
                    self._psm.store.delete(self.key, tier, ids)
                for old, vec in before.values():
                    self._psm.store.upsert(self.key, old.tier, [old], vec[None, :])
                raise
            texts = {r.id: r.text for r in recs}
            self._psm.store.delete_sentences(self.key, [rid for rid, (old, _) in before.items() if old.text != texts[rid]])
            for i, r in enumerate(recs):
                self._working.remove(r.id)
                self._dirty.discard(r.id)
                if r.tier is Tier.WORKING:
                    idx.remove(r.id)
                    self._working.add(r, vecs[i])
                else:
                    idx.put(r, vecs[i])
        logger.info("user %s imported %d records", self.key[:8], len(recs))
        return recs

    def profile(self, as_of: datetime | None = None) -> Profile:
        """The user's facts by attribute: those believed now, or at user time ``as_of`` (:mod:`psm_core.profile`)."""
        as_of = check_timestamp(as_of, "as_of")
        idx = self._ensure_loaded()
        with idx.lock:
            recs = list(idx.records.values())
        return build_profile(self.user_id, recs, as_of)

    def stats(self) -> MemoryStats:
        idx = self._ensure_loaded()
        with idx.lock:
            recs = list(idx.records.values())
        tiers = {t.value: 0 for t in Tier}
        statuses = {s.value: 0 for s in Status}
        kinds = {k.value: 0 for k in Kind}
        for r in recs:
            tiers[r.tier.value] += 1
            statuses[r.status.value] += 1
            kinds[r.kind.value] += 1
        tiers[Tier.SENSORY.value] = len(self._sensory)
        tiers[Tier.WORKING.value] = len(self._working)
        return MemoryStats(
            user_id=self.user_id, tiers=tiers, statuses=statuses, kinds=kinds, total=len(recs),
            tokens=sum(count_tokens(r.text) for r in recs), latest_activity=idx.latest,
        )  # fmt: skip

    # -- async twins ----------------------------------------------------------------------------
    async def aobserve(self, text: str, **kwargs: Any) -> MemoryRecord:
        return await asyncio.to_thread(self.observe, text, **kwargs)

    async def aobserve_many(self, events: Iterable[Event | Mapping[str, Any] | str], **kwargs: Any) -> list[MemoryRecord]:
        return await asyncio.to_thread(self.observe_many, list(events), **kwargs)

    async def aremember(self, text: str, **kwargs: Any) -> MemoryRecord:
        return await asyncio.to_thread(self.remember, text, **kwargs)

    async def arecall(self, query: str, **kwargs: Any) -> RecallResult:
        return await asyncio.to_thread(self.recall, query, **kwargs)

    async def aget(self, record_id: str) -> MemoryRecord:
        return await asyncio.to_thread(self.get, record_id)

    async def asources(self, record_id: str) -> list[MemoryRecord]:
        return await asyncio.to_thread(self.sources, record_id)

    async def aupdate(self, record_id: str, **kwargs: Any) -> MemoryRecord:
        return await asyncio.to_thread(self.update, record_id, **kwargs)

    async def aforget(self, record_id: str) -> None:
        await asyncio.to_thread(self.forget, record_id)

    async def aerase(self) -> None:
        await asyncio.to_thread(self.erase)

    async def aexport(self, path: str | Path | None = None) -> str:
        return await asyncio.to_thread(self.export, path)

    async def astats(self) -> MemoryStats:
        return await asyncio.to_thread(self.stats)

    async def aprofile(self, as_of: datetime | None = None) -> Profile:
        return await asyncio.to_thread(self.profile, as_of)

    async def arecords(self, tier: Tier | str | None = None, *, session_id: str | None = None) -> list[MemoryRecord]:
        return await asyncio.to_thread(self.records, tier, session_id=session_id)

    async def aworking(self, session_id: str | None = None) -> list[MemoryRecord]:
        return await asyncio.to_thread(self.working, session_id)

    async def asensory(self) -> list[Event]:
        return await asyncio.to_thread(self.sensory)

    async def aimport_records(self, source: str | Path, *, as_user: bool = False) -> list[MemoryRecord]:
        return await asyncio.to_thread(self.import_records, source, as_user=as_user)

    async def alog_retrieval(self, result: RecallResult, **kwargs: Any) -> str:
        return await asyncio.to_thread(self.log_retrieval, result, **kwargs)

    async def afeedback(self, retrieval: str | RecallResult, outcome: str, **kwargs: Any) -> str:
        return await asyncio.to_thread(self.feedback, retrieval, outcome, **kwargs)

    # -- consolidation: thin delegates to psm_core.consolidation (logic lives there) -------------
    def end_session(self, session_id: str | None = None) -> str:
        """Mark ``session_id`` as ended: queues a consolidation pass of this user; returns the job id."""
        session_id = check_optional_str(session_id, "session_id")
        return self._psm.consolidation.end_session(self.user_id, session_id)

    def review_queue(self, *, include_resolved: bool = False) -> list[Conflict]:
        """Contradictions flagged by consolidation, awaiting a decision (oldest first)."""
        check_bool(include_resolved, "include_resolved")
        return self._psm.consolidation.review_queue(self.user_id, include_resolved=include_resolved)

    def resolve(self, conflict_id: str, *, keep: str, source: str = "api") -> Conflict:
        """Resolve a flagged conflict: keep the ``new`` fact, the ``old`` one or ``both`` (logged)."""
        check_id(conflict_id, "conflict_id")
        if keep not in ("new", "old", "both"):
            raise InvalidInputError(f"keep must be 'new', 'old' or 'both', got {keep!r}")
        source = check_optional_str(source, "source") or "api"
        return self._psm.consolidation.resolve(self.user_id, conflict_id, keep, source=source)

    async def aend_session(self, session_id: str | None = None) -> str:
        return await asyncio.to_thread(self.end_session, session_id)

    async def areview_queue(self, **kwargs: Any) -> list[Conflict]:
        return await asyncio.to_thread(self.review_queue, **kwargs)

    async def aresolve(self, conflict_id: str, *, keep: str, source: str = "api") -> Conflict:
        return await asyncio.to_thread(self.resolve, conflict_id, keep=keep, source=source)

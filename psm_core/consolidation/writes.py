"""Batched, optimistic-concurrency writes of a consolidation pass to one user's store.

Each change is computed from a snapshot of the record outside the store lock, then written only
when the record's ``version`` is unchanged; records changed meanwhile are re-read and recomputed
(tenacity retries), so writes that arrive during a pass are never overwritten. Changes merge onto
the current record, so access statistics updated by concurrent recalls survive too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from psm_core.errors import InvalidInputError, PSMError, VersionConflictError
from psm_core.types import PERSISTENT_TIERS, MemoryRecord, Tier

if TYPE_CHECKING:
    from psm_core.memory import UserMemory

__all__ = ["ConsolidationAborted", "Hook", "RecordWriter"]

logger = logging.getLogger(__name__)

Hook = Callable[[str], None]
"""Called with an event name after each step and write of a pass (progress, heartbeats, crash tests)."""

Compute = Callable[[list[MemoryRecord]], "list[dict[str, Any] | None]"]


class ConsolidationAborted(PSMError):
    """The user was erased while a pass ran; the pass stopped without writing anything more."""


class RecordWriter:
    """Writes of one pass: create records, converge records to target fields, repair moves."""

    def __init__(self, mem: UserMemory, *, alive: Callable[[], bool], hook: Hook | None = None, retries: int = 8) -> None:
        self.mem = mem
        self._alive = alive
        self._hook = hook
        self._retries = retries
        self.writes = 0

    def _event(self, name: str) -> None:
        if self._hook is not None:
            self._hook(name)

    def _check(self) -> None:
        if not self._alive():
            raise ConsolidationAborted(f"user {self.mem.key[:8]} was erased during consolidation")

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Hold the user's store lock and fail when the user was erased (for writes outside the store)."""
        with self.mem._ensure_loaded().lock:
            self._check()
            yield

    def create(self, records: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> int:
        """Insert ``records`` whose ids are not stored yet (one store call per tier); returns how many."""
        mem, store = self.mem, self.mem._psm.store
        idx = mem._ensure_loaded()
        with idx.lock:
            self._check()
            fresh = [i for i, r in enumerate(records) if r.id not in idx.records]
            if not fresh:
                return 0
            store.register_user(mem.user_id)
            for tier in PERSISTENT_TIERS:
                rows = [i for i in fresh if records[i].tier is tier]
                if rows:
                    store.upsert(mem.key, tier, [records[i] for i in rows], vectors[rows])
            for i in fresh:
                idx.put(records[i], vectors[i])
        self.writes += 1
        self._event("write")
        return len(fresh)

    def converge(self, ids: Sequence[str], compute: Compute) -> list[MemoryRecord]:
        """Bring records ``ids`` to the changes ``compute(records)`` returns (None: already there).

        Missing ids are skipped. Returns the records written. Idempotent when ``compute`` is.
        """
        pending = list(dict.fromkeys(ids))
        written: list[MemoryRecord] = []
        retrying = Retrying(
            stop=stop_after_attempt(self._retries),
            wait=wait_random_exponential(multiplier=0.01, max=0.5),
            retry=retry_if_exception_type(VersionConflictError),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                snap = self._snapshot(pending)
                changes = list(compute(snap))
                todo = [(r, c) for r, c in zip(snap, changes) if c]
                if not todo:
                    pending = []
                    continue
                self._event("computed")
                done, conflicted = self._write(todo)
                written.extend(done)
                pending = conflicted
                if conflicted:
                    cur = self.mem._ensure_loaded().records.get(conflicted[0])
                    logger.debug("%d records changed during consolidation; recomputing", len(conflicted))
                    raise VersionConflictError(conflicted[0], -1, cur.version if cur else -1)
        return written

    def _snapshot(self, ids: Sequence[str]) -> list[MemoryRecord]:
        idx = self.mem._ensure_loaded()
        with idx.lock:
            return [idx.records[i] for i in ids if i in idx.records]

    def _write(self, todo: Sequence[tuple[MemoryRecord, dict[str, Any]]]) -> tuple[list[MemoryRecord], list[str]]:
        mem, store = self.mem, self.mem._psm.store
        idx = mem._ensure_loaded()
        done: list[tuple[MemoryRecord, Tier]] = []
        conflicted: list[str] = []
        with idx.lock:
            self._check()
            mem._flush_derived()  # what observing wrote behind must be in the store before a pass rewrites it
            for snap, change in todo:
                if "text" in change:
                    raise InvalidInputError("consolidation writes never change a record's text")
                cur = idx.records.get(snap.id)
                if cur is None:
                    continue
                if cur.version != snap.version:
                    conflicted.append(snap.id)
                    continue
                try:
                    new = MemoryRecord.model_validate({**cur.model_dump(), **change, "version": cur.version + 1})
                except ValidationError as exc:
                    raise InvalidInputError(f"invalid consolidation change of {snap.id}: {exc.errors()[0]['msg']}") from exc
                done.append((new, cur.tier))
            if not done:
                return [], conflicted
            moved = [(n, old) for n, old in done if n.tier is not old]
            for tier in PERSISTENT_TIERS:
                same = [n for n, old in done if n.tier is tier and old is tier]
                store.update_meta(mem.key, tier, same)
                into = [n for n, _ in moved if n.tier is tier]
                if into:
                    store.upsert(mem.key, tier, into, np.stack([idx.vector(n.id) for n in into]))
            if moved:
                self._event("write:copied")
            for tier in PERSISTENT_TIERS:
                store.delete(mem.key, tier, [n.id for n, old in moved if old is tier])
            for n, _ in done:
                idx.put(n, None)
                mem._dirty.discard(n.id)
        self.writes += 1
        self._event("write")
        return [n for n, _ in done], conflicted

    def repair_moves(self) -> int:
        """Delete stale copies left in a record's former tier by a move interrupted between copy and delete."""
        mem, store = self.mem, self.mem._psm.store
        idx = mem._ensure_loaded()
        removed = 0
        with idx.lock:
            self._check()
            by_tier: dict[Tier, list[str]] = {}
            for r in idx.records.values():
                by_tier.setdefault(r.tier, []).append(r.id)
            for tier in PERSISTENT_TIERS:
                others = [i for t, ids in by_tier.items() if t is not tier for i in ids]
                stale = list(store.get_vectors(mem.key, tier, others)) if others else []
                if stale:
                    store.delete(mem.key, tier, stale)
                    removed += len(stale)
        if removed:
            logger.info("user %s: removed %d stale copies of moved records", mem.key[:8], removed)
        return removed

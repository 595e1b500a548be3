"""PSM as a benchmarked system, driven only through its public API.

* Ingestion: the live path by default, one ``observe`` per turn as the adapters call it (real
  timestamps, ``role`` = speaker, metadata naming the benchmark unit: ``dia_id`` for LoCoMo,
  ``session_id`` for LongMemEval); ``live=False`` uses one ``observe_many`` per session (the bulk path,
  which gives the same store: tests/test_benchmarks_runs.py). The relevance
  gate decides what is stored; a turn it drops lives only in working memory, which recall does not
  search by default, so a dropped evidence turn is a miss, exactly as in the product.
* Mapping back: a recalled memory covers its own unit (metadata) plus the units of every record in
  its provenance, followed recursively (a consolidated fact covers the turns it was distilled from).
* Access statistics: ``recall`` updates recall counts and last-access times, which feed recency and
  strength. With ``isolate=True`` (the default) every question sees the store as ingested: after each
  question the touched records get their recall_count/last_access back. The public way,
  ``mem.update``, costs one Chroma write per record (~1.5 s per LoCoMo question on a busy 2-core
  machine), so the harness resets the in-process copy directly when ``UserMemory`` still has the
  ``_index``/``_dirty`` attributes it was written against, and falls back to ``mem.update`` otherwise.
  Nothing else in the harness touches PSM internals. ``isolate=False`` lets the statistics
  accumulate in question order, as in a long-running app.
* Consolidation: ``psm.consolidate(user_id)`` when the installed PSM has it (checked with hasattr).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.metrics import dedupe
from benchmarks.systems import Hit
from psm_core import PSM, MemoryRecord, NotFoundError, PSMSettings, Tier
from psm_core.embeddings import Embedder
from psm_core.memory import UserMemory
from psm_core.provenance import sources

__all__ = ["IngestReport", "MAX_TEXT_BYTES", "PsmSystem"]

# LongMemEval has a few pasted turns over PSM's default 64 KiB limit; the benchmark raises the limit
# (the documented PSM_MAX_TEXT_BYTES setting) so that every turn stays one memory, as in the baselines.
MAX_TEXT_BYTES = 1 << 20


@dataclass
class IngestReport:
    turns: int = 0
    stored: int = 0
    ms: float = 0.0
    dropped_units: list[str] = field(default_factory=list)
    dropped_metadata: list[dict[str, Any]] = field(default_factory=list)


class PsmSystem:
    """One PSM home for a whole benchmark run; one user per conversation or question."""

    def __init__(
        self, home: Path, embedder: Embedder, *, unit_key: str, skill: str | None = None, isolate: bool = True, live: bool = True
    ) -> None:
        overrides: dict[str, Any] = {"home": home, "max_text_bytes": MAX_TEXT_BYTES}
        if skill:
            overrides["skill"] = skill
        self.psm = PSM(PSMSettings(**overrides), embedder=embedder)
        self.unit_key = unit_key
        self.isolate = isolate
        self.live = live
        self._snapshot: dict[str, dict[str, tuple[int, datetime | None]]] = {}
        self._touched: dict[str, set[str]] = {}
        self.restore_ms = 0.0

    @property
    def skill_name(self) -> str:
        return str(self.psm.skill.name)

    @property
    def can_consolidate(self) -> bool:
        return callable(getattr(self.psm, "consolidate", None))

    def memory(self, user: str) -> UserMemory:
        return self.psm.for_user(user)

    def ingest(self, user: str, sessions: Sequence[Sequence[Mapping[str, Any]]]) -> IngestReport:
        """Observe every session in order: one ``observe`` per turn (live), or one ``observe_many`` per session."""
        mem = self.memory(user)
        rep = IngestReport()
        for events in sessions:
            if not events:
                continue
            t0 = time.perf_counter()
            if self.live:
                recs = [mem.observe(e["text"], **{k: v for k, v in e.items() if k != "text"}) for e in events]
            else:
                recs = mem.observe_many(list(events))
            rep.ms += (time.perf_counter() - t0) * 1000.0
            rep.turns += len(recs)
            for r in recs:
                unit = r.metadata.get(self.unit_key)
                units = (str(unit),) if unit is not None else ()
                if r.tier is not Tier.WORKING:
                    rep.stored += 1
                else:
                    rep.dropped_units.extend(units)
                    rep.dropped_metadata.append(dict(r.metadata))
        self.snapshot(user)
        return rep

    def consolidate(self, user: str) -> dict[str, Any]:
        """Run one consolidation pass for ``user``; its time and outcome."""
        t0 = time.perf_counter()
        result: Any = self.psm.consolidate(user)
        ms = (time.perf_counter() - t0) * 1000.0
        self.snapshot(user)
        if hasattr(result, "model_dump"):
            result = result.model_dump(mode="json")
        elif not isinstance(result, (dict, list, str, int, float, type(None))):
            result = repr(result)[:500]
        return {"ms": ms, "result": result, "tiers": self.tiers(user)}

    def tiers(self, user: str) -> dict[str, int]:
        st = self.memory(user).stats()
        return {t: n for t, n in st.tiers.items() if t in ("episodic", "semantic", "archival")}

    def snapshot(self, user: str) -> None:
        """Remember every record's access statistics (what :meth:`restore` returns to)."""
        self._snapshot[user] = {r.id: (r.recall_count, r.last_access) for r in self.memory(user).records()}
        self._touched[user] = set()

    def units_of(self, mem: UserMemory, record: MemoryRecord) -> tuple[str, ...]:
        """Benchmark units a memory covers: its own, then its source episodes' (``mem.sources``), oldest first."""
        out: list[str] = []
        unit = record.metadata.get(self.unit_key)
        if unit is not None:
            out.append(str(unit))
        for src in sources(record, mem.get):
            got = src.metadata.get(self.unit_key)
            if got is not None:
                out.append(str(got))
        return tuple(dedupe(out))

    def recall(
        self, user: str, query: str, k: int, now: datetime | None = None, token_budget: int | None = None,
        rerank: int | None = None,
    ) -> tuple[list[Hit], float]:  # fmt: skip
        """``mem.recall(query, k=k, token_budget=..., rerank=...)`` as hits, and its latency in ms."""
        mem = self.memory(user)
        t0 = time.perf_counter()
        res = mem.recall(query, k=k, now=now, token_budget=token_budget, rerank=rerank)
        ms = (time.perf_counter() - t0) * 1000.0
        self._touched.setdefault(user, set()).update(res.ids)
        return [Hit(self.units_of(mem, m.record), m.render(), m.tier.value) for m in res.memories], ms

    def restore(self, user: str) -> None:
        """Give records touched since the last restore their snapshot access statistics (isolate mode)."""
        if not self.isolate:
            return
        t0 = time.perf_counter()
        mem = self.memory(user)
        snap = self._snapshot.get(user, {})
        for rid in self._touched.get(user, set()):
            if rid not in snap:
                continue
            try:
                cur = mem.get(rid)
            except NotFoundError:
                continue
            count, last = snap[rid]
            if (cur.recall_count != count or cur.last_access != last) and not _reset_in_place(mem, rid, count, last):
                mem.update(rid, recall_count=count, last_access=last)
        self._touched[user] = set()
        self.restore_ms += (time.perf_counter() - t0) * 1000.0

    def erase(self, user: str) -> None:
        self.memory(user).erase()
        self._snapshot.pop(user, None)
        self._touched.pop(user, None)

    def close(self) -> None:
        self.psm.close()


def _reset_in_place(mem: UserMemory, rid: str, count: int, last: datetime | None) -> bool:
    """Undo a recall's access-statistics update in the in-process index; False when the internals differ."""
    idx = getattr(mem, "_index", None)
    dirty = getattr(mem, "_dirty", None)
    records = getattr(idx, "records", None)
    if idx is None or not isinstance(dirty, set) or not isinstance(records, dict) or not hasattr(idx, "lock"):
        return False
    with idx.lock:
        rec = records.get(rid)
        if rec is None:
            return True
        records[rid] = rec.model_copy(update={"recall_count": count, "last_access": last})
        dirty.discard(rid)
    return True

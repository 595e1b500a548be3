"""Lossless conversion between :class:`MemoryRecord` and a Chroma (document, metadata) pair."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psm_core.types import MemoryRecord

__all__ = ["from_chroma", "to_chroma"]

_TIMES = ("created_at", "observed_at", "last_access", "valid_from", "valid_to")
_SCALARS = (
    "user_id", "tier", "kind", "role", "status", "strength", "decay_rate", "recall_count",
    "emotional_weight", "confidence", "importance", "version",
)  # fmt: skip


def to_chroma(record: MemoryRecord) -> tuple[str, dict[str, Any]]:
    """(document, metadata) for ``record``; times keep their offsets, lists/dicts go as JSON."""
    meta: dict[str, Any] = {}
    for name in _SCALARS:
        value = getattr(record, name)
        meta[name] = value.value if hasattr(value, "value") else value
    for name in _TIMES:
        value = getattr(record, name)
        meta[name] = value.isoformat() if value is not None else ""
    meta["observed_ts"] = record.observed_at.timestamp()
    meta["session_id"] = record.session_id if record.session_id is not None else ""
    meta["has_session"] = record.session_id is not None
    meta["context"] = record.context or ""
    meta["provenance"] = json.dumps(record.provenance, ensure_ascii=False)
    meta["meta"] = json.dumps(record.metadata, ensure_ascii=False, sort_keys=True, default=str)
    return record.text, meta


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def from_chroma(record_id: str, document: str | None, meta: dict[str, Any]) -> MemoryRecord:
    """Inverse of :func:`to_chroma`."""
    fields: dict[str, Any] = {name: meta[name] for name in _SCALARS if name in meta}
    for name in _TIMES:
        fields[name] = _time(meta.get(name))
    if fields["created_at"] is None:
        del fields["created_at"]
    if fields["observed_at"] is None:
        del fields["observed_at"]
    fields["session_id"] = meta.get("session_id") if meta.get("has_session") else None
    fields["context"] = meta.get("context") or None
    fields["provenance"] = json.loads(meta.get("provenance") or "[]")
    fields["metadata"] = json.loads(meta.get("meta") or "{}")
    return MemoryRecord(id=record_id, text=document or "", **fields)

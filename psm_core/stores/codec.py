"""Lossless conversion between :class:`MemoryRecord` and a Chroma (document, metadata) pair.

The record's fields travel as one JSON string (``record``), beside a few plain keys kept for whoever
inspects a collection directly (tier, kind, status, session, observed time). One JSON value instead of
two dozen metadata keys makes every write and every load of a user's store lighter for Chroma (about
1 ms less per single add at 90k records). Metadata written by earlier versions, one key per field, is
still read.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any

from psm_core.types import MemoryRecord

__all__ = ["from_chroma", "to_chroma"]

_RECORD = "record"
_TIMES = ("created_at", "observed_at", "last_access", "valid_from", "valid_to")
_SCALARS = (
    "user_id", "tier", "kind", "role", "status", "strength", "decay_rate", "recall_count",
    "emotional_weight", "confidence", "importance", "version",
)  # fmt: skip


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return str(value)


def to_chroma(record: MemoryRecord) -> tuple[str, dict[str, Any]]:
    """(document, metadata) for ``record``; times keep their offsets."""
    fields = record.model_dump(exclude={"id", "text"})
    meta: dict[str, Any] = {
        _RECORD: json.dumps(fields, ensure_ascii=False, sort_keys=True, default=_json_default),
        "tier": record.tier.value,
        "kind": record.kind.value,
        "status": record.status.value,
        "session_id": record.session_id if record.session_id is not None else "",
        "observed_ts": record.observed_at.timestamp(),
    }
    return record.text, meta


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _legacy_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """The fields of metadata written one key per field (before the ``record`` JSON)."""
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
    return fields


def from_chroma(record_id: str, document: str | None, meta: dict[str, Any]) -> MemoryRecord:
    """Inverse of :func:`to_chroma`.

    The packed fields are validated as JSON by pydantic directly (id and text spliced in), half the
    time of ``json.loads`` + validation: loading a user's store decodes every record."""
    packed = meta.get(_RECORD)
    if isinstance(packed, str) and packed.startswith("{") and packed != "{}":
        head = f'{{"id":{json.dumps(record_id)},"text":{json.dumps(document or "")},'
        return MemoryRecord.model_validate_json(head + packed[1:])
    fields = json.loads(packed) if isinstance(packed, str) else _legacy_fields(meta)
    return MemoryRecord.model_validate({**fields, "id": record_id, "text": document or ""})

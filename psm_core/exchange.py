"""The export format (JSON lines, one :class:`~psm_core.types.MemoryRecord` a line) read back for import.

:meth:`UserMemory.export <psm_core.memory.UserMemory.export>` writes it; :func:`read_export` checks every line
with the door checks of ``remember`` (:mod:`psm_core.validation`) before
:meth:`UserMemory.import_records <psm_core.memory.UserMemory.import_records>` writes anything, so an import
is all or nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from psm_core.errors import InvalidInputError, PSMError
from psm_core.text import clean_text
from psm_core.types import PERSISTENT_TIERS, MemoryRecord, Tier
from psm_core.validation import MAX_ID_CHARS, check_id, check_ids, check_metadata, check_optional_str, check_timestamp

__all__ = ["read_export"]

_MAX_ROLE_CHARS = 128
_TIMES = ("created_at", "observed_at", "last_access", "valid_from", "valid_to")


def _text_of(source: str | Path) -> str:
    """The JSON lines of ``source``: a Path, or a str that is JSON lines (empty, or starting with ``{``), else a file name."""
    if isinstance(source, str) and (not source.strip() or source.lstrip().startswith("{")):
        return source
    if not isinstance(source, (str, Path)):
        raise InvalidInputError(f"import takes a path or the text of an export, got {type(source).__name__}")
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInputError(f"cannot read the export {source}: {reason}") from exc


def _record(line: str, user_id: str, as_user: bool, max_text_bytes: int) -> MemoryRecord:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise InvalidInputError(f"a record is a JSON object, got {type(row).__name__}")
    owner = row.get("user_id")
    if owner != user_id:
        if not as_user:
            raise InvalidInputError(
                f"a record of user {owner!r}, not {user_id!r}: pass as_user=True (psm import --as-user) to import it as {user_id!r}"
            )
        row["user_id"] = user_id
    try:
        rec = MemoryRecord.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInputError(f"invalid record: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if rec.tier not in (*PERSISTENT_TIERS, Tier.WORKING):
        raise InvalidInputError(f"tier {rec.tier.value} is not imported (persistent tiers and working memory are)")
    check_id(rec.id, "id")
    for name in _TIMES:
        check_timestamp(getattr(rec, name), name)
    return rec.model_copy(
        update={
            "text": clean_text(rec.text, max_bytes=max_text_bytes),
            "role": check_optional_str(rec.role, "role", max_chars=_MAX_ROLE_CHARS),
            "session_id": check_optional_str(rec.session_id, "session_id", max_chars=MAX_ID_CHARS),
            "context": None if not rec.context else clean_text(rec.context, max_bytes=max_text_bytes, what="context"),
            "attribute": check_optional_str(rec.attribute, "attribute"),
            "provenance": check_ids(rec.provenance, "provenance"),
            "metadata": check_metadata(rec.metadata),
            "ledger": check_metadata(rec.ledger, what="ledger"),
        }
    )


def read_export(source: str | Path, user_id: str, *, as_user: bool = False, max_text_bytes: int = 65536) -> list[MemoryRecord]:
    """The records of an export (a path, or its text), every one checked; :class:`InvalidInputError` naming the
    line of the first that fails. A record of another user is refused unless ``as_user`` (it becomes
    ``user_id``'s); an id twice is refused."""
    out: list[MemoryRecord] = []
    seen: set[str] = set()
    for n, line in enumerate(_text_of(source).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = _record(line, user_id, as_user, max_text_bytes)
        except PSMError as exc:
            raise InvalidInputError(f"export line {n}: {exc}") from None
        if rec.id in seen:
            raise InvalidInputError(f"export line {n}: record id {rec.id!r} appears twice")
        seen.add(rec.id)
        out.append(rec)
    return out

"""Argument checks at the door of every public call: what a caller passes is refused with an
:class:`~psm_core.errors.InvalidInputError` naming the argument, before anything is written.

Nothing that passes these checks can make a user's store unreadable later: metadata is plain JSON of
bounded depth and size (no sets, bytes or objects silently stringified), timestamps are aware and within
years :data:`MIN_YEAR`–:data:`MAX_YEAR` (so date arithmetic in decay and time parsing can never
overflow), numbers are finite. Loading stays tolerant of whatever older versions stored
(:mod:`psm_core.stores.codec`); strictness lives here, not in the record model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from psm_core.errors import InvalidInputError
from psm_core.ledger import LEGACY_KEY
from psm_core.types import Kind, Tier

__all__ = [
    "MAX_ID_CHARS",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "check_bool",
    "check_fraction",
    "check_id",
    "check_ids",
    "check_int",
    "check_kind",
    "check_metadata",
    "check_optional_str",
    "check_tier",
    "check_tiers",
    "check_timestamp",
]

MIN_YEAR = 1000
MAX_YEAR = 8999
"""Timestamps are accepted within these years: a millennium of margin on both sides of ``datetime``'s range."""

MAX_METADATA_DEPTH = 16
MAX_METADATA_BYTES = 65536
MAX_ID_CHARS = 256
_MAX_INT = 2**63


def _clean_str(value: str) -> str:
    """``value`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _has_surrogate(value) else value


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in value)


def _json_value(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_METADATA_DEPTH:
        raise InvalidInputError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels at {path}: flatten it")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= _MAX_INT:
            raise InvalidInputError(f"metadata integer at {path} is out of the 64-bit range: store it as a string")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"metadata number at {path} is {value}: only finite numbers are JSON")
        return float(value)
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"metadata keys must be strings, got {type(k).__name__} {k!r} at {path}")
            out[_clean_str(k)] = _json_value(v, f"{path}.{k}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    raise InvalidInputError(
        f"metadata value at {path} is a {type(value).__name__}: use JSON values only (str, int, float, bool, None, lists, dicts)"
    )


def check_metadata(metadata: object, *, what: str = "metadata") -> dict[str, Any]:
    """``metadata`` as a plain JSON dict (None → ``{}``); :class:`InvalidInputError` otherwise.

    Refused: a non-mapping, non-string keys, sets, bytes and other objects, NaN/inf, nesting deeper than
    :data:`MAX_METADATA_DEPTH`, more than :data:`MAX_METADATA_BYTES` serialized, and the reserved key
    ``"_psm"`` (the library's own bookkeeping lives apart, in ``MemoryRecord.ledger``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{what} must be a dict of JSON values, got {type(metadata).__name__}")
    if LEGACY_KEY in metadata:
        raise InvalidInputError(f"{what} key {LEGACY_KEY!r} is reserved for the library's bookkeeping: use another key")
    out = _json_value(metadata, what, 1)
    size = len(json.dumps(out, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInputError(f"{what} is {size} bytes as JSON, over the limit of {MAX_METADATA_BYTES}: store less")
    return out


def check_timestamp(value: object, what: str = "timestamp") -> datetime | None:
    """An aware datetime within :data:`MIN_YEAR`–:data:`MAX_YEAR`, or None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{what} must be a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInputError(f"{what} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {value!r}")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInputError(f"{what} year {value.year} is outside {MIN_YEAR}-{MAX_YEAR}")
    return value


def check_int(value: object, what: str, *, low: int, high: int | None = None) -> int:
    """An int (not a bool) within ``[low, high]``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{what} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInputError(f"{what} must be {bound}, got {value}")
    return value


def check_fraction(value: object, what: str) -> float:
    """A finite number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{what} must be a number between 0 and 1, got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidInputError(f"{what} must be a number between 0 and 1, got {value!r}")
    return float(value)


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be True or False, got {value!r}")
    return value


def check_optional_str(value: object, what: str, *, max_chars: int = MAX_ID_CHARS) -> str | None:
    """None, or a non-empty string of at most ``max_chars`` characters without lone surrogates or NUL."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string or None, got {value!r}")
    if len(value) > max_chars or "\x00" in value or _has_surrogate(value):
        raise InvalidInputError(f"{what} must be at most {max_chars} characters, without NUL or lone surrogates")
    return value


def check_id(value: object, what: str = "record_id") -> str:
    """A record id: a non-empty string (an id that was never issued is simply not found)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or "\x00" in value or _has_surrogate(value):
        raise InvalidInputError(f"{what} must be a record id (a non-empty string), got {value!r}")
    return value


def check_ids(values: object, what: str) -> list[str]:
    """A collection of record ids (a str alone is refused: it is one id, not a list of characters)."""
    if values is None or isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInputError(f"{what} must be a list of record ids, got {values!r}")
    return [check_id(v, what) for v in values]


def check_tier(value: object, what: str = "tier") -> Tier:
    try:
        return Tier(value)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{what} must be one of {[t.value for t in Tier]}, got {value!r}") from None


def check_tiers(values: object) -> set[Tier]:
    """A set of tiers from a list of tiers or names (a single tier is accepted too)."""
    if isinstance(values, (Tier, str)):
        return {check_tier(values, "tiers")}
    if not isinstance(values, Sequence) and not isinstance(values, (set, frozenset)):
        raise InvalidInputError(f"tiers must be a list of tiers, got {values!r}")
    out = {check_tier(v, "tiers") for v in values}
    if not out:
        raise InvalidInputError("tiers is empty: leave it out for the default tiers")
    return out


def check_kind(value: object) -> Kind:
    try:
        return Kind(value)
    except (ValueError, TypeError):
        raise InvalidInputError(f"kind must be one of {[k.value for k in Kind]}, got {value!r}") from None

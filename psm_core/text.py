"""Input validation and sanitizing for texts and user ids, the token estimate and sentence splitting.

Sanitizing is deterministic and what it returns is exactly what is stored and returned later:
NUL and other C0 control characters (except tab, newline, carriage return) are removed, the
invisible format characters U+200B (zero-width space), U+2060 (word joiner) and U+FEFF (byte-order
mark) are removed, and lone surrogates (which cannot be encoded as UTF-8) become U+FFFD.
Zero-width joiners/non-joiners stay: emoji sequences and several scripts need them.
"""

from __future__ import annotations

import math
import re

from psm_core.errors import EmptyTextError, InvalidInputError, InvalidUserIdError, TextTooLongError

__all__ = ["clean_text", "count_tokens", "sentences", "validate_user_id"]

_STRIP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2060\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WILDCARDS = frozenset({"*", "%", "?", "**", ".*"})
MAX_USER_ID_CHARS = 512


def clean_text(text: object, *, max_bytes: int, what: str = "text") -> str:
    """Return the sanitized ``text``; raise a typed error when it is not a usable string."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be a str, got {type(text).__name__}")
    cleaned = _SURROGATE.sub("\ufffd", _STRIP.sub("", text))
    if not cleaned.strip() or not cleaned.replace("\u200c", "").replace("\u200d", "").strip():
        raise EmptyTextError(what)
    size = len(cleaned.encode("utf-8"))
    if size > max_bytes:
        raise TextTooLongError(size, max_bytes)
    return cleaned


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` unchanged when valid; raise :class:`InvalidUserIdError` otherwise.

    Ids are used literally (never normalized or trimmed), so quotes, ``$``, backticks and any
    unicode are fine; only missing, blank, wildcard or uncodable ids are refused.
    """
    if not isinstance(user_id, str) or not user_id.strip() or user_id.strip() in _WILDCARDS:
        raise InvalidUserIdError(user_id)
    if "\x00" in user_id or _SURROGATE.search(user_id) or len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidUserIdError(user_id)
    return user_id


def count_tokens(text: str) -> int:
    """Estimated LLM tokens of ``text``: one per 4 characters, the usual rule for English."""
    return max(1, math.ceil(len(text) / 4))


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def sentences(text: str, *, min_words: int = 4, max_chars: int = 300) -> list[str]:
    """The sentences of ``text`` with at least ``min_words`` words, each cut to ``max_chars``.

    Splits after ``.``, ``!``, ``?`` (and their CJK forms) followed by white space, and at line
    breaks. Short fragments ("Thanks!", "Sounds good.") are left out; a text with no sentence that
    long gives an empty list."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if len(part.split()) >= min_words:
            out.append(part[:max_chars])
    return out

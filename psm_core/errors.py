"""The PSM exception hierarchy. Every error the library raises derives from :class:`PSMError`.

```
PSMError
├── ConfigurationError        bad settings or an unusable PSM_HOME / server address
├── InvalidInputError         bad arguments (also a ValueError)
│   ├── InvalidUserIdError    user id None, empty, whitespace or a wildcard
│   ├── EmptyTextError        text empty after sanitizing
│   └── TextTooLongError      text over ``max_text_bytes``
├── NotFoundError             no such record for this user (also a KeyError)
├── VersionConflictError      optimistic-concurrency check failed
├── StoreLockedError          another process holds PSM_HOME for writing
├── PSMClosedError            the PSM was closed; open a new one
├── StoreError                the backing store failed (Chroma, SQLite)
├── SkillError                the memory skill failed or produced invalid output
└── MissingDependencyError    an optional extra is not installed (also an ImportError)
```
Messages say what happened and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "EmptyTextError",
    "InvalidInputError",
    "InvalidUserIdError",
    "MissingDependencyError",
    "NotFoundError",
    "PSMClosedError",
    "PSMError",
    "SkillError",
    "StoreError",
    "StoreLockedError",
    "TextTooLongError",
    "VersionConflictError",
]


class PSMError(Exception):
    """Root of every error raised by PSM."""


class ConfigurationError(PSMError):
    """Settings are invalid or point at something unusable."""


class InvalidInputError(PSMError, ValueError):
    """An argument is invalid; the message names it."""


class InvalidUserIdError(InvalidInputError):
    """A user id is missing, blank or a wildcard. User ids are never widened to all users."""

    def __init__(self, user_id: object) -> None:
        self.user_id = user_id
        super().__init__(
            f"invalid user_id {user_id!r}: pass a non-empty string that is not a wildcard "
            "('*'); PSM never widens a query to all users"
        )


class EmptyTextError(InvalidInputError):
    """The text to store or query is empty (after removing NUL and zero-width characters)."""

    def __init__(self, what: str = "text") -> None:
        super().__init__(f"{what} is empty after sanitizing: pass some visible text")


class TextTooLongError(InvalidInputError):
    """The text exceeds the configured byte limit. Nothing was written."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"text is {size} bytes (UTF-8), over the limit of {limit}: nothing was written; "
            "split it into smaller events or raise PSM_MAX_TEXT_BYTES"
        )


class NotFoundError(PSMError, KeyError):
    """No record with this id exists for this user."""

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id
        super().__init__(f"no memory {record_id!r} for this user")

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0])


class VersionConflictError(PSMError):
    """A record changed since it was read; reload it and retry."""

    def __init__(self, record_id: str, expected: int, actual: int) -> None:
        self.record_id = record_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"memory {record_id!r} is at version {actual}, expected {expected}: reload it with get() and apply the change again"
        )


class StoreLockedError(PSMError):
    """Another process has this PSM_HOME open for writing."""

    def __init__(self, path: str, reason: str | None = None) -> None:
        self.path = path
        super().__init__(
            f"{path} {reason}"
            if reason
            else f"{path} is locked by another process: an embedded store has one writer. "
            "Close the other process, or run a Chroma server (PSM_CHROMA_URL) for many processes"
        )


class PSMClosedError(PSMError):
    """The PSM was closed: its lock is released and it writes nothing more."""

    def __init__(self) -> None:
        super().__init__("this PSM is closed: open a new one (PSM.local() or PSM(settings)) to keep using the store")


class StoreError(PSMError):
    """The backing store failed."""


class SkillError(PSMError):
    """The memory skill failed or returned invalid output."""


class MissingDependencyError(PSMError, ImportError):
    """An optional dependency is missing; the message names the pip command."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(f"{module} is not installed: pip install 'psm-memory[{extra}]'")

"""The entry point: :class:`PSM` owns the store, the embedder and the memory skill, and hands out
one :class:`~psm_core.memory.UserMemory` per user.

```python
psm = PSM.local()              # embedded store under PSM_HOME (default ~/.psm)
mem = psm.for_user("alice")
```
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.config import PSMSettings
from psm_core.embeddings import Embedder, load_embedder
from psm_core.errors import StoreLockedError
from psm_core.feedback.log import FeedbackLog
from psm_core.memory import UserMemory
from psm_core.skill import MemorySkill, load_skill
from psm_core.stores.chroma import ChromaStore
from psm_core.text import validate_user_id

__all__ = ["PSM"]

logger = logging.getLogger(__name__)


class PSM:
    """A memory layer: per-user tiered stores curated by a memory skill.

    Use as a context manager (or call :meth:`close`) so pending access statistics are written and
    the embedded store's lock is released.
    """

    def __init__(
        self,
        settings: PSMSettings | None = None,
        *,
        embedder: Embedder | None = None,
        skill: MemorySkill | None = None,
    ) -> None:
        self.settings = settings if settings is not None else PSMSettings()
        self._lock_file: Any = None
        if self.settings.server is None:
            self._acquire_lock(self.settings.home)
        try:
            self.embedder: Embedder = embedder or load_embedder(
                self.settings.embedder, self.settings.embedder_backend, self.settings.model_cache / "models"
            )
            self.skill: MemorySkill = skill or load_skill(self.settings.skill, self.embedder)
            self.store = ChromaStore(self.settings)
        except BaseException:
            self._release_lock()
            raise
        self._users: dict[str, UserMemory] = {}
        self._users_lock = threading.Lock()
        self._erase_hooks: list[Callable[[str], None]] = []
        self._closed = False
        self._feedback: FeedbackLog | None = None
        self._feedback_lock = threading.Lock()
        self._erase_hooks.append(self._erase_feedback)
        logger.info(
            "PSM ready: store=%s skill=%s embedder=%s",
            "server" if self.store.is_server else self.settings.home,
            self.skill.name,
            self.embedder.name,
        )

    @classmethod
    def local(cls, home: str | Path | None = None, **overrides: Any) -> PSM:
        """An embedded PSM under ``home`` (default: PSM_HOME or ~/.psm)."""
        if home is not None:
            overrides["home"] = Path(home)
        return cls(PSMSettings(**overrides))

    # -- lock -----------------------------------------------------------------------------------
    def _acquire_lock(self, home: Path) -> None:
        from filelock import FileLock, Timeout

        home.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(home / ".psm.lock"), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout as exc:
            raise StoreLockedError(str(home)) from exc
        self._lock_file = lock

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.release(force=True)
            self._lock_file = None

    # -- users ----------------------------------------------------------------------------------
    def for_user(self, user_id: str) -> UserMemory:
        """The memory of ``user_id`` (validated; never a wildcard)."""
        uid = validate_user_id(user_id)
        with self._users_lock:
            mem = self._users.get(uid)
            if mem is None:
                mem = self._users[uid] = UserMemory(self, uid)
            return mem

    def users(self) -> list[str]:
        """Ids of every user with persistent memories."""
        return self.store.users()

    def add_erase_hook(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(user_id)`` whenever a user is erased (logs, queues and caches register here)."""
        self._erase_hooks.append(hook)

    @property
    def feedback_log(self) -> FeedbackLog:
        """The feedback log (``PSM_HOME/feedback.sqlite3``), opened on first use."""
        with self._feedback_lock:
            if self._feedback is None:
                self._feedback = FeedbackLog(self.settings.home / "feedback.sqlite3")
            return self._feedback

    def _erase_feedback(self, user_id: str) -> None:
        if self._feedback is not None or (self.settings.home / "feedback.sqlite3").exists():
            self.feedback_log.erase_user(user_id)

    def compact(self) -> None:
        """Reclaim the space of deleted and erased data in the embedded store."""
        self.flush()
        self.store.compact()

    def embed(self, texts: list[str], progress: bool = False) -> NDArray[np.float32]:
        """Embed ``texts`` with the shared embedder (with a progress bar for long batches)."""
        if progress and len(texts) > 256:
            from tqdm.auto import tqdm

            chunks = []
            for start in tqdm(range(0, len(texts), 256), desc="embedding", unit="batch"):
                chunks.append(self.embedder.embed(texts[start : start + 256]))
            return np.concatenate(chunks)
        return self.embedder.embed(texts)

    # -- lifecycle ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write pending access statistics of every user."""
        with self._users_lock:
            mems = list(self._users.values())
        for mem in mems:
            mem._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            if self._feedback is not None:
                self._feedback.close()
            self._release_lock()

    def __enter__(self) -> PSM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> PSM:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

"""The entry point: :class:`PSM` owns the store, the embedder and the memory skill, and hands out
one :class:`~psm_core.memory.UserMemory` per user.

```python
psm = PSM.local()              # embedded store under PSM_HOME (default ~/.psm)
mem = psm.for_user("alice")
```
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from psm_core.config import PSMSettings
from psm_core.embeddings import Embedder, load_embedder
from psm_core.errors import PSMClosedError, StoreLockedError
from psm_core.feedback.log import FeedbackLog
from psm_core.memory import UserMemory
from psm_core.skill import MemorySkill, load_skill
from psm_core.stores.chroma import ChromaStore
from psm_core.text import validate_user_id

if TYPE_CHECKING:  # consolidation section (end of PSM)
    from contextlib import AbstractContextManager
    from datetime import datetime

    from psm_core.consolidation import ConsolidationConfig, Consolidator, PassReport, Worker
    from psm_core.rerank import CrossEncoder

__all__ = ["PSM"]

logger = logging.getLogger(__name__)


_FLUSH_EVERY_S = 1.0
"""How often the background flusher writes what is pending (facts behind observed turns, access statistics)."""

_OPEN: dict[Path, PSM] = {}
"""Embedded homes open in this process (resolved path → PSM): opening one again shares the instance."""
_OPEN_LOCK = threading.RLock()


class PSM:
    """A memory layer: per-user tiered stores curated by a memory skill.

    Use as a context manager (or call :meth:`close`) so pending access statistics are written and
    the embedded store's lock is released.

    An embedded home has one owner per process: opening a home that is already open in this process
    returns the same instance (each open is matched by one :meth:`close`; the last one closes it), and
    only another process gets :class:`~psm_core.errors.StoreLockedError`.
    """

    _resolved: PSMSettings
    _opens: int
    _shared_again: bool
    _closed: bool
    _base_skill: MemorySkill | None

    def __new__(
        cls, settings: PSMSettings | None = None, *, embedder: Embedder | None = None, skill: MemorySkill | None = None
    ) -> PSM:
        resolved = settings if settings is not None else PSMSettings()
        if resolved.server is None:
            with _OPEN_LOCK:
                open_ = _OPEN.get(_home_key(resolved.home))
                if open_ is not None and not open_._closed:
                    open_._share(resolved, embedder, skill)
                    return open_
        self = super().__new__(cls)
        self._resolved = resolved
        return self

    def _share(self, settings: PSMSettings, embedder: Embedder | None, skill: MemorySkill | None) -> None:
        if (
            settings != self.settings
            or (embedder is not None and embedder is not self.embedder)
            or (skill is not None and skill is not self._base_skill)
        ):
            raise StoreLockedError(
                str(self.settings.home),
                "is already open in this process with other settings, embedder or skill: reuse that PSM, or close it first",
            )
        self._opens += 1
        self._shared_again = True

    def __init__(
        self,
        settings: PSMSettings | None = None,
        *,
        embedder: Embedder | None = None,
        skill: MemorySkill | None = None,
    ) -> None:
        if getattr(self, "_shared_again", False):  # an already open home: __new__ returned its instance
            self._shared_again = False
            return
        self.settings = self._resolved
        self._opens = 1
        self._lock_file: Any = None
        if self.settings.server is None:
            self._acquire_lock(self.settings.home)
        try:
            self.embedder: Embedder = embedder or load_embedder(
                self.settings.embedder, self.settings.embedder_backend, self.settings.model_cache / "models"
            )
            self._base_skill: MemorySkill | None = skill
            self.skill: MemorySkill = skill or self._with_policy(load_skill(self.settings.skill, self.embedder))
            self.store = ChromaStore(self.settings)
        except BaseException:
            self._release_lock()
            raise
        if self.settings.server is None:
            with _OPEN_LOCK:
                _OPEN[_home_key(self.settings.home)] = self
        self._users: dict[str, UserMemory] = {}
        self._users_lock = threading.Lock()
        self._erase_hooks: list[Callable[[str], None]] = []
        self._closed = False
        self._feedback: FeedbackLog | None = None
        self._feedback_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._flusher_lock = threading.Lock()
        self._flush_wanted = threading.Event()
        self._erase_hooks.append(self._erase_feedback)
        self._consolidation: Consolidator | None = None  # consolidation section (end of PSM)
        self._consolidation_lock = threading.Lock()
        self._erase_hooks.append(self._erase_consolidation)
        self._cross_encoder: CrossEncoder | None = None
        self._cross_encoder_lock = threading.Lock()
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
        self._check_open()
        uid = validate_user_id(user_id)
        with self._users_lock:
            mem = self._users.get(uid)
            if mem is None:
                mem = self._users[uid] = UserMemory(self, uid)
            return mem

    def _check_open(self) -> None:
        if self._closed:
            raise PSMClosedError()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run (a closed PSM holds no lock and writes nothing more)."""
        return self._closed

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
                self._feedback = FeedbackLog.for_settings(self.settings)
            return self._feedback

    def _erase_feedback(self, user_id: str) -> None:
        if self._feedback is not None or self.settings.database_url or (self.settings.home / "feedback.sqlite3").exists():
            self.feedback_log.erase_user(user_id)

    def compact(self) -> dict[str, int]:
        """Reclaim the space of deleted and erased data in the embedded store (no byte of an erased user's
        text stays in its files). Safe under traffic: calls wait while the files are compacted.

        Against a Chroma server this is a no-op: stop the server and run ``chroma vacuum --path DIR``
        on its data directory (docs/security.md)."""
        self._check_open()
        self.flush()
        return self.store.compact()

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
    @property
    def cross_encoder(self) -> CrossEncoder:
        """The reranker's cross-encoder (``settings.reranker`` or the shipped adapter), loaded on first use
        (the first load exports the merged model to ONNX under ``model_cache``: about 10 s, once)."""
        with self._cross_encoder_lock:
            if self._cross_encoder is None:
                from psm_core.rerank import load_cross_encoder

                self._cross_encoder = load_cross_encoder(self.settings.reranker, self.settings.model_cache / "models")
            return self._cross_encoder

    def _request_flush(self, now: bool = True) -> None:
        """Ask the background flusher to write pending writes: ``now``, or on its next round (within a second,
        so that the writes of many observed turns go to the store together)."""
        with self._flusher_lock:
            if self._closed:
                return
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="psm-flusher", daemon=True)
                self._flusher.start()
        if now:
            self._flush_wanted.set()

    def _flush_loop(self) -> None:
        while not self._closed:
            self._flush_wanted.wait(timeout=_FLUSH_EVERY_S)
            self._flush_wanted.clear()
            if self._closed:
                return
            try:
                self.flush()
            except Exception:  # never kill the thread; the next flush (or close) retries
                logger.exception("background flush of access statistics failed")

    def flush(self) -> None:
        """Write pending access statistics of every user."""
        with self._users_lock:
            mems = list(self._users.values())
        for mem in mems:
            mem._flush()

    def close(self) -> None:
        """Write pending statistics and release the store (the last close of a shared home does)."""
        with _OPEN_LOCK:
            if self._closed:
                return
            self._opens -= 1
            if self._opens > 0:
                return
            self._closed = True
            if _OPEN.get(_home_key(self.settings.home)) is self:
                del _OPEN[_home_key(self.settings.home)]
        try:
            self._close_consolidation()
            self.flush()
        finally:
            try:
                self.store.close()
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

    # -- consolidation: thin delegates to psm_core.consolidation (logic lives there) -------------
    @property
    def consolidation(self) -> Consolidator:
        """The sleep-time consolidation service (``PSM_HOME/consolidation.sqlite3``), created on first use."""
        with self._consolidation_lock:
            if self._consolidation is None:
                from psm_core.consolidation import Consolidator

                self._consolidation = Consolidator(self)
            return self._consolidation

    def configure_consolidation(self, config: ConsolidationConfig) -> Consolidator:
        """Use ``config`` for consolidation from now on (stops a running worker first)."""
        from psm_core.consolidation import Consolidator

        self._close_consolidation()
        with self._consolidation_lock:
            self._consolidation = Consolidator(self, config)
            return self._consolidation

    def consolidate(self, user_id: str, *, now: datetime | None = None) -> PassReport:
        """Run a consolidation pass for ``user_id`` now (``now`` defaults to the user's time)."""
        return self.consolidation.consolidate(validate_user_id(user_id), now=now)

    def consolidate_all(self, *, now: datetime | None = None, progress: bool = False) -> dict[str, PassReport]:
        """A consolidation pass for every user with persistent memories."""
        return self.consolidation.consolidate_all(now=now, progress=progress)

    def worker(self, *, poll_seconds: float | None = None, idle_minutes: float | None = None) -> AbstractContextManager[Worker]:
        """``with psm.worker(): ...`` runs the background consolidation worker inside the block."""
        return self.consolidation.worker(poll_seconds=poll_seconds, idle_minutes=idle_minutes)

    def start_worker(self, *, poll_seconds: float | None = None, idle_minutes: float | None = None) -> Worker:
        """Start the background consolidation worker thread; :meth:`stop_worker` or :meth:`close` stops it."""
        return self.consolidation.start_worker(poll_seconds=poll_seconds, idle_minutes=idle_minutes)

    def stop_worker(self) -> None:
        if self._consolidation is not None:
            self._consolidation.stop_worker()

    async def aconsolidate(self, user_id: str, *, now: datetime | None = None) -> PassReport:
        return await asyncio.to_thread(self.consolidate, user_id, now=now)

    async def aconsolidate_all(self, *, now: datetime | None = None, progress: bool = False) -> dict[str, PassReport]:
        return await asyncio.to_thread(self.consolidate_all, now=now, progress=progress)

    def _erase_consolidation(self, user_id: str) -> None:
        if (
            self._consolidation is not None
            or self.settings.database_url
            or (self.settings.home / "consolidation.sqlite3").exists()
        ):
            self.consolidation.on_erase(user_id)

    def _close_consolidation(self) -> None:
        with self._consolidation_lock:
            con, self._consolidation = self._consolidation, None
        if con is not None:
            con.close()

    # -- utility policy: learned from feedback (psm_core.feedback.policy; `psm learn`) ------------
    def _with_policy(self, skill: MemorySkill) -> MemorySkill:
        """``skill`` wrapped by the active utility policy of PSM_HOME/policy (unchanged when none is active)."""
        from psm_core.feedback.versions import PolicyStore

        policy = PolicyStore(self.settings.home / "policy").active()
        if policy is None:
            return skill
        from psm_core.feedback.policy import PolicySkill

        return PolicySkill(skill, policy, profile=lambda user_id: self.feedback_log.user_profile(user_id))

    def reload_policy(self) -> MemorySkill:
        """Re-read the active utility policy (after ``psm learn`` or a rollback) and re-wrap the skill."""
        from psm_core.feedback.policy import PolicySkill

        base = self.skill.base if isinstance(self.skill, PolicySkill) else self.skill
        self.skill = self._with_policy(base)
        logger.info("skill now %s", self.skill.name)
        return self.skill

    async def areload_policy(self) -> MemorySkill:
        return await asyncio.to_thread(self.reload_policy)


def _home_key(home: Path) -> Path:
    return Path(home).expanduser().resolve()

"""Feedback callbacks: which memories reached which LLM run, and how the user took the answer.

```
FeedbackTracker                        state and logic shared by both handlers
├── PSMFeedbackCallbackHandler         BaseCallbackHandler (sync chains and agents)
└── AsyncPSMFeedbackCallbackHandler    AsyncCallbackHandler (async chains and agents)
```
The link, step by step:

1. An adapter (:class:`~langchain_psm.PSMMemory`, :class:`~langchain_psm.PSMRetriever`,
   :class:`~langchain_psm.PSMMemoryMiddleware`) recalls memories for a user turn and calls
   :meth:`FeedbackTracker.expect` with the recall result.
2. When an LLM run starts whose prompt contains every one of those memories, the handler logs the
   retrieval under that run id (``mem.log_retrieval(result, run_id=str(run_id))``, content-free).
3. When the run ends, the handler keeps its output (in process only, never logged).
4. When the user's next turn arrives (the adapters call :meth:`FeedbackTracker.user_turn`), the
   PSM's correction signal ``psm.skill.is_correction(user_turn, previous_answer)`` decides, by the
   shared rule of :mod:`psm_core.feedback.attribution` (a memory is *used* when it shares a content
   word with the answer that the question lacks): a correction logs ``corrected`` (the strongest
   negative signal) for the used memories of each of the corrected turn's runs (every injected
   memory when none can be attributed); otherwise used memories are logged ``helpful`` and the
   others ``neutral``.
5. :meth:`FeedbackTracker.feedback` records an explicit rating of a run (a score in [-1, 1] or an
   outcome name).

Once the PSM is closed, the handler logs nothing more (LLM runs and user turns pass untouched).

Pass the handler to the adapters (``feedback=handler``) *and* to the run's callbacks
(``config={"callbacks": [handler]}``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from psm_core import PSM, RecallResult
from psm_core.errors import NotFoundError, PSMError
from psm_core.feedback.attribution import group_by_outcome, memory_outcomes
from psm_core.render import quote
from psm_core.stores.chroma import user_key

__all__ = ["AsyncPSMFeedbackCallbackHandler", "FeedbackTracker", "PSMFeedbackCallbackHandler"]

logger = logging.getLogger(__name__)

SOURCE = "langchain"
_MAX_PENDING = 1024
_MAX_RUNS = 4096


@dataclass
class _Injection:
    user_id: str
    session_id: str | None
    result: RecallResult
    texts: tuple[str, ...]
    created: float = field(default_factory=time.monotonic)

    def shown_in(self, prompt: str) -> bool:
        """Whether every memory is in ``prompt``: as quoted in a memories block, or as is (a retriever's document)."""
        return all(t in prompt or quote(t) in prompt for t in self.texts)


@dataclass
class _Run:
    run_id: str
    user_id: str
    session_id: str | None
    retrieval_id: str
    memory_ids: list[str]
    texts: list[str]
    question: str
    answer: str | None = None


def _prompt_text(messages: Sequence[Sequence[BaseMessage]]) -> str:
    return "\n".join(m.text for batch in messages for m in batch)


class FeedbackTracker:
    """Links injected memories to LLM runs and turns the user's next turn into feedback events.

    ``ttl_s``: how long an expectation waits for its LLM run.
    """

    def __init__(self, psm: PSM, *, ttl_s: float = 600.0) -> None:
        self.psm = psm
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._pending: deque[_Injection] = deque(maxlen=_MAX_PENDING)
        self._runs: OrderedDict[str, list[_Run]] = OrderedDict()
        self._turns: dict[tuple[str, str | None], list[_Run]] = {}
        ref = weakref.WeakMethod(self._forget_user)

        def on_erase(user_id: str) -> None:  # weak: a dropped handler is not kept alive by the PSM
            forget = ref()
            if forget is not None:
                forget(user_id)

        psm.add_erase_hook(on_erase)

    def _forget_user(self, user_id: str) -> None:
        """Drop everything held in process about an erased user (memory texts, answers, run links)."""
        with self._lock:
            self._pending = deque((i for i in self._pending if i.user_id != user_id), maxlen=_MAX_PENDING)
            self._turns = {k: v for k, v in self._turns.items() if k[0] != user_id}
            for run_id in [r for r, runs in self._runs.items() if any(x.user_id == user_id for x in runs)]:
                del self._runs[run_id]

    # -- adapters call these ----------------------------------------------------------------------
    def expect(self, user_id: str, result: RecallResult, *, session_id: str | None = None) -> None:
        """Announce that ``result``'s memories are being injected into the next LLM prompt of this user."""
        if not result.memories:
            return
        inj = _Injection(user_id, session_id, result, tuple(m.text for m in result.memories))
        with self._lock:
            self._pending.append(inj)

    def user_turn(self, user_id: str, text: str, *, session_id: str | None = None) -> list[str]:
        """Judge the previous turn of this user and session by the user's new ``text``.

        Returns the retrieval ids that received feedback (empty when no injected run awaited judgement).
        """
        with self._lock:
            runs = [r for r in self._turns.pop((user_id, session_id), []) if r.answer is not None]
        if not runs or not text or not text.strip():
            return []
        if self.psm.closed:
            logger.debug("PSM closed: turn of user %s not judged", user_key(user_id)[:8])
            return []
        answer = runs[-1].answer or ""
        try:
            correction = self.psm.skill.is_correction(text, answer)
        except PSMError as exc:
            logger.warning("no correction signal for user %s: %s", user_key(user_id)[:8], exc)
            return []
        mem = self.psm.for_user(user_id)
        for run in runs:
            outcomes = memory_outcomes(answer, run.question, run.texts, corrected=correction.is_correction)
            try:
                for outcome, ids in group_by_outcome(run.memory_ids, outcomes).items():
                    mem.feedback(run.retrieval_id, outcome.value, memory_ids=ids, source=SOURCE)
            except PSMError as exc:  # e.g. the user was erased meanwhile: feedback never breaks the chat
                logger.warning("feedback for run %s not recorded: %s", run.run_id, exc)
        logger.info(
            "user %s turn judged %s for %d run(s)",
            user_key(user_id)[:8],
            "corrected" if correction.is_correction else "ok",
            len(runs),
        )
        return [r.retrieval_id for r in runs]

    def feedback(self, run_id: UUID | str, score: float | str, *, memory_ids: Sequence[str] | None = None) -> list[str]:
        """Record an explicit rating of an LLM run: a score in [-1, 1] or an outcome name.

        Applies to every retrieval logged under ``run_id`` (also ones logged by an earlier process).
        Returns the retrieval ids; :class:`~psm_core.errors.NotFoundError` when the run received no memories.
        """
        if isinstance(score, str):
            outcome, value = score, None
        else:
            outcome, value = "score", float(score)
        targets = self._targets(str(run_id))
        if not targets:
            raise NotFoundError(str(run_id))
        for uid, rid in targets:
            self.psm.for_user(uid).feedback(rid, outcome, score=value, memory_ids=memory_ids, source=SOURCE)
        return [rid for _, rid in targets]

    async def auser_turn(self, user_id: str, text: str, *, session_id: str | None = None) -> list[str]:
        return await asyncio.to_thread(self.user_turn, user_id, text, session_id=session_id)

    async def afeedback(self, run_id: UUID | str, score: float | str, *, memory_ids: Sequence[str] | None = None) -> list[str]:
        return await asyncio.to_thread(self.feedback, run_id, score, memory_ids=memory_ids)

    # -- LLM events ---------------------------------------------------------------------------------
    def _started(self, run_id: UUID, prompt: str) -> None:
        if self.psm.closed:
            return
        matched = self._match(prompt)
        for inj in matched:
            try:
                rid = self.psm.for_user(inj.user_id).log_retrieval(inj.result, run_id=str(run_id))
            except PSMError as exc:
                logger.warning("retrieval for run %s not logged: %s", run_id, exc)
                continue
            run = _Run(str(run_id), inj.user_id, inj.session_id, rid, inj.result.ids, list(inj.texts), inj.result.query)
            with self._lock:
                self._runs.setdefault(run.run_id, []).append(run)
                while len(self._runs) > _MAX_RUNS:
                    self._runs.popitem(last=False)
                self._turns.setdefault((inj.user_id, inj.session_id), []).append(run)
            logger.debug("run %s received %d memories of user %s", run_id, len(inj.texts), user_key(inj.user_id)[:8])

    def _ended(self, run_id: UUID, response: LLMResult) -> None:
        with self._lock:
            runs = self._runs.get(str(run_id))
            if not runs:
                return
            gens = response.generations[0] if response.generations else []
            answer = gens[0].text if gens else ""
            for run in runs:
                run.answer = answer

    def _match(self, prompt: str) -> list[_Injection]:
        """Pending injections (newest first, at most one per user) whose memories all appear in ``prompt``."""
        now = time.monotonic()
        matched: list[_Injection] = []
        with self._lock:
            live = [i for i in self._pending if now - i.created <= self.ttl_s]
            if len(live) != len(self._pending):
                self._pending = deque(live, maxlen=_MAX_PENDING)
            users: set[str] = set()
            for inj in reversed(live):
                if inj.user_id not in users and inj.shown_in(prompt):
                    matched.append(inj)
                    users.add(inj.user_id)
            for inj in matched:
                self._pending.remove(inj)
        return matched

    def _targets(self, run_id: str) -> list[tuple[str, str]]:
        with self._lock:
            known = [(r.user_id, r.retrieval_id) for r in self._runs.get(run_id, [])]
        if known:
            return known
        logged = self.psm.feedback_log.retrievals_for_run(run_id)
        if not logged:
            return []
        by_key = {user_key(u): u for u in self.psm.users()}
        return [(by_key[k], rid) for rid, k in logged if k in by_key]


class PSMFeedbackCallbackHandler(FeedbackTracker, BaseCallbackHandler):
    """Sync callback handler: logs injected memories per LLM run and the user's verdict on the answer."""

    def __init__(self, psm: PSM, *, ttl_s: float = 600.0) -> None:
        FeedbackTracker.__init__(self, psm, ttl_s=ttl_s)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        self._started(run_id, "\n".join(prompts))

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._started(run_id, _prompt_text(messages))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, response)


class AsyncPSMFeedbackCallbackHandler(FeedbackTracker, AsyncCallbackHandler):
    """Async callback handler: the same as :class:`PSMFeedbackCallbackHandler`, store writes off the loop."""

    def __init__(self, psm: PSM, *, ttl_s: float = 600.0) -> None:
        FeedbackTracker.__init__(self, psm, ttl_s=ttl_s)

    async def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        await asyncio.to_thread(self._started, run_id, "\n".join(prompts))

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        await asyncio.to_thread(self._started, run_id, _prompt_text(messages))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, response)

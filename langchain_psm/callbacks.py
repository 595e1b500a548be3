"""Feedback callbacks: which memories reached which LLM run, and how the user took the answer.

```
FeedbackTracker                        the adapters' side: expect a recall, hand over the user's turns
├── PSMFeedbackCallbackHandler         BaseCallbackHandler (sync chains and agents)
└── AsyncPSMFeedbackCallbackHandler    AsyncCallbackHandler (async chains and agents)
```
A thin translation of LangChain events to :class:`psm_core.feedback.FeedbackTracker`, which holds
the state and the rules (see its docstring for the states of a conversation):

1. An adapter (:class:`~langchain_psm.PSMMemory`, :class:`~langchain_psm.PSMRetriever`,
   :class:`~langchain_psm.PSMMemoryMiddleware`) recalls memories for a user turn and calls
   :meth:`FeedbackTracker.expect` with the recall result (the tracker's ``offer``).
2. When an LLM run starts whose prompt contains every one of those memories (quoted in a memories
   block, or as is), the retrieval is logged under that run id, content-free (``started``).
3. When the run ends, its output is kept in process only (``answered``).
4. When the user's next turn arrives (the adapters call :meth:`FeedbackTracker.user_turn`), the
   PSM's correction signal ``psm.skill.is_correction(user_turn, previous_answer)`` and the rule of
   :mod:`psm_core.feedback.attribution` judge each retrieval of the turn: a correction marks
   ``corrected`` only the memories that carried what the user corrected (the answer's wrong content,
   without the value the user gives instead), and is recorded against the retrieval when no memory
   did; otherwise the memories the answer used are ``helpful`` and the others ``neutral``.
5. :meth:`FeedbackTracker.feedback` records an explicit rating of a run (a score in [-1, 1] or an
   outcome name).

Once the PSM is closed, the handler logs nothing more (LLM runs and user turns pass untouched).

Pass the handler to the adapters (``feedback=handler``) *and* to the run's callbacks
(``config={"callbacks": [handler]}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from psm_core import PSM, RecallResult
from psm_core.feedback.tracker import FeedbackTracker as CoreTracker

__all__ = ["AsyncPSMFeedbackCallbackHandler", "FeedbackTracker", "PSMFeedbackCallbackHandler"]

SOURCE = "langchain"


def _prompt_text(messages: Sequence[Sequence[BaseMessage]]) -> str:
    return "\n".join(m.text for batch in messages for m in batch)


def _answer(response: LLMResult) -> str:
    gens = response.generations[0] if response.generations else []
    return gens[0].text if gens else ""


class FeedbackTracker:
    """The adapters' side of the feedback handlers; ``tracker`` is the :class:`psm_core.feedback.FeedbackTracker`.

    ``ttl_s``: how long an expectation waits for its LLM run.
    """

    def __init__(self, psm: PSM, *, ttl_s: float = 600.0) -> None:
        self.psm = psm
        self.tracker = CoreTracker(psm, source=SOURCE, ttl_s=ttl_s)

    @property
    def ttl_s(self) -> float:
        return self.tracker.ttl_s

    # -- adapters call these ----------------------------------------------------------------------
    def expect(self, user_id: str, result: RecallResult, *, session_id: str | None = None) -> None:
        """Announce that ``result``'s memories are being injected into the next LLM prompt of this user."""
        self.tracker.offer(user_id, result, session_id=session_id)

    def user_turn(self, user_id: str, text: str, *, session_id: str | None = None) -> list[str]:
        """Judge the previous turn of this user and session by the user's new ``text``.

        Returns the retrieval ids that received feedback (empty when no injected run awaited judgement).
        """
        verdict = self.tracker.user_turn(user_id, text, session_id=session_id)
        return list(verdict.retrieval_ids) if verdict is not None else []

    def feedback(self, run_id: UUID | str, score: float | str, *, memory_ids: Sequence[str] | None = None) -> list[str]:
        """Record an explicit rating of an LLM run: a score in [-1, 1] or an outcome name.

        Applies to every retrieval logged under ``run_id`` (also ones logged by an earlier process).
        Returns the retrieval ids; :class:`~psm_core.errors.NotFoundError` when the run received no memories.
        """
        return self.tracker.feedback(str(run_id), score, memory_ids=memory_ids)

    async def auser_turn(self, user_id: str, text: str, *, session_id: str | None = None) -> list[str]:
        return await asyncio.to_thread(self.user_turn, user_id, text, session_id=session_id)

    async def afeedback(self, run_id: UUID | str, score: float | str, *, memory_ids: Sequence[str] | None = None) -> list[str]:
        return await asyncio.to_thread(self.feedback, run_id, score, memory_ids=memory_ids)


class PSMFeedbackCallbackHandler(FeedbackTracker, BaseCallbackHandler):
    """Sync callback handler: logs injected memories per LLM run and the user's verdict on the answer."""

    def __init__(self, psm: PSM, *, ttl_s: float = 600.0) -> None:
        FeedbackTracker.__init__(self, psm, ttl_s=ttl_s)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.started(str(run_id), "\n".join(prompts))

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.tracker.started(str(run_id), _prompt_text(messages))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.answered(str(run_id), _answer(response))


class AsyncPSMFeedbackCallbackHandler(FeedbackTracker, AsyncCallbackHandler):
    """Async callback handler: the same as :class:`PSMFeedbackCallbackHandler`, store writes off the loop."""

    def __init__(self, psm: PSM, *, ttl_s: float = 600.0) -> None:
        FeedbackTracker.__init__(self, psm, ttl_s=ttl_s)

    async def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        await asyncio.to_thread(self.tracker.started, str(run_id), "\n".join(prompts))

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        await asyncio.to_thread(self.tracker.started, str(run_id), _prompt_text(messages))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.answered(str(run_id), _answer(response))

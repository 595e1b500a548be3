"""Feedback capture through LlamaIndex instrumentation: which memories reached which LLM call, and
whether the user's next message corrected the answer.

```
FeedbackTracker        one conversation (a user's session): offer → LLM call → answer → next user turn
PSMFeedbackHandler     a BaseEventHandler on the root dispatcher routing LLM start/end events to trackers
install_feedback_handler()   registers the handler once per process (idempotent)
```
A memory adapter *offers* the context it rendered for a recall. When an LLM call's prompt contains
that context, the recall is logged (``UserMemory.log_retrieval``, ``run_id`` = the call's span id);
when several live conversations offered the same context, the latest offer gets the call.
The call's answer waits for the user's next message: the PSM's correction signal
(``skill.is_correction``) marks the memories the answer used (all surfaced ones when none can be
attributed) ``corrected``; otherwise used memories are ``helpful`` and the rest ``neutral``. The
rule (a memory is used when it shares a content word with the answer that the question lacks) is
:mod:`psm_core.feedback.attribution`, shared with the other adapters.
Only ids and outcomes are written: the feedback log stays content-free. Trackers of a closed PSM
receive no more events.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)

from psm_core.errors import PSMError
from psm_core.feedback.attribution import group_by_outcome, memory_outcomes, used_memories
from psm_core.feedback.log import Outcome
from psm_core.memory import UserMemory
from psm_core.psm import PSM
from psm_core.recall import RecallResult
from psm_core.skill.base import MemorySkill

__all__ = ["FeedbackTracker", "PSMFeedbackHandler", "install_feedback_handler", "used_memory_ids"]

logger = logging.getLogger(__name__)

SOURCE = "llamaindex"


def used_memory_ids(result: RecallResult, answer: str, query: str = "") -> list[str]:
    """Ids of recalled memories the answer draws on (:func:`psm_core.feedback.used_memories`).

    ``query`` is the question the answer replies to (default: the recall's query).
    """
    used = used_memories(answer, query or result.query, result.memories)
    return [m.id for m, u in zip(result.memories, used) if u]


_SEQ = itertools.count()


@dataclass
class _Offer:
    result: RecallResult
    context: str
    seq: int = field(default_factory=lambda: next(_SEQ))
    retrieval_id: str | None = None
    spans: set[str] = field(default_factory=set)


@dataclass
class _Pending:
    result: RecallResult
    retrieval_id: str
    answer: str


class FeedbackTracker:
    """The feedback state of one conversation of one user. Thread-safe.

    ``offer`` the latest recall and its rendered context; the :class:`PSMFeedbackHandler` calls
    ``on_llm_start``/``on_llm_end``; call ``on_user_message`` with each new user turn. With ``psm``
    (the PSM holding ``memory``) the tracker goes quiet once that PSM is closed.
    """

    def __init__(self, memory: UserMemory, skill: MemorySkill, *, source: str = SOURCE, psm: PSM | None = None) -> None:
        self.memory = memory
        self.skill = skill
        self.source = source
        self.psm = psm
        self._lock = threading.Lock()
        self._offer: _Offer | None = None
        self._pending: _Pending | None = None

    def __repr__(self) -> str:
        return f"FeedbackTracker(user_id={self.memory.user_id!r})"

    @property
    def closed(self) -> bool:
        """Whether the tracker's PSM is closed (nothing more can be logged)."""
        return self.psm is not None and self.psm.closed

    @property
    def last_retrieval_id(self) -> str | None:
        """The retrieval id of the latest offer that reached an LLM (None before any)."""
        with self._lock:
            return self._offer.retrieval_id if self._offer is not None else None

    def offer(self, result: RecallResult, context: str) -> None:
        """The recall ``result``, rendered as ``context``, may go into the next LLM call."""
        if not context or not result.memories:
            return
        with self._lock:
            self._offer = _Offer(result, context)

    def offered_in(self, prompt: str) -> int | None:
        """The sequence number of the offer whose context ``prompt`` contains (None when it does not)."""
        with self._lock:
            offer = self._offer
            return offer.seq if offer is not None and offer.context in prompt else None

    def on_llm_start(self, span_id: str, prompt: str) -> str | None:
        """Log the offered recall when ``prompt`` contains its context; returns the retrieval id."""
        with self._lock:
            offer = self._offer
            if offer is None or offer.context not in prompt:
                return None
            if offer.retrieval_id is None:
                offer.retrieval_id = self.memory.log_retrieval(offer.result, run_id=span_id)
                logger.debug("user %s: %d memories reached LLM call %s", self.memory.key[:8], len(offer.result), span_id)
            offer.spans.add(span_id)
            return offer.retrieval_id

    def on_llm_end(self, span_id: str, answer: str) -> None:
        """Keep the answer of an LLM call that received the offered memories, for the next user turn."""
        with self._lock:
            offer = self._offer
            if offer is None or offer.retrieval_id is None or span_id not in offer.spans:
                return
            if answer.strip():
                self._pending = _Pending(offer.result, offer.retrieval_id, answer)

    def on_user_message(self, text: str) -> str | None:
        """Judge the pending answer against the user's new turn; returns the outcome written (or None)."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None or not text.strip() or self.closed:
            return None
        try:
            return self._judge(pending, text)
        except PSMError as exc:  # e.g. the user was erased meanwhile: feedback must never break the chat
            logger.warning("user %s: feedback not recorded: %s", self.memory.key[:8], exc)
            return None

    def _judge(self, pending: _Pending, text: str) -> str:
        correction = self.skill.is_correction(text, pending.answer)
        result = pending.result
        outcomes = memory_outcomes(pending.answer, result.query, result.memories, corrected=correction.is_correction)
        groups = group_by_outcome(result.ids, outcomes)
        for outcome, ids in groups.items():
            self.memory.feedback(pending.retrieval_id, outcome.value, memory_ids=ids, source=self.source)
        if correction.is_correction:
            blamed = len(groups.get(Outcome.CORRECTED, []))
            logger.info("user %s corrected an answer: %d memories marked", self.memory.key[:8], blamed)
            return Outcome.CORRECTED.value
        return (Outcome.HELPFUL if Outcome.HELPFUL in groups else Outcome.NEUTRAL).value


def _chat_text(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content or "" for m in messages)


class PSMFeedbackHandler(BaseEventHandler):
    """Routes LLM start/end events to the live :class:`FeedbackTracker` objects whose offer they carry."""

    @classmethod
    def class_name(cls) -> str:
        return "PSMFeedbackHandler"

    def model_post_init(self, __context: Any) -> None:
        self._trackers: weakref.WeakSet[FeedbackTracker] = weakref.WeakSet()
        self._tlock = threading.Lock()

    def register(self, tracker: FeedbackTracker) -> None:
        """Route LLM events to ``tracker`` while it is alive."""
        with self._tlock:
            self._trackers.add(tracker)

    def _live(self) -> list[FeedbackTracker]:
        """The registered trackers whose PSM is open (trackers of a closed PSM are dropped)."""
        with self._tlock:
            for tracker in [t for t in self._trackers if t.closed]:
                self._trackers.discard(tracker)
            return list(self._trackers)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self._handle(event)

    def _handle(self, event: BaseEvent) -> None:
        span = event.span_id or event.id_
        if isinstance(event, (LLMChatStartEvent, LLMCompletionStartEvent)):
            prompt = event.prompt if isinstance(event, LLMCompletionStartEvent) else _chat_text(event.messages)
            # the tracker whose memories are in the prompt; when several offered the same context
            # (sessions of one user recalling the same memories), the latest offer made this call
            offers = [(seq, t) for t in self._live() if (seq := t.offered_in(prompt)) is not None]
            if offers:
                self._call(max(offers, key=lambda o: o[0])[1].on_llm_start, span, prompt)
        elif isinstance(event, (LLMChatEndEvent, LLMCompletionEndEvent)):
            if isinstance(event, LLMCompletionEndEvent):
                answer = event.response.text or ""
            else:
                answer = (event.response.message.content or "") if event.response is not None else ""
            for tracker in self._live():
                self._call(tracker.on_llm_end, span, answer)

    @staticmethod
    def _call(method: Any, *args: str) -> None:
        try:  # one failing tracker (e.g. of a closed PSM) must not starve the others
            method(*args)
        except Exception:
            logger.exception("PSM feedback capture failed in %r", method)


_HANDLER: PSMFeedbackHandler | None = None
_HANDLER_LOCK = threading.Lock()


def install_feedback_handler() -> PSMFeedbackHandler:
    """The process-wide :class:`PSMFeedbackHandler`, added to LlamaIndex's root dispatcher on first call."""
    global _HANDLER
    with _HANDLER_LOCK:
        if _HANDLER is None:
            _HANDLER = PSMFeedbackHandler()
            get_dispatcher().add_event_handler(_HANDLER)
            logger.info("PSM feedback handler added to the LlamaIndex root dispatcher")
        return _HANDLER

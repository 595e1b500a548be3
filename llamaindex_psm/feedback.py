"""Feedback capture through LlamaIndex instrumentation: which memories reached which LLM call, and
whether the user's next message corrected the answer.

```
FeedbackTracker        one conversation (a user's session): offer → LLM call → answer → next user turn
PSMFeedbackHandler     a BaseEventHandler on the root dispatcher routing LLM start/end events to trackers
install_feedback_handler()   registers the handler once per process (idempotent)
track_conversation()         a tracker for a new conversation, registered with the handler
```
A thin translation of LlamaIndex events to :class:`psm_core.feedback.FeedbackTracker`, which holds
the state and the rules (see its docstring for the states of a conversation). A memory adapter
*offers* the context it rendered for a recall. When an LLM call's prompt contains that context, the
recall is logged (``UserMemory.log_retrieval``, ``run_id`` = the call's span id); when several live
conversations offered the same context, the latest offer gets the call. The call's answer waits for
the user's next message, judged by the PSM's correction signal (``skill.is_correction``) and
:mod:`psm_core.feedback.attribution`, shared with the other adapters: a correction marks
``corrected`` only the memories that carried what the user corrected, and is recorded against the
retrieval when none did; otherwise the memories the answer used are ``helpful`` and the rest
``neutral``. Only ids and outcomes are written: the feedback log stays content-free. Trackers of a
closed PSM receive no more events.
"""

from __future__ import annotations

import logging
import threading
import weakref
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

from psm_core.feedback.attribution import used_memories
from psm_core.feedback.tracker import FeedbackTracker as CoreTracker
from psm_core.memory import UserMemory
from psm_core.psm import PSM
from psm_core.recall import RecallResult
from psm_core.skill.base import MemorySkill

__all__ = ["FeedbackTracker", "PSMFeedbackHandler", "install_feedback_handler", "track_conversation", "used_memory_ids"]

logger = logging.getLogger(__name__)

SOURCE = "llamaindex"


def used_memory_ids(result: RecallResult, answer: str, query: str = "") -> list[str]:
    """Ids of recalled memories the answer draws on (:func:`psm_core.feedback.used_memories`).

    ``query`` is the question the answer replies to (default: the recall's query).
    """
    used = used_memories(answer, query or result.query, result.memories)
    return [m.id for m, u in zip(result.memories, used) if u]


class FeedbackTracker:
    """The feedback state of one conversation of one user (``tracker``: its :class:`psm_core.feedback.FeedbackTracker`).

    ``offer`` the latest recall and its rendered context; the :class:`PSMFeedbackHandler` calls
    ``on_llm_start``/``on_llm_end``; call ``on_user_message`` with each new user turn. ``skill``
    judges corrections; ``psm`` is the PSM holding ``memory`` (default: that of ``memory``): the
    tracker goes quiet once it is closed. Thread-safe.
    """

    def __init__(self, memory: UserMemory, skill: MemorySkill, *, source: str = SOURCE, psm: PSM | None = None) -> None:
        self.memory = memory
        self.skill = skill
        self.source = source
        self.psm = psm if psm is not None else memory._psm  # the PSM a UserMemory belongs to
        self.tracker = CoreTracker(self.psm, skill=skill, source=source)

    def __repr__(self) -> str:
        return f"FeedbackTracker(user_id={self.memory.user_id!r})"

    @property
    def closed(self) -> bool:
        """Whether the tracker's PSM is closed (nothing more can be logged)."""
        return self.tracker.closed

    @property
    def last_retrieval_id(self) -> str | None:
        """The retrieval id of the latest offer that reached an LLM (None before any)."""
        return self.tracker.last_retrieval_id(self.memory.user_id)

    def offer(self, result: RecallResult, context: str) -> None:
        """The recall ``result``, rendered as ``context``, may go into the next LLM call."""
        self.tracker.offer(self.memory.user_id, result, context=context)

    def offered_in(self, prompt: str) -> int | None:
        """The sequence number of the offer whose context ``prompt`` contains (None when it does not)."""
        return self.tracker.offered_in(prompt)

    def on_llm_start(self, span_id: str, prompt: str) -> str | None:
        """Log the offered recall when ``prompt`` contains its context; returns the retrieval id."""
        return self.tracker.started(span_id, prompt)

    def on_llm_end(self, span_id: str, answer: str) -> None:
        """Keep the answer of an LLM call that received the offered memories, for the next user turn."""
        self.tracker.answered(span_id, answer)

    def on_user_message(self, text: str) -> str | None:
        """Judge the pending answer against the user's new turn; returns the outcome written (or None)."""
        verdict = self.tracker.user_turn(self.memory.user_id, text)
        return verdict.outcome.value if verdict is not None else None


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


def track_conversation(psm: PSM, memory: UserMemory) -> FeedbackTracker:
    """A :class:`FeedbackTracker` for a new conversation of ``memory``'s user, routed by the process-wide handler."""
    tracker = FeedbackTracker(memory, psm.skill, psm=psm)
    install_feedback_handler().register(tracker)
    return tracker

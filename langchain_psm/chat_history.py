"""PSMChatMessageHistory: a ``BaseChatMessageHistory`` keyed by user and session, for LCEL.

Every message is observed into the user's memory (working memory for the session window; the
relevance gate keeps what is worth remembering in episodic memory), so a
``RunnableWithMessageHistory`` conversation also builds the user's long-term memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, ToolMessage

from langchain_psm._common import default_psm, record_to_message, role_of
from psm_core import PSM, MemoryRecord, Tier, UserMemory
from psm_core.errors import EmptyTextError, InvalidInputError, NotFoundError
from psm_core.text import clean_text, validate_user_id
from psm_core.types import utcnow

__all__ = ["PSMChatMessageHistory"]

logger = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)


class PSMChatMessageHistory(BaseChatMessageHistory):
    """The messages of one session of one user, stored in PSM working and episodic memory.

    ``messages`` returns the session's messages in order: the working-memory window of this process
    (``PSM_WORKING_WINDOW`` turns) merged with the session's episodic turns (which persist across
    processes). Messages without text (a tool-call-only AI message) are not stored.

    Use it with ``RunnableWithMessageHistory(chain, lambda sid: PSMChatMessageHistory(user_id, sid, psm=psm))``.
    """

    def __init__(self, user_id: str, session_id: str, *, psm: PSM | None = None) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise InvalidInputError(f"session_id must be a non-empty string, got {session_id!r}")
        self.user_id = validate_user_id(user_id)
        self.session_id = session_id
        self.psm = psm if psm is not None else default_psm()
        self._last: datetime | None = None
        self._clock = threading.Lock()

    def __repr__(self) -> str:
        return f"PSMChatMessageHistory(user_id={self.user_id!r}, session_id={self.session_id!r})"

    @property
    def user_memory(self) -> UserMemory:
        return self.psm.for_user(self.user_id)

    def _records(self) -> list[MemoryRecord]:
        mem = self.user_memory
        recs = {r.id: r for r in mem.records(Tier.EPISODIC, session_id=self.session_id)}
        for r in mem.working(self.session_id):
            recs[r.id] = r
        return sorted(recs.values(), key=lambda r: (r.observed_at, r.created_at))

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first (message ids are memory ids)."""
        return [record_to_message(r) for r in self._records()]

    def _stamps(self, n: int) -> list[datetime]:
        """Strictly increasing timestamps, so the stored order is the order messages were added."""
        with self._clock:
            start = utcnow()
            if self._last is not None and start <= self._last:
                start = self._last + _TICK
            stamps = [start + i * _TICK for i in range(n)]
            if stamps:
                self._last = stamps[-1]
        return stamps

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Observe ``messages`` (one batch: one embedding call, one write per tier)."""
        events: list[dict[str, Any]] = []
        for msg in messages:
            try:
                text = clean_text(msg.text, max_bytes=self.psm.settings.max_text_bytes)
            except EmptyTextError:
                logger.debug("skipping a %s message without text", msg.type)
                continue
            meta: dict[str, Any] = {"lc_type": msg.type}
            if isinstance(msg, ToolMessage):
                meta["tool_call_id"] = msg.tool_call_id
            events.append({"text": text, "role": role_of(msg), "session_id": self.session_id, "metadata": meta})
        for event, stamp in zip(events, self._stamps(len(events))):
            event["timestamp"] = stamp
        if events:
            self.user_memory.observe_many(events)

    def clear(self) -> None:
        """Forget this session's messages (working and episodic). The user's other memories stay."""
        mem = self.user_memory
        for rec in self._records():
            try:
                mem.forget(rec.id)
            except NotFoundError:
                pass

    async def aget_messages(self) -> list[BaseMessage]:
        return await asyncio.to_thread(lambda: self.messages)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await asyncio.to_thread(self.add_messages, list(messages))

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

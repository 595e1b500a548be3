"""``PSMMemory``: a LlamaIndex ``BaseMemory`` backed by one user's PSM memory.

Pass it as ``memory=`` to chat engines (``SimpleChatEngine``, ``ContextChatEngine``,
``CondensePlusContextChatEngine``) or to agents (``FunctionAgent``, ``AgentWorkflow``):

```python
memory = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="monday")
engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
```
Without ``psm=`` it uses the process-wide ``PSM.local()`` (:func:`psm_core.defaults.default_psm`), as the
LangChain adapters do.
``put`` observes each user turn into the PSM (the gate decides what is kept); ``get`` returns the
session's recent messages preceded by a system message listing the memories recalled for the
latest user input. The session's messages live in a LlamaIndex chat store (in memory by default).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, SerializeAsAny
from llama_index.core.llms.llm import LLM
from llama_index.core.memory.types import BaseMemory
from llama_index.core.storage.chat_store import BaseChatStore, SimpleChatStore

from llamaindex_psm.context import DEFAULT_HEADER, latest_user_text, message_text, recall_context
from llamaindex_psm.feedback import FeedbackTracker, track_conversation
from psm_core.defaults import default_psm
from psm_core.errors import InvalidInputError
from psm_core.memory import UserMemory
from psm_core.psm import PSM
from psm_core.recall import RecallResult
from psm_core.text import count_tokens, validate_user_id

__all__ = ["PSMMemory"]

logger = logging.getLogger(__name__)


class PSMMemory(BaseMemory):
    """Chat memory for one user and session: recent turns plus PSM-recalled long-term memories."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    psm: PSM = Field(
        default_factory=default_psm, exclude=True, repr=False,
        description="The PSM holding the user's memory (default: the process-wide PSM.local(), as in langchain_psm).",
    )  # fmt: skip
    user_id: str = Field(description="Whose memory this is; never shared between users.")
    session_id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="The conversation's id.")
    k: int = Field(default=8, ge=1, description="At most this many memories per recall.")
    token_budget: int = Field(default=600, ge=1, description="Token budget of the recalled-memories message.")
    token_limit: int = Field(default=3000, ge=1, description="Token budget of the recent chat history returned by get.")
    observe_roles: tuple[str, ...] = Field(default=("user",), description="Roles whose messages put() observes into the PSM.")
    header: str = Field(default=DEFAULT_HEADER, description="First line of the recalled-memories message.")
    feedback: bool = Field(default=True, description="Capture feedback through LlamaIndex instrumentation.")
    chat_store: SerializeAsAny[BaseChatStore] = Field(default_factory=SimpleChatStore, exclude=True)
    chat_store_key: str | None = Field(default=None, description="Key of the session in chat_store (default user:session).")

    _mem: UserMemory = PrivateAttr()
    _tracker: FeedbackTracker | None = PrivateAttr(default=None)
    _cache: tuple[str, RecallResult, str] | None = PrivateAttr(default=None)
    _announced: str | None = PrivateAttr(default=None)
    _last: RecallResult | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        validate_user_id(data.get("user_id"))  # the typed InvalidUserIdError, before pydantic wraps it
        super().__init__(**data)

    def model_post_init(self, __context: Any) -> None:
        self._mem = self.psm.for_user(self.user_id)
        if self.chat_store_key is None:
            self.chat_store_key = f"{self.user_id}:{self.session_id}"
        if self.feedback:
            self._tracker = track_conversation(self.psm, self._mem)

    @classmethod
    def class_name(cls) -> str:
        return "PSMMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        *,
        psm: PSM | None = None,
        user_id: str,
        session_id: str | None = None,
        chat_history: list[ChatMessage] | None = None,
        llm: LLM | None = None,
        **kwargs: Any,
    ) -> PSMMemory:
        """A memory for ``user_id`` in ``psm``; ``chat_history`` seeds the session (not observed).

        Without ``psm``, the process-wide ``PSM.local()`` (:func:`psm_core.defaults.default_psm`, the one
        langchain_psm's adapters share; closed at exit). With ``llm`` and no ``token_limit``, the history
        window is 75% of the LLM's context window.
        """
        if llm is not None and "token_limit" not in kwargs:
            kwargs["token_limit"] = max(256, int(llm.metadata.context_window * 0.75))
        if session_id:
            kwargs["session_id"] = session_id
        if psm is not None:
            kwargs["psm"] = psm
        memory = cls(user_id=user_id, **kwargs)
        if chat_history:
            memory.set(chat_history)
        return memory

    # -- properties -----------------------------------------------------------------------------
    @property
    def user_memory(self) -> UserMemory:
        """The user's :class:`~psm_core.UserMemory` (recall, remember, forget, erase, export...)."""
        return self._mem

    @property
    def tracker(self) -> FeedbackTracker | None:
        """The feedback tracker of this conversation (None when ``feedback=False``)."""
        return self._tracker

    @property
    def last_recall(self) -> RecallResult | None:
        """The memories the latest ``get`` surfaced (None before the first recall)."""
        return self._last

    def _key(self) -> str:
        assert self.chat_store_key is not None
        return self.chat_store_key

    # -- reading --------------------------------------------------------------------------------
    def get_all(self) -> list[ChatMessage]:
        """Every message of this session (without recalled memories)."""
        return self.chat_store.get_messages(self._key())

    def get(self, input: str | ChatMessage | None = None, initial_token_count: int = 0, **kwargs: Any) -> list[ChatMessage]:
        """Recent messages of the session, after a system message of memories recalled for the latest input.

        ``input`` is the user's new message when the caller has not ``put`` it yet (context chat
        engines); otherwise the latest user message of the session is the query.
        """
        history = self.get_all()
        query = message_text(input)
        if query.strip() and query != self._announced and not _already_put(history, query):
            self._new_user_turn(query)
            self._announced = query
        if not query.strip():
            query = latest_user_text(history)
        window = _window(history, self.token_limit - initial_token_count - self.token_budget)
        context = self._context(query, window) if query.strip() else ""
        if not context:
            return window
        return [ChatMessage(role=MessageRole.SYSTEM, content=context), *window]

    def _context(self, query: str, window: list[ChatMessage]) -> str:
        if self._cache is not None and self._cache[0] == query:
            return self._cache[2]
        shown = [message_text(m) for m in window if m.role in (MessageRole.USER, MessageRole.ASSISTANT)]
        result, context = recall_context(
            self._mem, query, k=self.k, token_budget=self.token_budget, session_id=self.session_id,
            exclude_texts=shown, header=self.header,
        )  # fmt: skip
        self._cache = (query, result, context)
        self._last = result
        if self._tracker is not None:
            self._tracker.offer(result, context)
        logger.info(
            "user %s: %d memories (%d tokens) for session %s", self._mem.key[:8], len(result), result.tokens, self.session_id
        )
        return context

    # -- writing --------------------------------------------------------------------------------
    def put(self, message: ChatMessage) -> None:
        """Append ``message`` to the session and observe it into the PSM when its role is observed."""
        self.chat_store.add_message(self._key(), message)
        self._cache = None
        text = message_text(message)
        role = message.role.value if isinstance(message.role, MessageRole) else str(message.role)
        if message.role == MessageRole.USER:
            if text != self._announced:  # else: judged already, when get() received it as input
                self._new_user_turn(text)
            self._announced = None
        if role in self.observe_roles and text.strip():
            try:
                self._mem.observe(text, role=role, session_id=self.session_id, metadata={"source": "llamaindex"})
            except InvalidInputError as exc:  # e.g. over PSM_MAX_TEXT_BYTES: the chat goes on without it
                logger.warning("user %s: message not observed: %s", self._mem.key[:8], exc)

    def put_messages(self, messages: list[ChatMessage]) -> None:
        for message in messages:
            self.put(message)

    def _new_user_turn(self, text: str) -> None:
        if self._tracker is not None and text.strip():
            self._tracker.on_user_message(text)

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the session's messages (they are not observed: use ``put`` for new turns)."""
        self.chat_store.set_messages(self._key(), list(messages))
        self._cache = None
        self._announced = None

    def reset(self) -> None:
        """Clear the session's messages. Long-term memory stays: ``user_memory.erase()`` erases it."""
        self.chat_store.delete_messages(self._key())
        self._cache = None
        self._announced = None

    # -- async twins ----------------------------------------------------------------------------
    async def aget(self, input: str | ChatMessage | None = None, **kwargs: Any) -> list[ChatMessage]:  # type: ignore[override]
        return await asyncio.to_thread(self.get, input, **kwargs)

    async def aget_all(self) -> list[ChatMessage]:
        return await asyncio.to_thread(self.get_all)

    async def aput(self, message: ChatMessage) -> None:
        await asyncio.to_thread(self.put, message)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        await asyncio.to_thread(self.put_messages, messages)

    async def aset(self, messages: list[ChatMessage]) -> None:
        await asyncio.to_thread(self.set, messages)

    async def areset(self) -> None:
        await asyncio.to_thread(self.reset)


def _already_put(history: list[ChatMessage], text: str) -> bool:
    """Whether ``text`` is the session's last message, from the user (agents re-read memory mid-turn)."""
    return bool(history) and history[-1].role == MessageRole.USER and message_text(history[-1]) == text


def _window(history: list[ChatMessage], limit: int) -> list[ChatMessage]:
    """The most recent messages within ``limit`` tokens, never starting with an assistant or tool message."""
    if not history:
        return []
    limit = max(1, limit)
    start, used = len(history), 0
    while start > 0:
        cost = count_tokens(message_text(history[start - 1]) or " ")
        if used + cost > limit and start < len(history):
            break
        used += cost
        start -= 1
    while start < len(history) - 1 and history[start].role in (MessageRole.ASSISTANT, MessageRole.TOOL):
        start += 1
    return history[start:]

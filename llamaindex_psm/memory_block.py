"""``PSMMemoryBlock``: a LlamaIndex memory block (``BaseMemoryBlock[str]``) backed by a user's PSM memory.

```python
memory = Memory.from_defaults(session_id="monday", memory_blocks=[PSMMemoryBlock(psm=psm, user_id="alice")])
```
``Memory`` keeps recent turns in its FIFO queue and hands the turns it flushes out of that queue to
its blocks: ``_aput`` observes them into the PSM (the gate decides what is kept). ``_aget`` recalls
for the latest user message within ``token_budget`` tokens; ``atruncate`` drops the weakest memories
when ``Memory`` needs room. Turns still in the queue are already in the prompt, so they reach the PSM
only when flushed (call ``block.aput(await memory.aget_all())`` to store a whole session at once).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.memory import BaseMemoryBlock

from llamaindex_psm.context import DEFAULT_HEADER, latest_user_text, message_text, recall_context
from llamaindex_psm.feedback import FeedbackTracker, track_conversation
from psm_core.defaults import default_psm
from psm_core.errors import InvalidInputError
from psm_core.memory import UserMemory
from psm_core.psm import PSM
from psm_core.recall import RecallResult
from psm_core.text import count_tokens, validate_user_id

__all__ = ["PSMMemoryBlock"]

logger = logging.getLogger(__name__)


class PSMMemoryBlock(BaseMemoryBlock[str]):
    """Long-term memories of one user, recalled for the latest user message of a ``Memory``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = Field(default="psm_memory", description="The block's name (its tag in the memory template).")
    psm: PSM = Field(
        default_factory=default_psm, exclude=True, repr=False,
        description="The PSM holding the user's memory (default: the process-wide PSM.local(), as in langchain_psm).",
    )  # fmt: skip
    user_id: str = Field(description="Whose memory this is; never shared between users.")
    k: int = Field(default=8, ge=1, description="At most this many memories per recall.")
    token_budget: int = Field(default=500, ge=1, description="Token budget of the block's content.")
    observe_roles: tuple[str, ...] = Field(default=("user",), description="Roles whose flushed messages are observed.")
    header: str = Field(default=DEFAULT_HEADER, description="First line of the block's content.")
    feedback: bool = Field(default=True, description="Capture feedback through LlamaIndex instrumentation.")
    profile: bool = Field(default=False, description="Also put the user's current facts (mem.profile()) before the memories.")

    _mem: UserMemory = PrivateAttr()
    _tracker: FeedbackTracker | None = PrivateAttr(default=None)
    _cache: tuple[tuple[str, str | None], RecallResult, str] | None = PrivateAttr(default=None)
    _last_user: str | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        validate_user_id(data.get("user_id"))  # the typed InvalidUserIdError, before pydantic wraps it
        super().__init__(**data)

    def model_post_init(self, __context: Any) -> None:
        self._mem = self.psm.for_user(self.user_id)
        if self.feedback:
            self._tracker = track_conversation(self.psm, self._mem)

    @property
    def user_memory(self) -> UserMemory:
        """The user's :class:`~psm_core.UserMemory`."""
        return self._mem

    @property
    def tracker(self) -> FeedbackTracker | None:
        return self._tracker

    @property
    def last_recall(self) -> RecallResult | None:
        """The memories of the latest ``aget`` (after any truncation)."""
        return self._cache[1] if self._cache is not None else None

    async def _aget(self, messages: list[ChatMessage] | None = None, session_id: str | None = None, **block_kwargs: Any) -> str:
        """Memories recalled for the latest user message, rendered within ``token_budget`` tokens."""
        msgs = messages or []
        query = latest_user_text(msgs)
        if not query.strip():
            return ""
        if query != self._last_user:
            self._last_user = query
            if self._tracker is not None:  # the correction signal may run a model: off the event loop
                await asyncio.to_thread(self._tracker.on_user_message, query)
        key = (query, session_id)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[2]
        shown = [message_text(m) for m in msgs if m.role in (MessageRole.USER, MessageRole.ASSISTANT)]
        result, context = await asyncio.to_thread(
            recall_context, self._mem, query, k=self.k, token_budget=self.token_budget, session_id=session_id,
            exclude_texts=shown, header=self.header,
        )  # fmt: skip
        context = self._with_profile(context)
        self._remember(key, result, context)
        return context

    def _with_profile(self, context: str) -> str:
        if not self.profile:
            return context
        return "\n\n".join(c for c in (self._mem.profile().format_context(), context) if c)

    def _remember(self, key: tuple[str, str | None], result: RecallResult, context: str) -> None:
        self._cache = (key, result, context)
        if self._tracker is not None:
            self._tracker.offer(result, context)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Observe the messages flushed out of the short-term queue."""
        turns: list[tuple[str, str, str | None]] = []
        for m in messages:
            role = m.role.value if isinstance(m.role, MessageRole) else str(m.role)
            text = message_text(m)
            if role in self.observe_roles and text.strip():
                turns.append((text, role, m.additional_kwargs.get("session_id")))
        if not turns:
            return
        self._cache = None
        meta = {"source": "llamaindex"}
        try:
            await self._mem.aobserve_many([{"text": t, "role": r, "session_id": s, "metadata": meta} for t, r, s in turns])
        except InvalidInputError:  # one bad message must not lose the others: observe one by one
            for text, role, sid in turns:
                try:
                    await self._mem.aobserve(text, role=role, session_id=sid, metadata=meta)
                except InvalidInputError as exc:
                    logger.warning("user %s: message not observed: %s", self._mem.key[:8], exc)

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop the lowest-ranked memories until about ``tokens_to_truncate`` tokens are saved."""
        if self._cache is None or self._cache[2] != content:
            return None
        key, result, _ = self._cache
        kept = list(result.memories)
        saved = 0
        while kept and saved < tokens_to_truncate:
            saved += count_tokens(kept.pop().render())
        if not kept:
            return None
        smaller = RecallResult(query=result.query, memories=kept, now=result.now, tokens=max(0, result.tokens - saved))
        context = self._with_profile(smaller.format_context(self.header))
        self._remember(key, smaller, context)
        return context

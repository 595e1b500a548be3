"""PSMMemory: a classic LangChain ``BaseMemory`` backed by one user's PSM memory.

Drops into ``ConversationChain`` and ``LLMChain(memory=...)``. ``load_memory_variables`` recalls the
memories relevant to the current input (formatted within a token budget) and adds the last turns
of this session; ``save_context`` observes both sides of the exchange.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from langchain_classic.base_memory import BaseMemory
from langchain_core.messages import BaseMessage, SystemMessage
from pydantic import ConfigDict, Field

from langchain_psm._common import as_text, default_psm, pick_key, record_to_message, stored_turn_text, turn_events
from langchain_psm.callbacks import FeedbackTracker
from psm_core import PSM, MemoryRecord, RecallResult, UserMemory
from psm_core.errors import NotFoundError
from psm_core.recall import DEFAULT_HEADER
from psm_core.render import transcript_text
from psm_core.text import validate_user_id

__all__ = ["PSMMemory"]

logger = logging.getLogger(__name__)


class PSMMemory(BaseMemory):
    """Long-term memory of ``user_id`` for a classic chain; one instance is one conversation (``session_id``).

    | field | default | meaning |
    |---|---|---|
    | psm | process default ``PSM.local()`` | the PSM holding the memories |
    | user_id | required | whose memories (never widened to other users) |
    | session_id | a fresh id | this conversation; saved turns carry it |
    | memory_key | ``history`` | the prompt variable filled by ``load_memory_variables`` |
    | input_key / output_key | inferred | chain keys holding the user's text and the answer |
    | k / token_budget | 8 / 1000 | how many memories, and at most how many tokens of them |
    | tiers | episodic, semantic, archival | tiers to recall from |
    | recent_turns | 6 | last turns of this session added after the memories (0: none) |
    | return_messages | False | a list of messages instead of one string |
    | feedback | None | a PSMFeedbackCallbackHandler that gets the injected memories and the user's turns |
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    psm: PSM = Field(default_factory=default_psm, exclude=True)
    user_id: str
    session_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    memory_key: str = "history"
    input_key: str | None = None
    output_key: str | None = None
    k: int = Field(default=8, ge=1)
    token_budget: int | None = Field(default=1000, ge=1)
    tiers: list[str] | None = None
    recent_turns: int = Field(default=6, ge=0)
    return_messages: bool = False
    header: str = DEFAULT_HEADER
    human_prefix: str = "Human"
    ai_prefix: str = "AI"
    feedback: FeedbackTracker | None = Field(default=None, exclude=True)

    def __init__(self, **data: Any) -> None:
        validate_user_id(data.get("user_id"))  # a PSM error, not a pydantic one
        super().__init__(**data)

    @property
    def memory_variables(self) -> list[str]:
        return [self.memory_key]

    @property
    def user_memory(self) -> UserMemory:
        """The :class:`~psm_core.UserMemory` of ``user_id``."""
        return self.psm.for_user(self.user_id)

    # -- load ---------------------------------------------------------------------------------------
    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """``{memory_key: memories + recent turns}`` for the current input (a string, or messages)."""
        key = pick_key(inputs, self.input_key, set(self.memory_variables), "input")
        query = as_text(inputs.get(key)) if key is not None else ""
        mem = self.user_memory
        if self.feedback is not None and query.strip():
            self.feedback.user_turn(self.user_id, query, session_id=self.session_id)
        recent = mem.working(self.session_id)[-self.recent_turns :] if self.recent_turns else []
        result = self._recall(mem, query, {r.id for r in recent}) if query.strip() else None
        if result is not None and self.feedback is not None:
            self.feedback.expect(self.user_id, result, session_id=self.session_id)
        return {self.memory_key: self._render(result, recent)}

    def _recall(self, mem: UserMemory, query: str, in_prompt: set[str]) -> RecallResult:
        """Recall for ``query``; the recent turns (``in_prompt``) are excluded, not fetched and dropped."""
        return mem.recall(query, k=self.k, tiers=self.tiers, token_budget=self.token_budget, exclude_ids=in_prompt)

    def _render(self, result: RecallResult | None, recent: list[MemoryRecord]) -> str | list[BaseMessage]:
        context = result.format_context(self.header) if result is not None else ""
        if self.return_messages:
            msgs: list[BaseMessage] = [SystemMessage(content=context)] if context else []
            return msgs + [record_to_message(r) for r in recent]
        turns = "\n".join(self._turn_line(r) for r in recent)
        return "\n\n".join(part for part in (context, turns) if part)

    def _turn_line(self, record: MemoryRecord) -> str:
        """One transcript entry: ``AI:`` for the assistant, ``Human:`` for the user and any other role (with
        its ``[stored <role> message]`` prefix); a multi-line turn's later lines are indented, so no turn can
        start a line of its own (a forged ``System:`` or ``AI:`` line, a fake memories block)."""
        prefix = self.ai_prefix if record.role == "assistant" else self.human_prefix
        return f"{prefix}: {transcript_text(stored_turn_text(record))}"

    # -- save ---------------------------------------------------------------------------------------
    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Observe the user's input (role ``user``) and the answer (role ``assistant``) in this session."""
        in_key = pick_key(inputs, self.input_key, set(self.memory_variables), "input")
        out_key = pick_key(outputs, self.output_key, set(), "output")
        pairs = [(inputs.get(in_key) if in_key else None, "user"), (outputs.get(out_key) if out_key else None, "assistant")]
        self.user_memory.observe_many(turn_events(self.psm, pairs, self.session_id))

    # -- clear --------------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget this session's turns (working and episodic memory). Other sessions stay."""
        mem = self.user_memory
        ids = [r.id for r in mem.working(self.session_id)]
        ids += [r.id for r in mem.records() if r.session_id == self.session_id]
        for rid in dict.fromkeys(ids):
            try:
                mem.forget(rid)
            except NotFoundError:
                pass
        logger.info("cleared session %s (%d memories)", self.session_id, len(set(ids)))

    # -- async twins (run off the event loop) -------------------------------------------------------
    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.load_memory_variables, inputs)

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        await asyncio.to_thread(self.save_context, inputs, outputs)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

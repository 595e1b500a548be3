"""PSMMemoryMiddleware: long-term memory for LangChain v1 agents (``create_agent(middleware=[...])``).

```
before_model     a new user turn: hand it to the feedback handler (was the last answer corrected?)
wrap_model_call  recall for the latest user message; add the memories to this call's system message
after_model      a final answer (no tool calls): observe the user turn and the answer
```
Memories are injected per model call and never written into the agent's message state. The user
is ``user_id`` (fixed) or, per invocation, ``context.user_id`` (``create_agent(context_schema=...)``)
or ``config["configurable"]["user_id"]``; the session is the thread id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from langchain_psm._common import default_psm, turn_events, turn_ids
from langchain_psm.callbacks import FeedbackTracker
from psm_core import PSM, RecallResult
from psm_core.errors import InvalidUserIdError
from psm_core.recall import DEFAULT_HEADER
from psm_core.text import validate_user_id

__all__ = ["PSMMemoryMiddleware"]

logger = logging.getLogger(__name__)


def _config() -> dict[str, Any]:
    from langgraph.config import get_config

    try:
        return dict(get_config().get("configurable") or {})
    except RuntimeError:  # called outside a runnable context
        return {}


def _last_human(messages: Sequence[AnyMessage]) -> HumanMessage | None:
    for msg in reversed(messages):
        if isinstance(msg, HumanMessage):
            return msg
    return None


def _with_context(system: SystemMessage | None, context: str) -> SystemMessage:
    if system is None:
        return SystemMessage(content=context)
    if isinstance(system.content, str):
        return SystemMessage(content=f"{system.content}\n\n{context}" if system.content else context)
    return SystemMessage(content=[*system.content, {"type": "text", "text": context}])


class PSMMemoryMiddleware(AgentMiddleware[AgentState[Any], Any]):
    """Recall a user's memories into each model call of an agent and remember the exchange.

    ``k`` / ``token_budget``: how many memories, and at most how many tokens; ``tiers`` to recall
    from; ``observe=False`` reads memory without writing; ``feedback`` is a
    PSMFeedbackCallbackHandler (also pass it in ``config={"callbacks": [...]}``); ``profile=True`` also
    injects the user's current facts (``mem.profile()``, a compact block before the recalled memories;
    off by default).
    """

    def __init__(
        self,
        psm: PSM | None = None,
        *,
        user_id: str | None = None,
        k: int = 5,
        token_budget: int | None = 800,
        tiers: Sequence[str] | None = None,
        header: str = DEFAULT_HEADER,
        observe: bool = True,
        feedback: FeedbackTracker | None = None,
        profile: bool = False,
    ) -> None:
        super().__init__()
        self.psm = psm if psm is not None else default_psm()
        self.user_id = validate_user_id(user_id) if user_id is not None else None
        self.k = k
        self.token_budget = token_budget
        self.tiers = list(tiers) if tiers is not None else None
        self.header = header
        self.observe = observe
        self.feedback = feedback
        self.profile = profile
        self.tools = []

    # -- who and where ------------------------------------------------------------------------------
    def _user(self, runtime: Runtime[Any] | None) -> str:
        if self.user_id is not None:
            return self.user_id
        ctx = getattr(runtime, "context", None)
        uid = ctx.get("user_id") if isinstance(ctx, dict) else getattr(ctx, "user_id", None)
        if uid is None:
            uid = _config().get("user_id")
        if uid is None:
            raise InvalidUserIdError(None)
        return validate_user_id(uid)

    @staticmethod
    def _session() -> str | None:
        sid = _config().get("thread_id")
        return None if sid is None else str(sid)

    # -- hooks --------------------------------------------------------------------------------------
    def before_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        messages = state["messages"]
        if self.feedback is not None and messages and isinstance(messages[-1], HumanMessage):
            self.feedback.user_turn(self._user(runtime), messages[-1].text, session_id=self._session())
        return None

    def _recall(self, request: ModelRequest[Any]) -> tuple[str, RecallResult] | None:
        human = _last_human(request.messages)
        if human is None or not human.text.strip():
            return None
        uid = self._user(request.runtime)
        mem = self.psm.for_user(uid)
        in_prompt = turn_ids(mem, self._session(), {m.text for m in request.messages})
        res = mem.recall(human.text, k=self.k, tiers=self.tiers, token_budget=self.token_budget, exclude_ids=in_prompt)
        return (uid, res) if res.memories or self.profile else None

    def _inject(self, request: ModelRequest[Any], recalled: tuple[str, RecallResult] | None) -> ModelRequest[Any]:
        if recalled is None:
            return request
        uid, res = recalled
        if self.feedback is not None and res.memories:
            self.feedback.expect(uid, res, session_id=self._session())
        context = res.format_context(self.header)
        if self.profile:
            facts = self.psm.for_user(uid).profile().format_context()
            context = "\n\n".join(c for c in (facts, context) if c)
        if not context:
            return request
        return request.override(system_message=_with_context(request.system_message, context))

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any]:
        return handler(self._inject(request, self._recall(request)))

    def after_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        return self._after(state, runtime, self._session())

    # -- async twins --------------------------------------------------------------------------------
    async def abefore_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        messages = state["messages"]
        if self.feedback is not None and messages and isinstance(messages[-1], HumanMessage):
            await self.feedback.auser_turn(self._user(runtime), messages[-1].text, session_id=self._session())
        return None

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> ModelResponse[Any]:
        recalled = await asyncio.to_thread(self._recall, request)
        return await handler(self._inject(request, recalled))

    async def aafter_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        session = self._session()
        return await asyncio.to_thread(self._after, state, runtime, session)

    def _after(self, state: AgentState[Any], runtime: Runtime[Any], session: str | None) -> dict[str, Any] | None:
        if not self.observe:
            return None
        messages = state["messages"]
        answer = messages[-1] if messages else None
        if not isinstance(answer, AIMessage) or answer.tool_calls:
            return None
        human = _last_human(messages)
        events = turn_events(self.psm, [(human, "user"), (answer, "assistant")], session)
        if events:
            self.psm.for_user(self._user(runtime)).observe_many(events)
        return None

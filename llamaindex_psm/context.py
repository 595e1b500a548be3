"""Helpers shared by the adapters: message text, and a recall rendered as a prompt context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock

from psm_core.memory import UserMemory
from psm_core.recall import RecallResult, fit_budget
from psm_core.text import count_tokens

__all__ = ["DEFAULT_HEADER", "latest_user_text", "message_text", "recall_context"]

DEFAULT_HEADER = "Relevant memories about the user (from earlier conversations):"


def message_text(message: ChatMessage | str | None) -> str:
    """The text of a message (its text blocks joined), or the string itself."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    return "\n".join(b.text for b in message.blocks if isinstance(b, TextBlock))


def latest_user_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the latest user message with text ("" when there is none)."""
    for m in reversed(messages):
        if m.role == MessageRole.USER:
            text = message_text(m)
            if text.strip():
                return text
    return ""


def recall_context(
    memory: UserMemory,
    query: str,
    *,
    k: int,
    token_budget: int | None,
    session_id: str | None = None,
    exclude_texts: Iterable[str] = (),
    header: str = DEFAULT_HEADER,
) -> tuple[RecallResult, str]:
    """Recall for ``query`` and render the prompt context (header included) within ``token_budget`` tokens.

    Memories of ``session_id`` whose text is in ``exclude_texts`` (turns the LLM already sees in the
    chat history) are left out, so a turn is never surfaced as a memory of itself.
    """
    skip = {t for t in exclude_texts if t}
    res = memory.recall(query, k=k + min(len(skip), k), token_budget=None)
    fresh = [m for m in res.memories if not (m.record.session_id == session_id and m.text in skip)][:k]
    if token_budget is not None:  # the header counts against the budget too
        token_budget = max(1, token_budget - count_tokens(header + "\n"))
    kept, used = fit_budget(fresh, token_budget)
    result = RecallResult(query=res.query, memories=kept, now=res.now, tokens=used)
    return result, result.format_context(header)

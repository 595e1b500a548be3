"""Helpers shared by the adapters: message text, and a recall rendered as a prompt context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock

from psm_core.memory import UserMemory
from psm_core.recall import RecallResult
from psm_core.render import frame_tokens

__all__ = ["DEFAULT_HEADER", "latest_user_text", "message_text", "recall_context", "session_turn_ids"]

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
    """Recall for ``query`` and render the prompt context within ``token_budget`` tokens (the block's frame,
    header included, counts: :meth:`RecallResult.format_context`, memories as quoted data).

    Turns of ``session_id`` whose text is in ``exclude_texts`` (turns the LLM already sees in the
    chat history) are excluded from the recall (``exclude_ids``), so a turn is never surfaced as a
    memory of itself, nor counted as recalled.
    """
    if token_budget is not None:  # the frame (header, note, tags) counts against the budget too
        token_budget = max(1, token_budget - frame_tokens(header))
    shown = session_turn_ids(memory, session_id, exclude_texts)
    result = memory.recall(query, k=k, token_budget=token_budget, exclude_ids=shown)
    return result, result.format_context(header)


def session_turn_ids(memory: UserMemory, session_id: str | None, texts: Iterable[str]) -> set[str]:
    """Ids of the stored turns of ``session_id`` whose text is one of ``texts``."""
    wanted = {t for t in texts if t}
    if not wanted:
        return set()
    recs = memory.working(session_id)
    if session_id is not None:  # persistent turns of the session, from its per-session index
        recs = [*recs, *memory.records(session_id=session_id)]
    return {r.id for r in recs if r.text in wanted}

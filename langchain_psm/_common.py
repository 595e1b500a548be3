"""Helpers shared by the adapters: the process-wide default PSM (:func:`psm_core.defaults.default_psm`) and
message <-> memory conversion."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, HumanMessage, ToolMessage

from psm_core import PSM, MemoryRecord, UserMemory
from psm_core.defaults import default_psm
from psm_core.errors import EmptyTextError, InvalidInputError
from psm_core.render import render_role
from psm_core.text import clean_text

__all__ = [
    "REPLAYED_ROLES",
    "ROLE_OF_TYPE",
    "as_text",
    "default_psm",
    "pick_key",
    "record_to_message",
    "role_of",
    "stored_turn_text",
    "turn_events",
    "turn_ids",
]

logger = logging.getLogger(__name__)

ROLE_OF_TYPE: dict[str, str] = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}


def as_text(value: Any) -> str:
    """The text of a chain input/output value: a str, a message's text, or the str of anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        return value.text
    if isinstance(value, list) and value and all(isinstance(v, BaseMessage) for v in value):
        return value[-1].text
    return "" if value is None else str(value)


def role_of(message: BaseMessage) -> str:
    """The PSM role of a message: user, assistant, system, tool, or a ChatMessage's own role."""
    if isinstance(message, ChatMessage):
        return message.role
    return ROLE_OF_TYPE.get(message.type, message.type)


REPLAYED_ROLES = frozenset({"user", "assistant", "tool"})
"""Roles a stored turn is replayed in as is; any other role is replayed as a human message (see :func:`record_to_message`)."""


def stored_turn_text(record: MemoryRecord) -> str:
    """The text a stored turn is replayed with: its own text for the :data:`REPLAYED_ROLES`, else the text
    after a visible ``[stored <role> message]`` prefix (a role that is not a plain name is quoted)."""
    if record.role in REPLAYED_ROLES:
        return record.text
    return f"[stored {render_role(record.role)} message] {record.text}"


def record_to_message(record: MemoryRecord) -> BaseMessage:
    """A LangChain message for a stored turn; the message id is the memory id.

    ``user``, ``assistant`` and ``tool`` turns come back as ``HumanMessage``, ``AIMessage`` and
    ``ToolMessage``. A turn stored with any other role (``system``, ``developer``, a speaker's name...)
    comes back as a ``HumanMessage`` whose text starts with ``[stored <role> message]``: stored text never
    gets more authority than the user's own (never a ``SystemMessage``, nor a ``ChatMessage`` whose role a
    provider may read as ``system``/``developer``), and the model still sees where it came from.
    """
    meta: Mapping[str, Any] = record.metadata
    role = record.role
    if role == "user":
        return HumanMessage(content=record.text, id=record.id)
    if role == "assistant":
        return AIMessage(content=record.text, id=record.id)
    if role == "tool":
        return ToolMessage(content=record.text, id=record.id, tool_call_id=str(meta.get("tool_call_id", "")))
    return HumanMessage(content=stored_turn_text(record), id=record.id)


def pick_key(values: Mapping[str, Any], key: str | None, exclude: set[str], what: str) -> str | None:
    """The key of ``values`` to read: ``key`` when given, else the only key not in ``exclude``."""
    if key is not None:
        return key if key in values else None
    keys = [k for k in values if k not in exclude and k != "stop"]
    if len(keys) == 1:
        return keys[0]
    for candidate in ("input", "question", "query", "output", "response", "text", "answer"):
        if candidate in keys:
            return candidate
    raise InvalidInputError(f"cannot tell which {what} key holds the text among {sorted(keys)}: set {what}_key=")


def turn_events(
    psm: PSM, turns: Iterable[tuple[Any, str]], session_id: str | None, metadata: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``observe_many`` events for (value, role) pairs; values with no visible text are skipped."""
    events = []
    for value, role in turns:
        try:
            text = clean_text(as_text(value), max_bytes=psm.settings.max_text_bytes)
        except EmptyTextError:
            continue
        event: dict[str, Any] = {"text": text, "role": role, "session_id": session_id}
        if metadata:
            event["metadata"] = dict(metadata)
        events.append(event)
    return events


def turn_ids(mem: UserMemory, session_id: str | None, texts: Collection[str]) -> set[str]:
    """Ids of the stored turns of ``session_id`` whose text is one of ``texts`` (turns already in the prompt).

    Pass them to ``recall(exclude_ids=...)`` so a turn the model already sees is never surfaced as a
    memory of itself (nor counted as recalled).
    """
    if not texts:
        return set()
    recs = mem.working(session_id)
    if session_id is not None:  # persistent turns of the session, from its per-session index
        recs = [*recs, *mem.records(session_id=session_id)]
    return {r.id for r in recs if r.text in texts or stored_turn_text(r) in texts}

"""Helpers shared by the adapters: the process-wide default PSM and message <-> memory conversion."""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from psm_core import PSM, MemoryRecord, UserMemory
from psm_core.errors import EmptyTextError, InvalidInputError
from psm_core.text import clean_text

__all__ = ["ROLE_OF_TYPE", "as_text", "default_psm", "pick_key", "record_to_message", "role_of", "turn_events", "turn_ids"]

logger = logging.getLogger(__name__)

ROLE_OF_TYPE: dict[str, str] = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}

_default: PSM | None = None
_default_lock = threading.Lock()


def default_psm() -> PSM:
    """The process-wide ``PSM.local()`` used when an adapter is built without ``psm=`` (closed at exit).

    An embedded store has one writer per process, so every adapter without an explicit PSM shares it.
    Once it is closed, the next adapter built without ``psm=`` gets a fresh one.
    """
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = PSM.local()
            atexit.register(_default.close)
            logger.info("langchain_psm created the default PSM at %s", _default.settings.home)
        return _default


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


def record_to_message(record: MemoryRecord) -> BaseMessage:
    """A LangChain message for a stored turn; the message id is the memory id."""
    meta: Mapping[str, Any] = record.metadata
    role = record.role
    if role == "user":
        return HumanMessage(content=record.text, id=record.id)
    if role == "assistant":
        return AIMessage(content=record.text, id=record.id)
    if role == "system":
        return SystemMessage(content=record.text, id=record.id)
    if role == "tool":
        return ToolMessage(content=record.text, id=record.id, tool_call_id=str(meta.get("tool_call_id", "")))
    return ChatMessage(content=record.text, role=role, id=record.id)


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
    return {r.id for r in recs if r.text in texts}

"""In-process tiers: the sensory buffer (raw events before the gate) and working memory (per session)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from psm_core.types import Event, MemoryRecord

__all__ = [
    "SensoryBuffer",
    "WorkingItem",
    "WorkingMemory",
]


class SensoryBuffer:
    """The last ``size`` raw events of one user, as they arrived (before the relevance gate)."""

    def __init__(self, size: int) -> None:
        self._events: deque[Event] = deque(maxlen=size)
        self._lock = threading.Lock()

    def push(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def recent(self, n: int | None = None) -> list[Event]:
        with self._lock:
            items = list(self._events)
        return items if n is None else items[-n:]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        return len(self._events)


@dataclass
class WorkingItem:
    record: MemoryRecord
    vector: NDArray[np.float32]


class WorkingMemory:
    """The current conversation window: the last ``window`` turns of each of the ``max_sessions``
    most recently active sessions, gated or not. Older sessions leave working memory."""

    def __init__(self, window: int, max_sessions: int = 8) -> None:
        self._window = window
        self._max_sessions = max_sessions
        self._sessions: OrderedDict[str | None, deque[WorkingItem]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, record: MemoryRecord, vector: NDArray[np.float32]) -> None:
        with self._lock:
            q = self._sessions.get(record.session_id)
            if q is None:
                q = self._sessions[record.session_id] = deque(maxlen=self._window)
                while len(self._sessions) > self._max_sessions:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(record.session_id)
            q.append(WorkingItem(record, vector))

    def items(self, session_id: str | None = None, all_sessions: bool = True) -> list[WorkingItem]:
        with self._lock:
            if all_sessions:
                return [it for q in self._sessions.values() for it in q]
            return list(self._sessions.get(session_id, ()))

    def end_session(self, session_id: str | None) -> list[WorkingItem]:
        with self._lock:
            return list(self._sessions.pop(session_id, ()))

    def get(self, record_id: str) -> WorkingItem | None:
        with self._lock:
            for q in self._sessions.values():
                for it in q:
                    if it.record.id == record_id:
                        return it
        return None

    def remove(self, record_id: str) -> bool:
        with self._lock:
            for q in self._sessions.values():
                for it in list(q):
                    if it.record.id == record_id:
                        q.remove(it)
                        return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return sum(len(q) for q in self._sessions.values())

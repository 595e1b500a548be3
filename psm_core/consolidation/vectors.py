"""Statement embeddings for a pass: the plain text of each record, embedded once and cached.

The store keeps retrieval vectors (speaker, text and preceding turn), which make the turns of one
conversation alike; pattern extraction and interference compare what records *say*.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from psm_core.types import MemoryRecord

__all__ = ["TextVectors"]


class TextVectors:
    """Embeddings of records' plain texts (what the skill compares), cached by record id and text."""

    def __init__(self, embed: Callable[[list[str]], NDArray[np.float32]], size: int = 50_000) -> None:
        self.embed = embed
        self.size = size
        self._cache: OrderedDict[tuple[str, int], NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, records: list[MemoryRecord]) -> NDArray[np.float32] | None:
        if not records:
            return None
        keys = [(r.id, hash(r.text)) for r in records]
        with self._lock:
            missing = [k for k, key in enumerate(keys) if key not in self._cache]
        fresh = self.embed([records[k].text for k in missing]) if missing else None
        with self._lock:
            for n, k in enumerate(missing):
                self._cache[keys[k]] = fresh[n]  # type: ignore[index]
            out = np.stack([self._cache[key] for key in keys]).astype(np.float32)
            for key in keys:
                self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return out

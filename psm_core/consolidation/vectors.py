"""Statement embeddings for a pass: the plain text of each record, and its sentences, embedded once and cached.

The store keeps retrieval vectors (speaker, text and preceding turn), which make the turns of one
conversation alike; pattern extraction and interference compare what records *say*, and update
links compare their sentences (one turn can say several things).
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
        self._sentences: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def sentences(self, texts: list[str]) -> NDArray[np.float32]:
        """Embeddings of sentences (rows aligned with ``texts``), cached by text (at most ``size`` of them)."""
        with self._lock:
            have = {t: self._sentences[t] for t in set(texts) if t in self._sentences}
        missing = [t for t in dict.fromkeys(texts) if t not in have]
        if missing:
            have.update(zip(missing, self.embed(missing)))
        with self._lock:
            for t in missing:
                self._sentences[t] = have[t]
            for t in have:
                if t in self._sentences:
                    self._sentences.move_to_end(t)
            while len(self._sentences) > self.size:
                self._sentences.popitem(last=False)
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([have[t] for t in texts]).astype(np.float32)

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

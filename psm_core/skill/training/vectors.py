"""Embedding for training and evaluation: batched, de-duplicated, optionally cached on disk.

The cache (``cache_dir/vectors-<model>.npz``) only saves time between runs; results do not depend on it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from psm_core.embeddings import Embedder

__all__ = ["VectorCache"]

logger = logging.getLogger(__name__)


class VectorCache:
    """Embeds texts once per process (and once per machine with ``cache_dir``); itself an Embedder."""

    def __init__(self, embedder: Embedder, cache_dir: Path | None = None, progress: bool = False) -> None:
        self.embedder = embedder
        self.progress = progress
        self._vecs: dict[str, NDArray[np.float32]] = {}
        self._path = None if cache_dir is None else Path(cache_dir) / f"vectors-{_slug(embedder.name)}.npz"
        self._dirty = False
        if self._path is not None and self._path.exists():
            with np.load(self._path) as z:
                keys, vecs = z["keys"], z["vecs"]
            self._vecs = {str(k): v for k, v in zip(keys, vecs)}
            logger.info("loaded %d cached vectors from %s", len(self._vecs), self._path)

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()

    def embed(self, texts: list[str], desc: str = "embedding") -> NDArray[np.float32]:
        keys = [self._key(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._vecs))
        if todo:
            first: dict[str, str] = {}
            for k, t in zip(keys, texts):
                first.setdefault(k, t)
            batch = 512
            starts = range(0, len(todo), batch)
            if self.progress and len(todo) > batch:
                from tqdm.auto import tqdm

                starts = tqdm(starts, desc=desc, unit="batch")
            for s in starts:
                chunk = todo[s : s + batch]
                vecs = self.embedder.embed([first[k] for k in chunk])
                for k, v in zip(chunk, vecs):
                    self._vecs[k] = v
            self._dirty = True
        if not keys:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self._vecs[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if self._path is None or not self._dirty:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vecs), dtype="U40")
        vecs = np.stack(list(self._vecs.values())) if self._vecs else np.zeros((0, self.embedder.dim), np.float32)
        tmp = self._path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vecs=vecs)
        tmp.replace(self._path)
        self._dirty = False


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-60:]

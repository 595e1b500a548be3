"""An on-disk embedding cache that wraps any :class:`psm_core.embeddings.Embedder`.

Vectors are stored in SQLite under ``benchmarks/.cache/embeddings.sqlite3`` keyed by
sha256(model name, dimension, text), so repeated benchmark runs embed nothing twice. The wrapper
is itself an Embedder (``name``, ``dim``, ``embed``), so it can be given to ``PSM(..., embedder=)``.
:meth:`CachingEmbedder.bypass` switches the cache off (for timing the real embedder).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from psm_core.embeddings import Embedder

__all__ = ["CACHE_DIR", "CachingEmbedder", "default_embedder"]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
_CHUNK = 500


class CachingEmbedder:
    """Embedder wrapper with a persistent per-text cache; counts hits and misses."""

    def __init__(self, base: Embedder, path: str | Path | None = None, batch: int = 256) -> None:
        self.base = base
        self.path = Path(path) if path is not None else CACHE_DIR / "embeddings.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("create table if not exists vec (key text primary key, v blob not null)")
        self._db.commit()
        self._lock = threading.Lock()
        self._batch = batch
        self._bypass = False
        self._prefix = f"{base.name}\x00{base.dim}\x00".encode()
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def dim(self) -> int:
        return self.base.dim

    def _key(self, text: str) -> str:
        return hashlib.sha256(self._prefix + text.encode("utf-8", "surrogatepass")).hexdigest()

    @contextmanager
    def bypass(self) -> Iterator[None]:
        """Within this block, embed with the base embedder only (no lookups, no writes)."""
        old, self._bypass = self._bypass, True
        try:
            yield
        finally:
            self._bypass = old

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        if self._bypass or not texts:
            return self.base.embed(texts)
        keys = [self._key(t) for t in texts]
        found: dict[str, NDArray[np.float32]] = {}
        with self._lock:
            uniq = list(dict.fromkeys(keys))
            for start in range(0, len(uniq), _CHUNK):
                chunk = uniq[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"select key, v from vec where key in ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        todo = list(dict.fromkeys(keys[i] for i in missing))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if todo:
            first = {keys[i]: texts[i] for i in missing}
            for start in range(0, len(todo), self._batch):
                chunk = todo[start : start + self._batch]
                vecs = self.base.embed([first[k] for k in chunk])
                rows = []
                for k, v in zip(chunk, vecs):
                    vv = np.ascontiguousarray(v, dtype=np.float32)
                    found[k] = vv
                    rows.append((k, vv.tobytes()))
                with self._lock:
                    self._db.executemany("insert or replace into vec (key, v) values (?, ?)", rows)
                    self._db.commit()
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def default_embedder(cache: bool = True) -> CachingEmbedder | Embedder:
    """The product's default embedder (``psm_core.embeddings.load_embedder()``), cached on disk when ``cache``."""
    from psm_core.embeddings import load_embedder

    base = load_embedder()
    return CachingEmbedder(base) if cache else base

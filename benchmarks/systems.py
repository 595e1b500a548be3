"""The systems a benchmark compares, behind one small interface.

```
Doc              one indexed unit for a baseline: text to index, the context line it would inject,
                 and the benchmark units it covers (a dia_id, or a session id)
Bm25System       bm25s (Okapi BM25, English stop words, Snowball stemmer when PyStemmer is installed)
VectorSystem     the "just use a vector DB" floor: the default embedder in a plain Chroma collection
                 (cosine HNSW, no embedding function: the same collection settings PSM uses)
PsmSystem        PSM through its public API (see benchmarks/psm_system.py)
```
Every system returns hits best first; a :class:`Hit` carries the units it covers and its context line,
so every benchmark scores every system in the same way.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psm_core.embeddings import Embedder
from psm_core.text import count_tokens

__all__ = ["CONTEXT_HEADER", "Bm25System", "Doc", "Hit", "VectorSystem", "context_tokens", "open_chroma", "timed"]

CONTEXT_HEADER = "Relevant memories about the user:"  # what RecallResult.format_context() puts first


@dataclass(frozen=True)
class Doc:
    text: str
    line: str
    units: tuple[str, ...]


@dataclass(frozen=True)
class Hit:
    """One retrieved item: the benchmark units it covers and the line it adds to the prompt."""

    units: tuple[str, ...]
    line: str
    tier: str = ""


def context_tokens(lines: Sequence[str]) -> int:
    """Tokens of the prompt block an app would inject: the header and one line per item (0 for none)."""
    if not lines:
        return 0
    return count_tokens("\n".join([CONTEXT_HEADER, *lines]))


class Bm25System:
    """BM25 over a list of docs with the ``bm25s`` library."""

    name = "bm25"

    def __init__(self) -> None:
        import logging

        import bm25s
        from bm25s.tokenization import Tokenizer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import

        try:
            import Stemmer

            stemmer: Any = Stemmer.Stemmer("english")
        except ImportError:  # optional: bm25s works without it
            stemmer = None
        self._bm25s = bm25s
        self._tok = Tokenizer(stemmer=stemmer, stopwords="en")
        self.stemmed = stemmer is not None
        self._docs: list[Doc] = []
        self._model: Any = None

    def index(self, docs: Sequence[Doc]) -> None:
        from bm25s.tokenization import Tokenizer

        self._tok = Tokenizer(stemmer=self._tok.stemmer, stopwords="en")
        self._docs = list(docs)
        ids = self._tok.tokenize([d.text for d in self._docs], return_as="ids", show_progress=False)
        self._model = self._bm25s.BM25()
        self._model.index(ids, show_progress=False)

    def search(self, query: str, n: int) -> list[Hit]:
        if not self._docs:
            return []
        n = min(n, len(self._docs))
        q = self._tok.tokenize([query], return_as="ids", update_vocab=False, show_progress=False)
        docs, _ = self._model.retrieve(q, k=n, show_progress=False, n_threads=1)
        return [Hit(self._docs[i].units, self._docs[i].line) for i in docs[0].tolist()]


def open_chroma(path: Path) -> Any:
    """An embedded Chroma client at ``path`` with the settings PSM uses."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))


class VectorSystem:
    """Dense retrieval: embed docs with ``embedder`` into a fresh Chroma collection; query by cosine."""

    name = "vectors"
    _counter = itertools.count()

    def __init__(self, client: Any, embedder: Embedder, name: str = "vectors") -> None:
        self.client = client
        self.embedder = embedder
        self.name = name
        self._col: Any = None
        self._docs: list[Doc] = []

    def index(self, docs: Sequence[Doc]) -> None:
        self.close()
        self._docs = list(docs)
        self._col = self.client.create_collection(
            f"raw_{self.name}_{next(self._counter)}", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        if not self._docs:
            return
        vecs = self.embedder.embed([d.text for d in self._docs])
        step = max(1, min(4096, int(self.client.get_max_batch_size())))
        for start in range(0, len(self._docs), step):
            stop = min(start + step, len(self._docs))
            self._col.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=np.asarray(vecs[start:stop], dtype=np.float32),
                documents=[d.text for d in self._docs[start:stop]],
            )

    def search(self, query: str, n: int) -> list[Hit]:
        if not self._docs:
            return []
        qv = self.embedder.embed([query])
        got = self._col.query(query_embeddings=qv, n_results=min(n, len(self._docs)), include=["distances"])
        return [Hit(self._docs[int(i)].units, self._docs[int(i)].line) for i in got["ids"][0]]

    def close(self) -> None:
        if self._col is not None:
            try:
                self.client.delete_collection(self._col.name)
            except Exception:  # already gone: nothing to clean
                pass
            self._col = None


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and its wall time in milliseconds."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t0) * 1000.0

"""An incremental, in-process BM25 index: the lexical half of hybrid recall.

Built from the store at first use and kept current on every write, so recall pays only for
scoring (numpy over postings), never for re-indexing. Deleted documents are masked and the index
compacts itself when a third of it is dead.
"""

from __future__ import annotations

import math
import re
import threading

import numpy as np
import Stemmer
from numpy.typing import NDArray

__all__ = ["BM25Index", "tokenize"]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves i'm you're it's that's don't didn't also yes yeah oh ok okay
    hey hi really just like get got go going know think one much well""".split()
)


_STEMMER = Stemmer.Stemmer("english")
_TOKENS: dict[str, str] = {}  # lowercased word -> its token ("" for a stop word), at most _MAX_CACHED
_MAX_CACHED = 500_000


def _token(word: str) -> str:
    """The token of one lowercased word, remembered: "'s" dropped, "" for a stop word, else its Snowball
    (Porter 2) English stem ("beagles"/"beagle" and "hiking"/"hiked" meet). Loading a user's store
    tokenizes every memory, and a vocabulary repeats."""
    w = word.replace("'s", "")
    tok = _STEMMER.stemWord(w) if w and w not in STOPWORDS else ""
    if len(_TOKENS) < _MAX_CACHED:
        _TOKENS[word] = tok
    return tok


def tokenize(text: str) -> list[str]:
    """Lowercased, stop-word free, lightly stemmed word tokens."""
    cached = _TOKENS.get
    out = []
    for w in _WORD.findall(text.lower()):
        tok = cached(w)
        if tok is None:
            tok = _token(w)
        if tok:
            out.append(tok)
    return out


class _Postings:
    __slots__ = ("docs", "tfs", "_arr")

    def __init__(self) -> None:
        self.docs: list[int] = []
        self.tfs: list[int] = []
        self._arr: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None

    def add(self, doc: int, tf: int) -> None:
        self.docs.append(doc)
        self.tfs.append(tf)
        self._arr = None

    def arrays(self) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        if self._arr is None:
            self._arr = (np.asarray(self.docs, dtype=np.int64), np.asarray(self.tfs, dtype=np.float32))
        return self._arr


class BM25Index:
    """BM25 (Okapi, k1=1.2, b=0.75) over documents keyed by string id."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self._post: dict[str, _Postings] = {}
        self._ids: list[str] = []
        self._slot: dict[str, int] = {}
        self._len: list[int] = []
        self._alive: list[bool] = []
        self._total_len = 0
        self._dead = 0
        self._len_arr: NDArray[np.float32] | None = None
        self._alive_arr: NDArray[np.float32] | None = None
        self._texts: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot

    def add(self, doc_id: str, text: str) -> None:
        """Index ``text`` under ``doc_id`` (replacing an earlier text of that id)."""
        with self._lock:
            if doc_id in self._slot:
                self._remove(doc_id)
            toks = tokenize(text)
            slot = len(self._ids)
            self._ids.append(doc_id)
            self._slot[doc_id] = slot
            self._len.append(len(toks))
            self._alive.append(True)
            self._total_len += len(toks)
            self._texts[doc_id] = text
            counts: dict[str, int] = {}
            for t in toks:
                counts[t] = counts.get(t, 0) + 1
            for t, c in counts.items():
                p = self._post.get(t)
                if p is None:
                    p = self._post[t] = _Postings()
                p.add(slot, c)
            self._len_arr = None
            self._alive_arr = None

    def remove(self, doc_id: str) -> None:
        """Drop ``doc_id`` from the index (no-op when absent)."""
        with self._lock:
            if doc_id in self._slot:
                self._remove(doc_id)
                if self._dead > 1000 and self._dead * 3 > len(self._ids):
                    self._compact()

    def _remove(self, doc_id: str) -> None:
        slot = self._slot.pop(doc_id)
        self._alive[slot] = False
        self._total_len -= self._len[slot]
        self._texts.pop(doc_id, None)
        self._dead += 1
        self._alive_arr = None

    def _compact(self) -> None:
        texts = [(i, self._texts[i]) for i in self._ids if i in self._slot]
        self._clear()
        for doc_id, text in texts:
            self.add(doc_id, text)

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` best (id, score) pairs for ``query``, best first; ties keep insertion order."""
        terms = set(tokenize(query))
        with self._lock:
            alive_n = len(self._slot)
            if not terms or alive_n == 0 or n <= 0:
                return []
            if self._len_arr is None:
                self._len_arr = np.asarray(self._len, dtype=np.float32)
            if self._alive_arr is None:
                self._alive_arr = np.asarray(self._alive, dtype=np.float32)
            avgdl = max(self._total_len / alive_n, 1.0)
            norm = self.k1 * (1 - self.b + self.b * self._len_arr / avgdl)
            scores = np.zeros(len(self._ids), dtype=np.float32)
            for t in terms:
                p = self._post.get(t)
                if p is None:
                    continue
                docs, tfs = p.arrays()
                df = len(docs)
                idf = math.log(1.0 + (alive_n - df + 0.5) / (df + 0.5))
                scores[docs] += idf * tfs * (self.k1 + 1) / (tfs + norm[docs])
            scores *= self._alive_arr
            positive = int(np.count_nonzero(scores > 0))
            if positive == 0:
                return []
            n = min(n, positive)
            top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
            top = top[np.lexsort((top, -scores[top]))]
            return [(self._ids[i], float(scores[i])) for i in top[:n] if scores[i] > 0]

"""Chroma-backed persistent tiers, one collection per (user, tier); the only module importing chromadb.

Collections are named ``psm_<sha256(user_id)[:32]>_<tier>`` (and ``..._sentences`` for the sentence
vectors a consolidation pass keeps of episodes, one row per sentence, id ``<record id>#<n>/<of>``): a query is always addressed to one
user's collection, so no filter mistake can reach another user. A small registry collection maps
hashes back to user ids for listing. The embedded client (``PersistentClient``) is the default;
``HttpClient`` is used when the settings name a Chroma server.

Every call goes through a shared/exclusive gate (:class:`~psm_core.stores.gate.Gate`): :meth:`compact`
takes it exclusively, closes the client, vacuums the database file in a child process (never with a
second SQLite library in this process: two copies of SQLite in one process release each other's POSIX
locks and corrupt the file) and reopens the client, so compaction under traffic waits instead of
racing other threads.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from psm_core.config import PSMSettings
from psm_core.errors import ConfigurationError, PSMError, StoreError
from psm_core.stores.codec import from_chroma, to_chroma
from psm_core.stores.gate import Gate
from psm_core.types import PERSISTENT_TIERS, MemoryRecord, Tier

__all__ = ["ChromaStore", "user_key"]

logger = logging.getLogger(__name__)

_REGISTRY = "psm__users"
_PAGE = 5000
SENTENCES = "sentences"  # collection suffix of a user's sentence vectors (written by consolidation passes)


_F = TypeVar("_F", bound=Callable[..., Any])


def _shared(method: _F) -> _F:
    """Run ``method`` holding the store's gate shared (compaction waits for it, and it for compaction)."""

    @functools.wraps(method)
    def wrapper(self: ChromaStore, *args: Any, **kwargs: Any) -> Any:
        with self._gate.shared():
            self._check_client()
            try:
                return method(self, *args, **kwargs)
            except PSMError:
                raise
            except Exception as exc:  # chromadb raises many types: callers see one, with what to do
                hint = f"; if this persists, run `psm doctor --home {self._settings.home}`" if self.path else ""
                raise StoreError(f"the Chroma store failed in {method.__name__}: {exc}{hint}") from exc

    return wrapper  # type: ignore[return-value]


def user_key(user_id: str) -> str:
    """Stable, non-reversible key of a user id (hex sha256 prefix)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]


class ChromaStore:
    """Persistent tiers of every user, in one Chroma database (embedded or server)."""

    def __init__(self, settings: PSMSettings) -> None:

        self._settings = settings
        self._gate = Gate()
        self.path: Path | None = settings.home / "chroma" if settings.server is None else None
        self._client: Any = None
        self._max_batch: int | None = None
        self._open()

    def _open(self) -> None:
        """Connect the client (again, after :meth:`compact`) and drop every cached collection handle."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        server = self._settings.server
        try:
            if server is None:
                assert self.path is not None
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)
            else:
                host, port, ssl = server
                self._client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
                self._client.heartbeat()
            self._collections: dict[str, Any] = {}
            self._registered: set[str] = set()
            self._registry = self._client.get_or_create_collection(
                _REGISTRY, embedding_function=None, configuration={"hnsw": {"space": "l2"}}
            )
        except Exception as exc:  # chromadb raises many types; wrap them with context
            self._close_client()
            where = f"{server[0]}:{server[1]}" if server else str(self.path)
            hint = "" if server else f"; if the files are damaged, run `psm doctor --home {self._settings.home}`"
            error = ConfigurationError if server else StoreError
            raise error(f"cannot open the Chroma store at {where}: {exc}{hint}") from exc

    def _check_client(self) -> None:
        if self._client is None:
            raise StoreError("the Chroma store is closed: open a new PSM")

    def _close_client(self) -> None:
        client, self._client = self._client, None
        self._collections = {}
        if client is not None:
            try:
                client.close()  # releases the shared system: a later open in this process reads the files afresh
            except Exception:  # closing is best effort; the files are consistent either way
                logger.debug("closing the Chroma client failed", exc_info=True)

    def close(self) -> None:
        """Release the client (waits for calls in flight). Idempotent."""
        with self._gate.exclusive():
            self._close_client()

    @property
    def is_server(self) -> bool:
        return self.path is None

    # -- collections ----------------------------------------------------------------------------
    def _name(self, key: str, tier: Tier) -> str:
        return f"psm_{key}_{tier.value}"

    def _col(self, key: str, tier: Tier, create: bool = True) -> Any:
        return self._named(self._name(key, tier), create)

    def _named(self, name: str, create: bool) -> Any:
        """The collection ``name`` (cosine space, no embedding function); None when absent and not ``create``."""
        col = self._collections.get(name)
        if col is None:
            if create:
                col = self._client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
            else:
                try:
                    col = self._client.get_collection(name, embedding_function=None)
                except Exception:
                    return None
            self._collections[name] = col
        return col

    @_shared
    def register_user(self, user_id: str) -> None:
        key = user_key(user_id)
        if key in self._registered:
            return
        if not self._registry.get(ids=[key], include=[])["ids"]:
            self._registry.upsert(ids=[key], embeddings=np.ones((1, 1), dtype=np.float32), documents=[user_id])
        self._registered.add(key)

    @_shared
    def users(self) -> list[str]:
        got = self._registry.get(include=["documents"])
        return sorted(d for d in got["documents"] or [] if d is not None)

    # -- records --------------------------------------------------------------------------------
    @_shared
    def upsert(
        self, key: str, tier: Tier, records: Sequence[MemoryRecord], vectors: NDArray[np.float32], *, new: bool = False
    ) -> None:
        """Write ``records`` (all of ``tier``) with their embeddings, in batches Chroma accepts.

        ``new=True`` promises the ids are fresh (generated, never written): Chroma's ``add`` then
        skips the existence check of ``upsert`` (about 1 ms per single-record write). When a later
        batch fails, the batches already written are deleted again, so a bulk write of new records is
        all or nothing.
        """
        if not records:
            return
        docs, metas = zip(*(to_chroma(r) for r in records))
        ids = [r.id for r in records]
        vecs = np.asarray(vectors, dtype=np.float32)
        col = self._col(key, tier)
        step = self._batch_size()
        done = 0
        try:
            for start in range(0, len(ids), step):
                end = start + step
                (col.add if new else col.upsert)(
                    ids=ids[start:end],
                    embeddings=vecs[start:end],
                    documents=list(docs[start:end]),
                    metadatas=list(metas[start:end]),
                )
                done = end
        except Exception as exc:
            if done:
                try:
                    col.delete(ids=ids[:done])
                except Exception:  # the store is failing; report the original error
                    logger.exception("could not roll back %d records after a failed bulk write", done)
            raise StoreError(f"writing {len(records)} records to the {tier.value} tier failed: {exc}") from exc

    def _batch_size(self) -> int:
        if self._max_batch is None:
            try:
                self._max_batch = max(1, int(self._client.get_max_batch_size()))
            except Exception:
                self._max_batch = 1000
        return self._max_batch

    @_shared
    def update_meta(self, key: str, tier: Tier, records: Sequence[MemoryRecord]) -> None:
        """Rewrite the metadata of ``records`` (text and embeddings unchanged: use upsert for those)."""
        if not records:
            return
        metas = [to_chroma(r)[1] for r in records]
        ids = [r.id for r in records]
        step = self._batch_size()
        try:
            col = self._col(key, tier)
            for start in range(0, len(ids), step):
                col.update(ids=ids[start : start + step], metadatas=metas[start : start + step])
        except Exception as exc:
            raise StoreError(f"updating {len(records)} records in the {tier.value} tier failed: {exc}") from exc

    @_shared
    def delete(self, key: str, tier: Tier, ids: Sequence[str]) -> None:
        if ids:
            try:
                self._col(key, tier).delete(ids=list(ids))
            except Exception as exc:
                raise StoreError(f"deleting {len(ids)} records from the {tier.value} tier failed: {exc}") from exc

    @_shared
    def delete_everywhere(self, key: str, ids: Sequence[str], *, keep: Tier | None = None) -> None:
        """Delete ``ids`` from every persistent tier of one user (but ``keep``): no copy survives anywhere."""
        if not ids:
            return
        for tier in PERSISTENT_TIERS:
            if tier is keep:
                continue
            col = self._col(key, tier, create=False)
            if col is None:
                continue
            try:
                col.delete(ids=list(ids))
            except Exception as exc:
                raise StoreError(f"deleting {len(ids)} records from the {tier.value} tier failed: {exc}") from exc

    @_shared
    def get_vectors(self, key: str, tier: Tier, ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        col = self._col(key, tier, create=False)
        if col is None or not ids:
            return {}
        got = col.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    @_shared
    def scan(self, key: str, tier: Tier, with_vectors: bool = False) -> list[tuple[MemoryRecord, NDArray[np.float32] | None]]:
        """Every record of one tier of one user (paged)."""
        col = self._col(key, tier, create=False)
        if col is None:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        out: list[tuple[MemoryRecord, NDArray[np.float32] | None]] = []
        offset = 0
        while True:
            got = col.get(include=include, limit=_PAGE, offset=offset)
            ids = got["ids"]
            for n, rid in enumerate(ids):
                vec = np.asarray(got["embeddings"][n], dtype=np.float32) if with_vectors else None
                out.append((from_chroma(rid, got["documents"][n], got["metadatas"][n]), vec))
            if len(ids) < _PAGE:
                return out
            offset += _PAGE

    @_shared
    def query(self, key: str, tier: Tier, vector: NDArray[np.float32], n: int) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``n`` nearest records of one tier."""
        col = self._col(key, tier, create=False)
        if col is None or n <= 0:
            return []
        try:
            got = col.query(query_embeddings=vector[None, :], n_results=n, include=["distances"])
        except Exception as exc:
            raise StoreError(f"querying the {tier.value} tier failed: {exc}") from exc
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

    # -- sentence vectors ------------------------------------------------------------------------
    def _sentences(self, key: str, create: bool = True) -> Any:
        return self._named(f"psm_{key}_{SENTENCES}", create)

    @_shared
    def put_sentences(self, key: str, vectors: Mapping[str, NDArray[np.float32]]) -> None:
        """Store the sentence vectors of records (record id -> one row per sentence), replacing theirs."""
        rows = [(rid, n, v) for rid, mat in vectors.items() for n, v in enumerate(np.asarray(mat, dtype=np.float32))]
        if not vectors:
            return
        try:
            col = self._sentences(key)
            col.delete(where={"record": {"$in": list(vectors)}})
            step = self._batch_size()
            for start in range(0, len(rows), step):
                part = rows[start : start + step]
                col.add(
                    ids=[f"{rid}#{n}/{len(vectors[rid])}" for rid, n, _ in part],
                    embeddings=np.stack([v for *_, v in part]),
                    metadatas=[{"record": rid} for rid, *_ in part],
                )
        except Exception as exc:
            raise StoreError(f"writing the sentence vectors of {len(vectors)} records failed: {exc}") from exc

    @_shared
    def delete_sentences(self, key: str, record_ids: Sequence[str]) -> None:
        """Drop the sentence vectors of ``record_ids`` (no-op for records without any)."""
        col = self._sentences(key, create=False)
        if col is None or not record_ids:
            return
        try:
            col.delete(where={"record": {"$in": list(record_ids)}})
        except Exception as exc:
            raise StoreError(f"deleting the sentence vectors of {len(record_ids)} records failed: {exc}") from exc

    @_shared
    def scan_sentences(self, key: str) -> dict[str, NDArray[np.float32]]:
        """Every stored sentence vector of one user: record id -> (sentences, dim), in sentence order.

        A record whose rows are incomplete (a write cut short: row ids say ``<record>#<n>/<of>``) is left
        out, so the next pass writes its vectors again."""
        col = self._sentences(key, create=False)
        if col is None:
            return {}
        keys: list[tuple[str, int]] = []
        total: dict[str, int] = {}
        pages: list[NDArray[np.float32]] = []
        offset = 0
        while True:
            got = col.get(include=["embeddings"], limit=_PAGE, offset=offset)
            ids = got["ids"]
            if ids:
                for i in ids:
                    rid, pos = i.rsplit("#", 1)
                    n, _, of = pos.partition("/")
                    keys.append((rid, int(n)))
                    total[rid] = int(of or 0)
                pages.append(np.asarray(got["embeddings"], dtype=np.float32))
            if len(ids) < _PAGE:
                break
            offset += _PAGE
        if not keys:
            return {}
        vecs = np.concatenate(pages)
        order = sorted(range(len(keys)), key=keys.__getitem__)  # by record, then sentence number
        out: dict[str, NDArray[np.float32]] = {}
        start = 0
        for end in range(1, len(order) + 1):
            if end == len(order) or keys[order[end]][0] != keys[order[start]][0]:
                rid = keys[order[start]][0]
                if end - start == total[rid]:
                    out[rid] = vecs[order[start:end]]
                start = end
        return out

    # -- users ----------------------------------------------------------------------------------
    @_shared
    def delete_user(self, user_id: str) -> None:
        """Drop every collection of ``user_id`` (tiers and sentence vectors) and its registry entry."""
        key = user_key(user_id)
        for name in [self._name(key, tier) for tier in PERSISTENT_TIERS] + [f"psm_{key}_{SENTENCES}"]:
            self._collections.pop(name, None)
            try:
                self._client.delete_collection(name)
            except Exception:  # absent collection: nothing to erase
                logger.debug("no collection %s to delete", name)
        self._registry.delete(ids=[key])
        self._registered.discard(key)

    def compact(self, timeout: float = 600.0) -> dict[str, int]:
        """Reclaim the space of deleted and erased data in the embedded store; no-op against a server.

        Waits for calls in flight and holds new ones, closes the client, then a child process purges
        the log of deleted collections, removes their orphaned segment folders and VACUUMs the file
        (nothing of an erased user is left in it), and the client is reopened. Returns what was removed.
        """
        if self.path is None:
            return {}
        with self._gate.exclusive():
            self._close_client()
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "psm_core.stores.maintenance", "compact", str(self.path)],
                    capture_output=True, text=True, timeout=timeout, check=False,
                )  # fmt: skip
            finally:
                self._open()
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StoreError(f"compacting {self.path} failed: {tail[0]}; the store is unchanged and open")
        from psm_core.stores.maintenance import parse_report

        report = parse_report(done.stdout)
        logger.info("compacted %s: %s", self.path, report)
        return report

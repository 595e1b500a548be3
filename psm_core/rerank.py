"""Cross-encoder reranking of recall's best candidates (opt-in: ``PSMSettings(rerank=N)``).

```
CrossEncoder(adapter)      all-MiniLM-L6-v2 (the packaged embedder's weights) + a low-rank adapter and a
                           linear head; merged once, exported to ONNX under model_cache, run with onnxruntime
  .score(query, texts)     one relevance logit per text: float32 [n]
rerank_order(scores, ce, weight)   the new order of a list: z(score) + weight · z(ce)
session_support(scores, sessions)  the new order of a whole list, each memory lifted by its session's best
rerank_text(record)        a memory as the cross-encoder reads it ("speaker: text" for named speakers)
```
The skill ranks every candidate from content-free features; the cross-encoder reads the question and
one memory together, so it sees what a bag of features cannot (who did what, which of two similar
turns answers). It costs one transformer pass per pair, so it rescores only the top ``N`` of a list.
The shipped adapter (``psm_core/skill/weights/reranker.safetensors``, about 1 MB) is trained by
``psm train-reranker`` (``psm_core.skill.training.rerank``); its metadata holds the base model, rank,
input length and the mixing weight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from psm_core.embeddings import _export_onnx, ort_session, resolve_model_path
from psm_core.errors import ConfigurationError
from psm_core.types import MemoryRecord

__all__ = [
    "DEFAULT_ADAPTER",
    "SESSION_TOP",
    "SESSION_WEIGHT",
    "CrossEncoder",
    "load_cross_encoder",
    "rerank_order",
    "rerank_text",
    "session_support",
]

logger = logging.getLogger(__name__)

DEFAULT_ADAPTER = Path(__file__).resolve().parent / "skill" / "weights" / "reranker.safetensors"
_GENERIC_ROLES = ("", "user", "assistant", "system", "human", "ai")
# After the cross-encoder, a memory is lifted by the mean z-score of the SESSION_TOP best candidates of its
# session, times SESSION_WEIGHT (docs/benchmarks.md, "Session support after the reranker": chosen by
# leave-one-conversation-out over the held-out LoCoMo conversations, 0.3 in each fold).
SESSION_WEIGHT = 0.3
SESSION_TOP = 3


def rerank_text(record: MemoryRecord) -> str:
    """``record`` as the cross-encoder reads it: ``"<speaker>: <text>"`` for a named speaker, else the text."""
    role = (record.role or "").strip()
    return f"{role}: {record.text}" if role.lower() not in _GENERIC_ROLES else record.text


def _z(x: NDArray[np.float64]) -> NDArray[np.float64]:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def rerank_order(scores: ArrayLike, ce: ArrayLike, weight: float) -> list[int]:
    """Positions of a best-first list in their new order: by z(score) + ``weight`` · z(ce), both z-scored
    over the list (stable: ties keep the skill's order)."""
    s = np.asarray(scores, dtype=np.float64)
    c = np.asarray(ce, dtype=np.float64)
    if s.shape != c.shape:
        raise ValueError(f"scores and cross-encoder scores differ in length: {s.shape} vs {c.shape}")
    mixed = _z(s) + weight * _z(c)
    return [int(i) for i in np.argsort(-mixed, kind="stable")]


def session_support(
    scores: ArrayLike, sessions: Sequence[str | None], weight: float = SESSION_WEIGHT, top: int = SESSION_TOP
) -> list[int]:
    """Positions of a list's candidates (``scores``: every candidate, in any order) in their new order: by
    z(score) + ``weight`` · the mean z of the ``top`` best candidates of the same session (no lift for a
    candidate without a session; stable: ties keep the order of ``scores``). The evidence of a question
    tends to share a session: a memory whose session holds other strong candidates is lifted over one
    whose session's other candidates are weak (the only candidate of its session counts its own z)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(sessions) != len(s):
        raise ValueError(f"scores and sessions differ in length: {len(s)} vs {len(sessions)}")
    if len(s) < 2 or weight == 0.0:
        return [int(i) for i in np.argsort(-s, kind="stable")]
    z = _z(s)
    adjusted = z.copy()
    members: dict[str, list[int]] = {}
    for i, sid in enumerate(sessions):
        if sid is not None:
            members.setdefault(sid, []).append(i)
    for idx in members.values():
        adjusted[idx] += weight * float(np.sort(z[idx])[::-1][:top].mean())
    return [int(i) for i in np.argsort(-adjusted, kind="stable")]


def read_adapter(path: Path) -> tuple[dict[str, NDArray[np.float32]], dict[str, Any]]:
    """The tensors and metadata (JSON-decoded values) of an adapter file."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    if not path.is_file():
        raise ConfigurationError(f"reranker adapter {path} not found (train one with `psm train-reranker`)")
    with safe_open(str(path), framework="numpy") as f:
        raw = f.metadata() or {}
    meta = {k: json.loads(v) for k, v in raw.items()}
    for key in ("base", "rank", "alpha", "max_length", "weight", "targets"):
        if key not in meta:
            raise ConfigurationError(f"reranker adapter {path} lacks metadata {key!r}")
    return {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}, meta


def merge_adapter(model: Any, tensors: dict[str, NDArray[np.float32]], meta: dict[str, Any]) -> None:
    """Add each low-rank update (alpha / rank · B @ A) to the matching linear weight of ``model`` (torch)."""
    import torch

    scale = float(meta["alpha"]) / float(meta["rank"])
    modules = dict(model.named_modules())
    names = sorted({k.rsplit(".", 1)[0] for k in tensors if k.endswith(".lora_A")})
    if not names:
        raise ConfigurationError("reranker adapter holds no low-rank updates")
    for name in names:
        layer = modules.get(name)
        if layer is None or not isinstance(layer, torch.nn.Linear):
            raise ConfigurationError(f"reranker adapter updates {name!r}, which is not a linear layer of the base model")
        delta = scale * tensors[f"{name}.lora_B"] @ tensors[f"{name}.lora_A"]
        layer.weight.add_(torch.from_numpy(delta).to(layer.weight.dtype))


class CrossEncoder:
    """Scores (question, memory) pairs; see the module docstring. Thread-safe for ``score``."""

    def __init__(self, adapter: Path | None = None, cache_dir: Path | None = None) -> None:
        from tokenizers import Tokenizer

        self.adapter = Path(adapter or DEFAULT_ADAPTER)
        tensors, meta = read_adapter(self.adapter)
        self.meta = meta
        self.weight = float(meta["weight"])
        base = resolve_model_path(str(meta["base"]))
        tag = "rerank-" + hashlib.sha256(self.adapter.read_bytes()).hexdigest()[:12]
        cache = Path(cache_dir or Path("~/.cache/psm/models").expanduser())
        self.onnx_path = _export_onnx(
            base, cache, tag=tag, tweak=lambda m: merge_adapter(m, tensors, meta), what="the reranker", seconds=10
        )
        self._session = ort_session(self.onnx_path)
        self._tok = Tokenizer.from_file(str(base / "tokenizer.json"))
        self._tok.enable_truncation(int(meta["max_length"]), strategy="longest_first")
        self._tok.no_padding()  # padded per length bucket in _score
        self._head_w = tensors["head.weight"].reshape(-1).astype(np.float32)
        self._head_b = float(tensors["head.bias"].reshape(-1)[0])
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()

    def score(self, query: str, texts: Sequence[str]) -> NDArray[np.float32]:
        """One relevance logit per text (higher: more likely to answer ``query``). The last few thousand
        pairs are cached, so asking the same question again (another ``k``, a token budget) is free."""
        out = np.zeros(len(texts), dtype=np.float32)
        todo: list[int] = []
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._cache.get((query, t))
                if hit is None:
                    todo.append(i)
                else:
                    self._cache.move_to_end((query, t))
                    out[i] = hit
        if todo:
            fresh = self._score([texts[i] for i in todo], query)
            with self._lock:
                for i, v in zip(todo, fresh):
                    out[i] = v
                    self._cache[(query, texts[i])] = float(v)
                while len(self._cache) > _CACHE_PAIRS:
                    self._cache.popitem(last=False)
        return out

    def _score(self, texts: Sequence[str], query: str, bucket: int | None = None) -> NDArray[np.float32]:
        """Logits of ``texts`` (no cache); ``bucket``: pairs per padded batch (default ``_BUCKET``)."""
        step = max(1, int(bucket or _BUCKET))
        with self._lock:  # one tokenizer, shared
            enc = self._tok.encode_batch([(query, t) for t in texts])
        # pairs sorted by length and run in small batches, each padded to its own longest: a list of
        # short turns and a few long ones pads little (the same logits as one padded batch)
        order = sorted(range(len(enc)), key=lambda i: len(enc[i].ids))
        out = np.zeros(len(enc), dtype=np.float32)
        for s in range(0, len(order), step):
            part = order[s : s + step]
            width = max(len(enc[i].ids) for i in part)
            ids = np.zeros((len(part), width), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for row, i in enumerate(part):
                n = len(enc[i].ids)
                ids[row, :n] = enc[i].ids
                types[row, :n] = enc[i].type_ids
                mask[row, :n] = 1
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            out[part] = pooled @ self._head_w + self._head_b
        return out


_BUCKET = 8
_CACHE_PAIRS = 4096
_SHARED: dict[tuple[str, str], CrossEncoder] = {}
_SHARED_LOCK = threading.Lock()


def load_cross_encoder(adapter: Path | None = None, cache_dir: Path | None = None) -> CrossEncoder:
    """The :class:`CrossEncoder` for ``adapter`` (default: the shipped one), loaded once per process."""
    key = (str(adapter or DEFAULT_ADAPTER), str(cache_dir))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = CrossEncoder(adapter, cache_dir)
        return _SHARED[key]

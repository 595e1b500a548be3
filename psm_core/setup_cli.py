"""``psm setup``: prepare the packaged models once, before the first ``PSM.local()`` needs them.

```
psm setup     export the embedder (and the reranker) to ONNX under model_cache; say where and how long it took
```
Nothing is downloaded: both models ship in the installed packages. Without ``psm setup`` the same
one-time export runs on first use, announced by one line on stderr (:data:`psm_core.embeddings.setup_logger`).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from psm_core.config import PSMSettings

__all__ = ["PreparedModel", "prepare_models", "register"]


@dataclass(frozen=True)
class PreparedModel:
    """One model made ready: its name, its file (None when it needs none), and the seconds it took."""

    name: str
    path: Path | None
    seconds: float
    fresh: bool  # exported now (False: an earlier export was reused)


def _expected_exports(cache: Path) -> set[Path]:
    return set(cache.glob("*.onnx")) if cache.is_dir() else set()


def prepare_models(settings: PSMSettings, *, reranker: bool = True) -> list[PreparedModel]:
    """Load the embedder of ``settings`` (and the reranker's cross-encoder), exporting them to ONNX once."""
    from psm_core.embeddings import OnnxEmbedder, load_embedder

    cache = settings.model_cache / "models"
    before = _expected_exports(cache)
    out: list[PreparedModel] = []
    t0 = time.perf_counter()
    emb = load_embedder(settings.embedder, settings.embedder_backend, cache)
    path = emb.onnx_path if isinstance(emb, OnnxEmbedder) else None
    out.append(PreparedModel(f"embedder {emb.name} ({settings.embedder_backend})", path, time.perf_counter() - t0,
                             path is not None and path not in before))  # fmt: skip
    if reranker:
        from psm_core.rerank import load_cross_encoder

        t0 = time.perf_counter()
        ce = load_cross_encoder(settings.reranker, cache)
        out.append(
            PreparedModel(f"reranker {ce.adapter.name}", ce.onnx_path, time.perf_counter() - t0, ce.onnx_path not in before)
        )
    return out


def _setup(args: argparse.Namespace) -> int:
    settings = PSMSettings()
    t0 = time.perf_counter()
    models = prepare_models(settings, reranker=not args.no_reranker)
    for m in models:
        state = f"prepared in {m.seconds:.1f} s" if m.fresh else "already prepared"
        print(f"{m.name}: {state}" + (f", at {m.path}" if m.path else " (nothing to export)"))
    print(f"ready in {time.perf_counter() - t0:.1f} s; model cache: {settings.model_cache} (PSM_MODEL_CACHE)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("setup", help="prepare the packaged models once (ONNX export under the model cache; downloads nothing)")
    p.add_argument("--no-reranker", action="store_true", help="prepare the embedder only")
    p.set_defaults(func=_setup)

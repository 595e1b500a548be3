"""The small trained heads of PSM-mini as plain numpy MLPs, stored in one safetensors file.

```
MLP            standardize → (linear → ReLU)* → linear; float32, deterministic
save_heads     {name: MLP} + JSON config → model.safetensors
load_heads     the inverse (no torch needed at inference)
```
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.errors import ConfigurationError

__all__ = ["MLP", "WEIGHTS_FILE", "load_heads", "save_heads"]

WEIGHTS_FILE = "model.safetensors"


@dataclass
class MLP:
    """A feed-forward head: ``(x - mean) / std`` then ReLU layers, last layer linear."""

    mean: NDArray[np.float32]
    std: NDArray[np.float32]
    weights: list[NDArray[np.float32]]
    biases: list[NDArray[np.float32]]

    @property
    def n_in(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights[-1].shape[1])

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"head expects rows of {self.n_in} features, got shape {x.shape}")
        h = (x - self.mean) / self.std
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.0, out=h)
        return h

    def tensors(self, prefix: str) -> dict[str, NDArray[np.float32]]:
        out = {f"{prefix}.mean": self.mean, f"{prefix}.std": self.std}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{prefix}.w{i}"] = w
            out[f"{prefix}.b{i}"] = b
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}

    @classmethod
    def from_tensors(cls, prefix: str, tensors: Mapping[str, NDArray[np.float32]]) -> MLP:
        weights, biases = [], []
        i = 0
        while f"{prefix}.w{i}" in tensors:
            weights.append(np.asarray(tensors[f"{prefix}.w{i}"], dtype=np.float32))
            biases.append(np.asarray(tensors[f"{prefix}.b{i}"], dtype=np.float32))
            i += 1
        if not weights:
            raise ConfigurationError(f"weights file has no head {prefix!r}: retrain with `psm train`")
        return cls(
            mean=np.asarray(tensors[f"{prefix}.mean"], dtype=np.float32),
            std=np.asarray(tensors[f"{prefix}.std"], dtype=np.float32),
            weights=weights,
            biases=biases,
        )


def save_heads(path: Path, heads: Mapping[str, MLP], config: Mapping[str, Any]) -> None:
    """Write ``heads`` and ``config`` (JSON-able) to ``path`` (a safetensors file)."""
    from safetensors.numpy import save_file

    tensors: dict[str, NDArray[np.float32]] = {}
    for name, head in heads.items():
        tensors.update(head.tensors(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(config, sort_keys=True)})


def load_heads(path: Path, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> tuple[dict[str, MLP], dict[str, Any]]:
    """Read the heads ``names`` (and those of ``optional`` the file has) and the config from the
    safetensors file ``path``."""
    from safetensors import safe_open

    if not path.is_file():
        raise ConfigurationError(f"no PSM-mini weights at {path}: run `psm train --out DIR` or use skill='baseline'")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ConfigurationError(f"cannot read PSM-mini weights {path}: {exc}") from exc
    if "config" not in meta:
        raise ConfigurationError(f"{path} has no PSM-mini config: retrain with `psm train`")
    present = [n for n in optional if any(k.startswith(f"{n}.") for k in tensors)]
    return {n: MLP.from_tensors(n, tensors) for n in (*names, *present)}, json.loads(meta["config"])

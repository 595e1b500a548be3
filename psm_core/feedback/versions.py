"""Versioned utility-policy weights under ``PSM_HOME/policy``, with an active pointer and rollback.

```
policy/
  v1/policy.safetensors   the numeric parameters only (UtilityPolicy.arrays())
  v1/manifest.json        version, parent, inputs, gate metrics, event counts, sha256 of the weights
  v2/...
  active                  "2" (or "0": no policy, the base skill alone)
```
Versions are immutable once written; activating one rewrites ``active`` atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from psm_core.errors import ConfigurationError, NotFoundError
from psm_core.feedback.policy import DECAY_INPUTS, RANK_INPUTS, UtilityPolicy

__all__ = ["FORMAT", "MANIFEST_FILE", "PolicyStore", "WEIGHTS_FILE"]

logger = logging.getLogger(__name__)

FORMAT = "psm-utility-policy/1"
WEIGHTS_FILE = "policy.safetensors"
MANIFEST_FILE = "manifest.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class PolicyStore:
    """The policy versions of one PSM home (``root`` is ``PSM_HOME/policy``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, version: int) -> Path:
        return self.root / f"v{int(version)}"

    def versions(self) -> list[int]:
        """Saved versions, oldest first."""
        if not self.root.is_dir():
            return []
        out = []
        for d in self.root.iterdir():
            if d.is_dir() and d.name.startswith("v") and d.name[1:].isdigit() and (d / MANIFEST_FILE).exists():
                out.append(int(d.name[1:]))
        return sorted(out)

    def manifest(self, version: int) -> dict[str, Any]:
        path = self._dir(version) / MANIFEST_FILE
        if not path.exists():
            raise NotFoundError(f"policy v{version}")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def load(self, version: int) -> UtilityPolicy:
        """Version ``version`` (checked against its manifest's inputs and checksum)."""
        from safetensors.numpy import load_file

        man = self.manifest(version)
        path = self._dir(version) / WEIGHTS_FILE
        if man.get("format") != FORMAT:
            raise ConfigurationError(f"policy v{version}: unknown format {man.get('format')!r}; retrain with `psm learn`")
        if tuple(man.get("rank_inputs", ())) != RANK_INPUTS or tuple(man.get("decay_inputs", ())) != DECAY_INPUTS:
            raise ConfigurationError(f"policy v{version} was trained on other features; retrain with `psm learn`")
        if _sha256(path) != man.get("sha256"):
            raise ConfigurationError(f"policy v{version}: {path} does not match its manifest checksum")
        arrays = load_file(str(path))
        return UtilityPolicy(**{k: arrays[k] for k in UtilityPolicy.zeros().arrays()}, version=int(version))

    def active_version(self) -> int:
        """The active version (0 when none)."""
        path = self.root / "active"
        if not path.exists():
            return 0
        text = path.read_text(encoding="utf-8").strip()
        return int(text) if text.isdigit() else 0

    def active(self) -> UtilityPolicy | None:
        """The active policy, or None (no policy, or an unusable one: logged, the base skill is used)."""
        v = self.active_version()
        if not v:
            return None
        try:
            return self.load(v)
        except (ConfigurationError, NotFoundError, OSError, ValueError) as exc:
            logger.warning("active utility policy v%d not loaded (%s); using the skill alone", v, exc)
            return None

    def save(self, policy: UtilityPolicy, info: dict[str, Any] | None = None) -> int:
        """Write ``policy`` as the next version (not activated); returns the version."""
        from safetensors.numpy import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        version = max(self.versions(), default=0) + 1
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-"))
        try:
            weights = tmp / WEIGHTS_FILE
            save_file(policy.arrays(), str(weights), metadata={"format": FORMAT})
            manifest = {
                "format": FORMAT,
                "version": version,
                "parent": self.active_version(),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "rank_inputs": list(RANK_INPUTS),
                "decay_inputs": list(DECAY_INPUTS),
                "sha256": _sha256(weights),
                **(info or {}),
            }
            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self._dir(version))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("saved utility policy v%d under %s", version, self.root)
        return version

    def activate(self, version: int) -> None:
        """Make ``version`` active (0: no policy). PSM instances pick it up when constructed."""
        if version and version not in self.versions():
            raise NotFoundError(f"policy v{version}; saved versions: {self.versions()}")
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "active", f"{int(version)}\n")
        logger.info("active utility policy: %s", f"v{version}" if version else "none")

    def rollback(self, version: int | None = None) -> int:
        """Activate ``version``, or the parent of the active version (the one it replaced); returns it."""
        if version is None:
            current = self.active_version()
            if not current:
                raise NotFoundError("an active policy to roll back from (none is active)")
            version = int(self.manifest(current).get("parent", 0))
        self.activate(version)
        return version

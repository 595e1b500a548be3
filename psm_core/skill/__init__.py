"""Memory skills: the interface, the baseline policy and the trained PSMs."""

from __future__ import annotations

from psm_core.embeddings import Embedder
from psm_core.errors import ConfigurationError
from psm_core.skill.base import (
    Candidate,
    Correction,
    GateDecision,
    Interference,
    MemorySkill,
    Pattern,
    Relation,
)
from psm_core.skill.baseline import BaselinePolicy

__all__ = [
    "BaselinePolicy",
    "Candidate",
    "Correction",
    "GateDecision",
    "Interference",
    "MemorySkill",
    "Pattern",
    "Relation",
    "load_skill",
]


def load_skill(name: str, embedder: Embedder) -> MemorySkill:
    """The skill named by settings: ``baseline``, ``mini`` (shipped PSM-mini) or a PSM-mini weights dir."""
    if name == "baseline":
        return BaselinePolicy()
    if name == "mini":
        # PSM-mini ships with its own issue; until its weights exist the baseline stands in.
        try:
            from psm_core.skill.mini import PSMMini
        except ImportError:
            return BaselinePolicy()
        return PSMMini.load(embedder=embedder)
    from pathlib import Path

    path = Path(name).expanduser()
    if path.is_dir():
        from psm_core.skill.mini import PSMMini

        return PSMMini.load(path, embedder=embedder)
    raise ConfigurationError(f"skill {name!r}: use 'baseline', 'mini' or a PSM-mini weights directory")

"""Memory skills: the interface, the baseline policy and the trained PSMs."""

from __future__ import annotations

import logging

from psm_core.embeddings import Embedder
from psm_core.errors import ConfigurationError
from psm_core.skill.base import (
    AttributeReading,
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
    "AttributeReading",
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


logger = logging.getLogger(__name__)


def load_skill(name: str, embedder: Embedder) -> MemorySkill:
    """The skill named by settings: ``baseline``, ``mini`` (shipped PSM-mini) or a PSM-mini weights dir."""
    if name == "baseline":
        return BaselinePolicy()
    if name == "mini":
        from psm_core.skill.mini import PSMMini

        try:
            return PSMMini.load(embedder=embedder)
        except ConfigurationError as exc:  # a build without the shipped weights: say so, keep working
            logger.warning("PSM-mini is unavailable (%s); using the baseline policy", exc)
            return BaselinePolicy()
    from pathlib import Path

    path = Path(name).expanduser()
    if path.is_dir():
        from psm_core.skill.mini import PSMMini

        return PSMMini.load(path, embedder=embedder)
    raise ConfigurationError(f"skill {name!r}: use 'baseline', 'mini' or a PSM-mini weights directory")

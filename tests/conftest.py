"""Shared fixtures: a real PSM on a real embedded Chroma in a temp dir, with the real embedder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import pg_url, postgres_server  # noqa: F401  (fixtures: a throwaway PostgreSQL server)

from psm_core import PSM, PSMSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test when the development data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data {path} is not available (it exists only in the PSM dev environment)")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "psm-home"


@pytest.fixture
def psm(home: Path) -> Iterator[PSM]:
    with PSM(PSMSettings(home=home)) as p:
        yield p


@pytest.fixture
def baseline_psm(home: Path) -> Iterator[PSM]:
    with PSM(PSMSettings(home=home, skill="baseline")) as p:
        yield p


@pytest.fixture
def pass_psm(home: Path) -> Iterator[PSM]:
    """The baseline skill without facts from single statements (``statement_facts=False``): for tests of the
    consolidation pass's own products (patterns, links, history, pruning), which observe-time facts
    would otherwise sit beside (those are tested in test_facts.py)."""
    with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False)) as p:
        yield p

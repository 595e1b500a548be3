"""docs/learning.md: its examples run as written and show what the text says they show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "learning.md").read_text()
PYTHON = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


def _run(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "PSM_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_doc_has_the_two_examples_and_the_cli() -> None:
    assert len(PYTHON) == 2
    for cmd in ("psm learn --status", "psm learn --rollback", "psm learn --rollback 3"):
        assert cmd in DOC


def test_feedback_example(tmp_path: Path) -> None:
    reason, mass = _run(PYTHON[0], tmp_path).strip().splitlines()
    assert reason == "1 feedback events, fewer than the 200 required"
    assert 0 < float(mass) < 1


def test_simulation_example(tmp_path: Path) -> None:
    out = _run(PYTHON[1], tmp_path).strip()
    m = re.fullmatch(r"baseline\+policy-v1 True precision@5 ([0-9.]+) -> ([0-9.]+)", out)
    assert m, out
    assert float(m.group(2)) >= float(m.group(1)) + 0.15

"""The README's commands and examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def test_first_two_blocks_are_the_set_up_commands_and_ci_runs_the_test_one() -> None:
    bash = [code.strip() for lang, code in BLOCKS if lang == "bash"]
    assert bash[0].endswith("psm demo") and "torch==2.13.0" in bash[0]
    assert "pytest" in bash[1] and "torch==2.13.0" in bash[1]
    assert bash[1] in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("code", PYTHON, ids=[f"block{i}" for i in range(len(PYTHON))])
def test_python_examples_run_as_written(code: str, tmp_path: Path) -> None:
    env = {**os.environ, "PSM_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "an example should show its result"

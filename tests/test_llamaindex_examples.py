"""The LlamaIndex examples and every Python block of docs/llamaindex.md run as written, offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "llamaindex.md"


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PSM_HOME": str(cwd / "psm-env-home")}
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_quick_start_is_ten_lines_and_recalls_across_sessions(tmp_path):
    quick = _doc_blocks()[0]
    assert len(quick.strip().splitlines()) <= 10
    out = _run(["-c", quick], tmp_path)
    assert "Pixel" in out and "What is my dog called?" in out  # MockLLM echoes the prompt it received
    assert (tmp_path / "psm-home").is_dir()


@pytest.mark.parametrize("index", [1, 2])
def test_other_doc_blocks_run(tmp_path, index):
    out = _run(["-c", _doc_blocks()[index]], tmp_path)
    assert ("Lisbon" in out) if index == 1 else ("allergic to peanuts" in out)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("llamaindex_chat_engine.py", ["I adopted a beagle named Pixel", "corrected  -1.0"]),
        ("llamaindex_agent.py", ["I moved to Lisbon in March", "tool: Sunny"]),
        ("llamaindex_memory_block.py", ["<psm_memory>", "allergic to peanuts"]),
    ],
)
def test_examples_run_offline(tmp_path, script, expected):
    out = _run([str(ROOT / "examples" / script), "--home", str(tmp_path / "home")], tmp_path)
    for text in expected:
        assert text in out

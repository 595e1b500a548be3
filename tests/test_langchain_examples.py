"""The LangChain examples and every code block of docs/langchain.md run as written (offline, fake
chat models, a real PSM in a temp PSM_HOME)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from psm_core import PSM, PSMSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "langchain.md"
EXAMPLES = sorted((ROOT / "examples").glob("langchain_*.py"))


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_example_is_ten_lines_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = python_blocks(DOC)[0]
    assert len(code.strip().splitlines()) <= 10
    monkeypatch.setenv("PSM_HOME", str(tmp_path / "home"))
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(code, str(DOC), "exec"), namespace)
    psm = namespace["psm"]
    assert isinstance(psm, PSM)
    psm.close()
    assert capsys.readouterr().out.strip() == "You live in Lisbon."
    with PSM(PSMSettings(home=tmp_path / "home")) as reopened:
        assert "I moved to Lisbon last spring." in [r.text for r in reopened.for_user("alice").records()]


@pytest.mark.parametrize("index", range(1, len(python_blocks(DOC))))
def test_every_other_doc_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSM_HOME", str(tmp_path / "home"))
    exec(compile(python_blocks(DOC)[index], str(DOC), "exec"), {"__name__": "__main__"})  # blocks assert their own results


def test_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"langchain_agent.py", "langchain_chain.py", "langchain_rag.py"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_offline(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PSM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LC_MODEL", raising=False)
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    expected = {
        "langchain_agent.py": ["Relevant memories about the user:", "I moved to Lisbon last spring", "feedback: corrected"],
        "langchain_chain.py": ["memory given to the model in the new session", "allergic to peanuts"],
        "langchain_rag.py": ["Porto marathon on November 9th", "human: How should I taper before my race?"],
    }[path.name]
    for needle in expected:
        assert needle in out

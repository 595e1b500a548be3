"""docs/memory.md: its example runs as written and shows what the text says it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "memory.md"


def test_the_example_runs_and_shows_the_corrected_value_and_the_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    exec(compile(code.group(1), str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "My dentist appointment is on Saturday at 10."
    assert out.count('"I live in Lisbon."') == 1 and "Where do I live?" not in out

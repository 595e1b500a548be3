"""The psm command line: demo, inspect, export, erase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from psm_core import PSM, PSMSettings
from psm_core.cli import main


def test_demo_runs_offline_and_shows_tiers(tmp_path: Path, capsys) -> None:
    assert main(["--home", str(tmp_path / "demo"), "demo"]) == 0
    out = capsys.readouterr().out
    assert "== Session 3" in out and "== Tiers" in out and "episodic" in out
    assert "vegetarian" in out.split("Any dietary restrictions")[1].split("?")[1]  # recalled first
    assert "Relevant memories about the user:" in out


def test_demo_entry_point_in_a_fresh_process(tmp_path: Path) -> None:
    env = {**os.environ, "PSM_HOME": str(tmp_path / "unused"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "psm_core.cli", "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "PSM demo" in proc.stdout and not (tmp_path / "unused").exists()  # demo uses a temp store


def test_inspect_export_erase(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    with PSM(PSMSettings(home=home)) as psm:
        psm.for_user("alice").remember("Alice collects vintage cameras.")
        psm.for_user("bob").remember("Bob plays the cello.")
    assert main(["--home", str(home), "inspect", "--user", "alice"]) == 0
    assert "vintage cameras" in capsys.readouterr().out
    out_file = tmp_path / "alice.jsonl"
    assert main(["--home", str(home), "export", "--user", "alice", "--out", str(out_file)]) == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Alice collects vintage cameras."]
    assert main(["--home", str(home), "erase", "--user", "alice", "--yes"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "export", "--user", "alice"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["--home", str(home), "export", "--user", "bob"]) == 0
    assert "cello" in capsys.readouterr().out


def test_cli_reports_errors_cleanly(tmp_path: Path, capsys) -> None:
    assert main(["--home", str(tmp_path), "inspect", "--user", "*"]) == 1
    assert "psm: error: invalid user_id" in capsys.readouterr().err
    assert main([]) == 2

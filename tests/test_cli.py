"""The psm command line: demo, setup, inspect, export, import, erase, and its errors."""

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
    assert main(["--home", str(home), "export", "--user", "alice"]) == 1  # an erased user is unknown, said plainly
    got = capsys.readouterr()
    assert got.out == "" and f"psm: error: no memories of user 'alice' in {home}" in got.err
    assert main(["--home", str(home), "export", "--user", "bob"]) == 0
    assert "cello" in capsys.readouterr().out


def test_cli_reports_errors_cleanly(tmp_path: Path, capsys) -> None:
    assert main(["--home", str(tmp_path), "inspect", "--user", "*"]) == 1
    assert "psm: error: invalid user_id" in capsys.readouterr().err
    assert main([]) == 2


# -- every error one clear line, a non-zero exit, no traceback (issue 28 item 7) -------------------------


def _one_error_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("psm: error: "), err
    assert "Traceback" not in err and all(n in lines[0] for n in needles), err


def _seeded(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with PSM(PSMSettings(home=home)) as psm:
        psm.for_user("alice").remember("Alice collects vintage cameras.")
    return home


def test_home_is_accepted_after_the_subcommand_for_every_subcommand(tmp_path: Path, capsys) -> None:
    import argparse

    from psm_core.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"setup", "inspect", "export", "import", "erase", "profile", "review", "consolidate", "doctor", "learn"} <= set(
        sub.choices
    )
    for name, subparser in sub.choices.items():
        assert "--home" in subparser.format_help(), name
        assert "--verbose" in subparser.format_help(), name
    home = _seeded(tmp_path)
    assert main(["inspect", "--user", "alice", "--home", str(home)]) == 0
    assert "vintage cameras" in capsys.readouterr().out
    assert main(["--home", str(tmp_path / "elsewhere"), "export", "--user", "alice", "--home", str(home)]) == 0  # the later wins
    assert "vintage cameras" in capsys.readouterr().out
    assert main(["demo", "--home", str(tmp_path / "demo")]) == 0 and (tmp_path / "demo").exists()


def test_unknown_user_and_missing_home_are_said_plainly(tmp_path: Path, capsys) -> None:
    home = _seeded(tmp_path)
    for cmd in (["inspect"], ["export"], ["profile"], ["review"], ["consolidate", "-q"], ["erase", "--yes"]):
        assert main([cmd[0], "--home", str(home), "--user", "bob", *cmd[1:]]) == 1, cmd
        _one_error_line(capsys.readouterr().err, f"no memories of user 'bob' in {home}")
    assert main(["resolve", "--home", str(home), "--user", "bob", "c1", "--keep", "new"]) == 1
    _one_error_line(capsys.readouterr().err, "no memories of user 'bob'")
    missing = tmp_path / "nowhere"
    for cmd in ("inspect", "export", "profile", "review", "erase"):
        assert main([cmd, "--home", str(missing), "--user", "alice", "--yes"][: 5 if cmd != "erase" else 6]) == 1, cmd
        _one_error_line(capsys.readouterr().err, f"no PSM home at {missing}")
        assert not missing.exists(), "a command that reads leaves no empty home behind"
    assert main(["learn", "--status", "--home", str(missing)]) == 1
    _one_error_line(capsys.readouterr().err, f"no PSM home at {missing}")
    (tmp_path / "a-file").write_text("x")
    assert main(["inspect", "--home", str(tmp_path / "a-file"), "--user", "alice"]) == 1
    _one_error_line(capsys.readouterr().err, "is not a directory")


def test_bad_paths_and_values_are_one_line(tmp_path: Path, capsys) -> None:
    home = _seeded(tmp_path)
    assert main(["export", "--home", str(home), "--user", "alice", "--out", "/nonexistent/x"]) == 1
    _one_error_line(capsys.readouterr().err, "cannot write the export to /nonexistent/x")
    assert main(["import", "--home", str(home), "--user", "alice", "--in", str(tmp_path / "none.jsonl")]) == 1
    _one_error_line(capsys.readouterr().err, "no file at")
    assert main(["consolidate", "--home", str(home), "--user", "alice", "--now", "soon"]) == 1
    _one_error_line(capsys.readouterr().err, "--now 'soon' is not an ISO time")
    assert main(["learn", "--home", str(home), "--rollback", "vx"]) == 1
    _one_error_line(capsys.readouterr().err, "--rollback 'vx'")
    assert main(["profile", "--home", str(home), "--user", "alice", "--as-of", "yesterday"]) == 1
    _one_error_line(capsys.readouterr().err, "--as-of 'yesterday'")


def test_an_unexpected_failure_is_one_line_with_a_hint(tmp_path: Path, capsys, monkeypatch) -> None:
    import psm_core.commands

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("boom")

    home = _seeded(tmp_path)
    monkeypatch.setattr(psm_core.commands, "table", broken)
    assert main(["inspect", "--home", str(home), "--user", "alice"]) == 1
    _one_error_line(capsys.readouterr().err, "RuntimeError: boom (run with -v for the traceback)")
    assert main(["inspect", "--home", str(home), "--user", "alice", "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("psm: error: RuntimeError: boom")


def test_erase_without_a_terminal_is_one_line(tmp_path: Path) -> None:
    home = _seeded(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "psm_core.cli", "erase", "--user", "alice", "--home", str(home)],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    _one_error_line(proc.stderr, "pass --yes")
    with PSM(PSMSettings(home=home)) as psm:
        assert psm.users() == ["alice"]  # nothing erased


def test_import_beside_export(tmp_path: Path, capsys) -> None:
    home = _seeded(tmp_path)
    out_file = tmp_path / "alice.jsonl"
    assert main(["export", "--home", str(home), "--user", "alice", "--out", str(out_file)]) == 0
    other = tmp_path / "other"
    assert main(["import", "--home", str(other), "--user", "alice", "--in", str(out_file)]) == 0
    assert "imported 1 records of user 'alice' (1 semantic)" in capsys.readouterr().out
    assert main(["export", "--home", str(other), "--user", "alice"]) == 0
    assert capsys.readouterr().out == out_file.read_text()
    assert main(["import", "--home", str(other), "--user", "carol", "--in", str(out_file)]) == 1
    _one_error_line(capsys.readouterr().err, "a record of user 'alice', not 'carol'", "--as-user")
    assert main(["import", "--home", str(other), "--user", "carol", "--in", str(out_file), "--as-user"]) == 0
    capsys.readouterr()
    assert main(["inspect", "--home", str(other), "--user", "carol"]) == 0
    assert "vintage cameras" in capsys.readouterr().out


def test_first_run_says_it_prepares_the_models_and_psm_setup_does_it_once(tmp_path: Path, capsys, monkeypatch) -> None:
    cache = tmp_path / "model-cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PSM_MODEL_CACHE": str(cache)}
    code = f"from psm_core import PSM\nwith PSM.local({str(tmp_path / 'h')!r}) as p: print(p.embedder.name)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "preparing the embedding model (one time, ~15 s)…" in proc.stderr  # no logging configured: still shown
    assert proc.stdout.strip() == "all-MiniLM-L6-v2"
    monkeypatch.setenv("PSM_MODEL_CACHE", str(cache))
    assert main(["setup"]) == 0
    got = capsys.readouterr()
    assert got.err.strip() == "psm: preparing the reranker (one time, ~10 s)…"
    assert "embedder all-MiniLM-L6-v2 (onnx): already prepared, at " + str(cache / "models") in got.out
    assert "reranker reranker.safetensors: prepared in " in got.out and f"model cache: {cache}" in got.out
    assert main(["setup", "--home", str(tmp_path / "unused")]) == 0
    got = capsys.readouterr()
    assert got.out.count("already prepared") == 2 and "preparing" not in got.err
    assert not (tmp_path / "unused").exists()

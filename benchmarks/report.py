"""Aggregation, tables and result files shared by the benchmarks.

Each run writes under ``benchmarks/results/`` (or ``--out-dir``):
``<name>.json`` (summary, environment and the exact command), ``<name>_questions.jsonl`` (one line per
question), ``<name>.md`` (the printed tables with the command) and ``<name>.png`` (plots).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.metrics import mean, percentile

__all__ = ["LOG_INTERVAL_S", "RESULTS_DIR", "aggregate", "environment", "fmt", "md_table", "progress", "write_results"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOG_INTERVAL_S = 30.0  # how often a bar writes to a log file (stderr not a terminal)


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar on stderr: live on a terminal; redirected to a file (``... 2> log``, ``nohup``), one
    line every ``LOG_INTERVAL_S`` seconds, so a long run shows where it is (tqdm's own default,
    ``disable=None``, shows nothing there). ``PSM_BENCH_PROGRESS=0`` turns it off."""
    off = os.environ.get("PSM_BENCH_PROGRESS", "1").strip().lower() in ("0", "false", "no", "off")
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(iterable, **{"disable": off, **kwargs})  # tqdm writes to stderr
    from tqdm import tqdm as plain  # text lines, whatever the front end

    opts = {
        "file": _Lines(sys.stderr),
        "disable": off,
        "mininterval": LOG_INTERVAL_S,
        "maxinterval": LOG_INTERVAL_S,
        "ncols": 100,
    }
    return plain(iterable, **{**opts, **kwargs})


class _Lines:
    """A stream for tqdm that turns its carriage-return redraws into lines (a log file keeps each one)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> None:
        for line in text.replace("\r", "\n").split("\n"):
            if line.strip() and line != self._last:  # tqdm redraws the final state on close
                self._stream.write(line + "\n")
                self._last = line

    def flush(self) -> None:
        self._stream.flush()


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded, NaN/None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table (also readable as plain text)."""
    body = [[fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [line, sep]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in body]
    return "\n".join(out)


def aggregate(
    questions: Sequence[Mapping[str, Any]], system: str, keys: Sequence[str], group: str | None = None
) -> dict[str, Any]:
    """Means of ``keys`` of ``system`` over questions that have it, overall and by ``group``; latency p50/p95."""
    have = [q for q in questions if system in q["systems"]]
    if not have:
        return {}

    def block(qs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(qs)}
        for k in keys:
            out[k] = mean(q["systems"][system][k] for q in qs)
        return out

    res: dict[str, Any] = {"all": block(have)}
    if group is not None:
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for q in have:
            groups.setdefault(str(q[group]), []).append(q)
        res["groups"] = {g: block(qs) for g, qs in sorted(groups.items())}
    ms = [q["systems"][system]["ms"] for q in have if "ms" in q["systems"][system]]
    res["latency_ms"] = {"p50": percentile(ms, 50), "p95": percentile(ms, 95)}
    return res


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Where and with what the numbers were produced."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": {d: _version(d) for d in ("psm-memory", "chromadb", "bm25s", "onnxruntime", "numpy")},
    }


def _clean(obj: Any) -> Any:
    """JSON-ready: NaN as null, floats to 4 decimals (keeps the per-question files small)."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, 4)
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_results(
    name: str,
    out_dir: Path,
    summary: Mapping[str, Any],
    questions: Sequence[Mapping[str, Any]] | None,
    markdown: str,
) -> list[Path]:
    """Write the summary JSON, the per-question JSON lines and the markdown report; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.json", out_dir / f"{name}.md"]
    paths[0].write_text(json.dumps(_clean(summary), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    paths[1].write_text(markdown.rstrip() + "\n", encoding="utf-8")
    if questions is not None:
        qpath = out_dir / f"{name}_questions.jsonl"
        with qpath.open("w", encoding="utf-8") as f:
            for q in questions:
                f.write(json.dumps(_clean(q), ensure_ascii=False, default=str) + "\n")
        paths.append(qpath)
    return paths

"""PNG plots of benchmark results (matplotlib, headless)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["latency_plot", "recall_curves"]

Curves = Mapping[str, Mapping[int, float | None]]


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def recall_curves(path: Path, title: str, panels: Sequence[tuple[str, Curves]], ylabel: str = "recall") -> Path:
    """One panel per (title, {system: {k: value}}): metric against k, one line per system."""
    plt = _plt()
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, curves) in zip(axes.flat, panels):
        for system, points in curves.items():
            ks = sorted(k for k, v in points.items() if v is not None and not math.isnan(v))
            if ks:
                ax.plot(ks, [points[k] for k in ks], marker="o", label=system)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("k")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=9)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_plot(path: Path, title: str, sizes: Sequence[int], series: Mapping[str, Sequence[float | None]]) -> Path:
    """p50 latency (ms) against store size (log-log), one line per series."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, values in series.items():
        pts = [(s, v) for s, v in zip(sizes, values) if v is not None and not math.isnan(v)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories in the store (one user)")
    ax.set_ylabel("latency p50 (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The end-to-end figure: latency against throughput for adstream and the floor, every phase."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["plot_e2e"]

SYSTEM_COLORS = {"adstream": "C0", "floor": "C1"}


def plot_e2e(phases: dict[str, Any], path: Path, title: str) -> None:
    """p50 and p99 latency (log scale) against the throughput each system achieved, one point
    per phase; the saturation phase is marked with a square (its latencies are time to drain)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7.2, 4.8))
    for system, color in SYSTEM_COLORS.items():
        ordered = sorted(
            phases.items(), key=lambda item: item[1][system]["achieved_throughput_per_s"]
        )
        for percentile, style in (("p50", "--"), ("p99", "-")):
            finite = [p[system] for _, p in ordered if math.isfinite(p[system][f"{percentile}_ms"])]
            axes.plot(
                [figures["achieved_throughput_per_s"] for figures in finite],
                [figures[f"{percentile}_ms"] for figures in finite],
                style,
                color=color,
                label=f"{system} {percentile}",
            )
        for name, phase in ordered:
            figures = phase[system]
            axes.plot(
                figures["achieved_throughput_per_s"],
                figures["p99_ms"],
                "s" if phase["rate_per_s"] is None else "o",
                color=color,
            )
            axes.annotate(
                name,
                (figures["achieved_throughput_per_s"], figures["p99_ms"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("queries answered per second (one worker)")
    axes.set_ylabel("latency from intended send, ms")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)

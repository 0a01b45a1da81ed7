"""The demo's live view: one table of traffic, latency, CTR, model health and alerts, redrawn on
every tick of the simulator."""

from __future__ import annotations

import collections
import math
import time
from typing import Any

from rich.table import Table

from producers.stats import SimulationStats
from streams.models.category import CATEGORY
from streams.models.registry import CLICK
from streams.operations.watch import SystemWatcher

__all__ = ["RateMeter", "live_table"]


class RateMeter:
    """Recent rate of a growing counter (events per second over the last few seconds)."""

    def __init__(self, span_s: float = 3.0) -> None:
        self.span_s = span_s
        self._points: collections.deque[tuple[float, int]] = collections.deque()

    def update(self, count: int) -> float:
        now = time.monotonic()
        self._points.append((now, count))
        while len(self._points) > 2 and now - self._points[0][0] > self.span_s:
            self._points.popleft()
        (t0, c0), (t1, c1) = self._points[0], self._points[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


def _recent_latency(stats: SimulationStats, percentile: float, last: int = 2000) -> float:
    recent = sorted(stats.latencies_ms[-last:])
    if not recent:
        return math.nan
    return recent[min(len(recent) - 1, int(percentile / 100 * len(recent)))]


def live_table(stats: SimulationStats, watcher: SystemWatcher, qps: float, shed: int) -> Table:
    model = watcher.model(CLICK) or {}
    category = watcher.model(CATEGORY) or {}
    table = Table(title="adstream demo (live)", show_header=True)
    for column in (
        "queries",
        "queries/s",
        "shed",
        "p50 ms",
        "p99 ms",
        "CTR",
        "examples",
        "NE",
        "AUC",
        "cat. acc",
        "classes",
        "dead letters",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{stats.queries_sent:,}",
        f"{qps:,.0f}",
        f"{shed:,}",
        f"{_recent_latency(stats, 50):.1f}",
        f"{_recent_latency(stats, 99):.1f}",
        f"{stats.realized_ctr():.2%}" if stats.impressions else "-",
        f"{watcher.counter('learned.click'):,}",
        f"{model.get('ne', math.nan):.3f}",
        f"{model.get('auc', math.nan):.3f}",
        f"{category.get('accuracy', math.nan):.3f}",
        f"{len(category.get('classes', ())):,}",
        f"{len(watcher.dead_letters):,}",
    )
    changes = (f"{c.kind} {c.path} at {c.at_s:.0f} s" for c, _ in stats.changes_applied)
    versions = (
        f"weights v{v} (a={b['alpha']:g}, b={b['beta']:g}): CTR {b['ctr']:.2%}, "
        f"quality {b['mean_quality']:.3f}"
        for v, b in stats.business().items()
    )
    alerts = [
        f"ALERT {a['kind']} {a['model']}: {_evidence(a['evidence'])}"
        for a in watcher.active_alerts()
    ]
    table.caption = "\n".join([*versions, "  ".join(changes), *alerts])
    return table


def _evidence(evidence: dict[str, Any] | None) -> str:
    return ", ".join(
        f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in (evidence or {}).items()
    )

"""The demo's taxonomy scenario: a category launches mid-run and another is retired.

The world changes (new queries and ads appear, or stop) and the operator's matching control
command (``add_class``, ``remove_class``) is sent at the same moment, without holding up the
traffic. The report pairs each change with when the workers applied it and with the accuracy
of the categories served before and after it (the simulator knows each query's true leaf).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
from typing import Any

from producers.stats import SimulationStats
from producers.world import World, WorldChange
from streams.control.client import send_command
from streams.models.category import CATEGORY
from streams.operations.watch import SystemWatcher
from streams.wire.settings import Settings

__all__ = ["TaxonomyScenario"]

ACCURACY_SPAN_MS = 10_000  # served accuracy is compared over this long before and after
COMMANDS = {"launch": "add_class", "retire": "remove_class"}


@dataclasses.dataclass
class TaxonomyScenario:
    """Launch a new leaf at 1/3 of the run and retire a popular one at 2/3."""

    settings: Settings
    world: World
    duration_s: float
    changes: tuple[WorldChange, ...] = ()
    #: sequence numbers of the demo's commands, shared with its other commands
    numbers: itertools.count[int] = dataclasses.field(default_factory=lambda: itertools.count(1))
    _seqs: dict[str, int] = dataclasses.field(default_factory=dict)
    _sends: list[asyncio.Task[int]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.changes:
            retired = self.world.leaf_paths[1]  # popular, so its retirement shows
            self.changes = (
                WorldChange(self.duration_s / 3, "launch", self.world.new_leaf_path()),
                WorldChange(2 * self.duration_s / 3, "retire", retired),
            )

    def on_change(self, change: WorldChange, ts_ms: int) -> None:
        """Send the operator's command in the background (the traffic does not wait)."""
        seq = next(self.numbers)
        self._seqs[change.path] = seq
        command = send_command(
            self.settings,
            COMMANDS[change.kind],
            {"model": CATEGORY, "path": change.path},
            issued_by="demo-scenario",
            seq=seq,
        )
        self._sends.append(asyncio.ensure_future(command))

    async def sent(self) -> None:
        """Wait until every command is on the control topic."""
        await asyncio.gather(*self._sends)

    def report(self, stats: SimulationStats, watcher: SystemWatcher) -> list[dict[str, Any]]:
        """Each change: when it happened, when the workers applied it, served accuracy around it."""
        rows = []
        for change, applied_ms in stats.changes_applied:
            boundary = stats.started_ms + int(1000 * change.at_s)
            effect = watcher.control_effects.get(self._seqs.get(change.path, -1), {})
            row: dict[str, Any] = {
                "kind": change.kind,
                "path": change.path,
                "at_s": change.at_s,
                "seq": self._seqs.get(change.path),
                "world_changed_at_ms": applied_ms,
                "applied_by_worker_at_ms": effect.get("applied_at"),
                "effect_delay_ms": (effect["applied_at"] - effect["issued_at"] if effect else None),
                "served_accuracy_before": _finite(
                    stats.category_accuracy(since_ms=boundary - ACCURACY_SPAN_MS, until_ms=boundary)
                ),
                "served_accuracy_after": _finite(
                    stats.category_accuracy(since_ms=boundary, until_ms=boundary + ACCURACY_SPAN_MS)
                ),
            }
            if change.kind == "launch":
                row["new_class_served_accuracy"] = _finite(
                    stats.category_accuracy(leaf=change.path, since_ms=boundary)
                )
            rows.append(row)
        return rows


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)

"""Memory over a long run (DESIGN §7: bounded join state, stable RSS over a 10-minute run).

``python -m benchmarks.memory`` (``make bench-memory``) runs the demo (embedded broker, one
worker with every agent, the simulated world) under steady traffic: ``--rate`` queries/s for
``--duration`` seconds, no class launched or retired, no weight change. The worker reports its
resident memory and the items in its join state every second (``gauges`` of its ``kind:
worker`` record); the demo's summary keeps them. Writes ``benchmarks/results/memory.json``.

The join state is bounded by the rate times what the attribution window keeps: the queries
and impressions of the last window, and the ids of closed impressions for ten windows (a late
click must find its impression closed, not unknown). The run's window is 20 s, so that state
is full by 220 s, well before half time of the default 600 s: both targets compare the end of
the traffic with its half time.

- **stable RSS**: the worker's RSS at the end at most 10 % above its RSS at half time;
- **bounded join state**: the join state at the end at most 10 % above its size at half time.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MAX_GROWTH", "main", "memory_targets"]

MAX_GROWTH = 1.10  # end over half time, for the RSS and the join state
WINDOW_S = 20.0


def memory_targets(memory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The two targets, from the ``memory`` section of a demo summary.

    >>> memory_targets({"rss_mib": {"half": 200.0, "end": 210.0},
    ...                 "join_held": {"half": 50_000, "end": 60_000}})["join_bounded"]["met"]
    False
    """
    targets = {}
    for name, key in (("rss_stable", "rss_mib"), ("join_bounded", "join_held")):
        half, end = memory[key]["half"], memory[key]["end"]
        growth = end / half if half else float("inf")
        targets[name] = {"value": growth, "max": MAX_GROWTH, "met": growth <= MAX_GROWTH}
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    from benchmarks.run import RESULTS_DIR
    from producers.demo.options import DemoOptions
    from producers.demo.run import run_demo

    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--rate", type=float, default=200.0, help="queries per second")
    args = parser.parse_args(argv)
    options = DemoOptions(
        duration_s=args.duration,
        rate_per_s=args.rate,
        attribution_window_s=WINDOW_S,
        runs_dir=Path(tempfile.mkdtemp(prefix="adstream-memory-")),
        live=False,
        scenario=False,
        weights_at_half=None,
    )
    summary = run_demo(options)
    memory = summary["memory"]
    if not memory:
        raise SystemExit("no resident memory in the worker's reports (no /proc here)")
    targets = memory_targets(memory)
    record = {
        "duration_s": args.duration,
        "rate_per_s": args.rate,
        "attribution_window_s": WINDOW_S,
        "queries_sent": summary["queries_sent"],
        "examples_learned": summary["examples_learned"],
        "rss_mib": memory["rss_mib"],
        "join_held": memory["join_held"],
        "targets": targets,
        "samples": memory["samples"],  # [seconds since the traffic started, RSS MiB, join items]
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "memory.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    console = Console()
    for name, target in targets.items():
        verdict = "met" if target["met"] else "NOT met"
        console.print(f"{name}: end / half time {target['value']:.3f} (<= {MAX_GROWTH}): {verdict}")
    console.print(f"written to {path}; the demo's run in {options.runs_dir}")
    return 0 if all(target["met"] for target in targets.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Driving the demo: the embedded broker (unless ``ADSTREAM_KAFKA`` names one), a worker
process, the simulator with its world, category changes and weight changes, then the summary.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from producers.demo.options import DemoOptions
from producers.demo.summary import (
    memory_summary,
    summarize,
    summary_table,
    sweep_at_the_versions_used,
    unanswered_not_shed,
    write_summary,
)
from producers.demo.view import RateMeter, live_table
from producers.scenario import TaxonomyScenario
from producers.simulator import Simulator
from producers.stats import SimulationStats
from producers.world import EXTRA_ATTRIBUTES, World
from streams.agents.join import IDLE_S
from streams.config import load_config
from streams.control.client import send_command, wait_applied
from streams.kafka.broker import broker_for, fit_fetch_wait
from streams.operations.process import WorkerProcess
from streams.operations.sweep import run_sweep
from streams.operations.watch import SystemWatcher, wait_until_serving
from streams.wire.settings import Settings

__all__ = ["run_demo"]

log = logging.getLogger(__name__)


async def _set_weights(
    settings: Settings, weights: tuple[float, float], numbers: Iterator[int], delay_s: float = 0.0
) -> None:
    """Send ``set_weights`` after ``delay_s``, numbered when sent (workers skip a number lower
    than one they applied), and wait until a worker applied it."""
    await asyncio.sleep(delay_s)
    seq = next(numbers)
    alpha, beta = weights
    await send_command(
        settings, "set_weights", {"alpha": alpha, "beta": beta}, issued_by="demo", seq=seq
    )
    await wait_applied(settings, seq)


async def _drive(
    settings: Settings, options: DemoOptions, console: Console, run_dir: Path
) -> dict[str, Any]:
    async with SystemWatcher(settings) as watcher:
        startup_s = await wait_until_serving(settings)
        shed_at_start = await _shed_so_far(watcher, settings.metrics_interval_s)
        console.log(
            f"worker serving after {startup_s:.1f} s; simulating "
            f"{options.rate_per_s:g} queries/s for {options.duration_s:g} s"
        )
        played = options.played()
        world = World(
            seed=options.seed,
            click_logit_shift=played.click_logit_shift if played else 0.0,
            extra_attributes=_reads_extra_attributes(settings),
        )
        scenario = TaxonomyScenario(settings, world, options.duration_s)
        if played:
            console.log(f"scenario {played.name}: {played.incidents or 'nothing happens'}")
        if options.weights:
            await _set_weights(settings, options.weights, scenario.numbers)
        simulator = Simulator(
            settings=settings,
            world=world,
            rate_per_s=options.rate_per_s,
            duration_s=options.duration_s,
            attribution_window_s=options.attribution_window_s,
            changes=scenario.changes if options.scenario and not played else (),
            feedback_tail_s=options.attribution_window_s,
            on_change=scenario.on_change,
            incidents=played.incidents if played else (),
            answer_deadline_s=options.answer_deadline_s,
        )
        meter = RateMeter()
        started, traffic_started_ms = time.monotonic(), round(time.time() * 1000)
        weights_change = (
            asyncio.ensure_future(
                _set_weights(
                    settings,
                    options.weights_at_half,
                    scenario.numbers,
                    delay_s=options.duration_s / 2,
                )
            )
            if options.weights_at_half and not played
            else None
        )
        with Live(
            console=console, auto_refresh=False, transient=False, redirect_stdout=False
        ) as live:

            def on_tick(stats: SimulationStats) -> None:
                if options.live:
                    qps = meter.update(stats.queries_sent)
                    shed = watcher.counter("shed") - shed_at_start
                    live.update(live_table(stats, watcher, qps, shed), refresh=True)

            stats = await simulator.run(on_tick=on_tick)
            elapsed_s = min(time.monotonic() - started, options.duration_s) or options.duration_s
            console.log("traffic stopped; waiting for the last attribution windows to close")
            await _close_windows(watcher, stats, settings, lambda: on_tick(stats))
        await scenario.sent()
        if weights_change is not None:
            await weights_change
        await _settle(watcher, settings.metrics_interval_s)
        changes = scenario.report(stats, watcher)
        summary = summarize(options, stats, watcher, startup_s, elapsed_s, changes)
        summary["serve_deadline_ms"] = settings.serve_deadline_ms
        summary["config"] = settings.config or "default"  # the models and features it ran
        summary["shed"] = watcher.counter("shed") - shed_at_start
        summary["unanswered_not_shed"] = unanswered_not_shed(summary)
        summary["memory"] = memory_summary(watcher, traffic_started_ms, options.duration_s)
        console.log("estimating a grid of weights from the logged traffic (off-policy)")
        summary["sweep"] = sweep_at_the_versions_used(
            await run_sweep(settings, run_dir), summary["business"]
        )
        return summary


async def _shed_so_far(watcher: SystemWatcher, interval_s: float) -> int:
    """The queries shed by now, from the first reports made after this call: the readiness
    probes sent while the worker joined its group were shed, and are not the traffic's."""
    now_ms = time.time_ns() // 1_000_000
    if not await watcher.wait_for(
        lambda w: w.workers and all(r["ts"] >= now_ms for r in w.workers.values()),
        5 * interval_s + 5,
    ):
        log.warning("no worker report since the worker served; shed counts the probes too")
    return watcher.counter("shed")


async def _close_windows(
    watcher: SystemWatcher, stats: SimulationStats, settings: Settings, refresh: Any
) -> None:
    """Wait until every impression has become an example (or was rejected), bounded by the
    time the join needs: the window, its grace and the idle wait before it follows the clock."""
    timeout_s = settings.attribution_window_s + settings.join_grace_s + IDLE_S + 5
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        closed = sum(
            watcher.counter(name)
            for name in ("examples.click", "downsampled.click", "orphan_impressions")
        )
        if closed >= stats.impressions:
            return
        refresh()
        await asyncio.sleep(0.5)
    log.warning("attribution windows still open after %.0f s", timeout_s)


async def _settle(watcher: SystemWatcher, interval_s: float, timeout_s: float = 15.0) -> None:
    """Wait for metrics published after the run, with every emitted example learned."""
    after_ms = time.time_ns() // 1_000_000 + int(interval_s * 1000)
    settled = await watcher.wait_for(
        lambda w: (
            w.workers
            and all(worker["ts"] >= after_ms for worker in w.workers.values())
            and all(
                w.counter(f"learned.{model}") >= w.counter(f"examples.{model}")
                for model in ("click", "quality", "category")
            )
        ),
        timeout_s,
    )
    if not settled:
        log.warning("metrics did not settle within %s s; the summary may lag", timeout_s)


def _reads_extra_attributes(settings: Settings) -> bool:
    """Whether the configured models read an attribute only a world with extra attributes
    sends (the browser, the landing-page score): then the simulated front-end sends them."""
    config = load_config(settings.config, settings.n_bits)
    named = {
        (attribute.source, attribute.name)
        for model in config.models.values()
        for attribute in config.features[model.features].attributes
    }
    return bool(named & EXTRA_ATTRIBUTES)


def run_demo(options: DemoOptions, settings: Settings | None = None) -> dict[str, Any]:
    """Run the demo end to end; returns the summary it wrote."""
    console = Console()
    played = options.played()
    settings = (settings or Settings.from_env()).replace(
        attribution_window_s=options.attribution_window_s,
        **({"negative_sampling_rate": played.negative_sampling_rate} if played else {}),
        **(
            {"alert_warmup_examples": options.alert_warmup_examples}
            if options.alert_warmup_examples is not None
            else {}
        ),
    )
    if not settings.snapshot_key:  # the demo's snapshots are signed with a key of its own
        settings = settings.replace(snapshot_key=secrets.token_hex(32))
    if not settings.kafka:  # a long run on the embedded broker needs a longer fetch wait
        settings = fit_fetch_wait(settings, round(options.rate_per_s * options.duration_s))
    run_dir = options.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    run_logs = options.runs_dir / "logs"
    run_logs.mkdir(parents=True, exist_ok=True)
    with broker_for(settings, log_path=run_logs / "broker.log") as ready:
        console.log(f"broker at {ready.kafka}")
        with WorkerProcess(ready, log_path=run_logs / "worker.log"):
            summary = asyncio.run(_drive(ready, options, console, run_dir))
    write_summary(summary, options.runs_dir, run_dir)
    console.print(summary_table(summary))
    console.print(f"summary written to {run_dir / 'summary.json'}")
    return summary

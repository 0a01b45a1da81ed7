"""The demo: embedded broker, one worker, the simulated world, a live view and a summary.

``adstream demo --duration 60 --rate 200 --seed 7`` starts the broker (unless ``ADSTREAM_KAFKA``
names one), a worker process and the simulator; shows queries/s, latency, CTR, the click
model's health and the alerts raised while it runs; then writes
``runs/<timestamp>/summary.json`` (and ``runs/latest``) and prints a summary table.

``--scenario NAME`` plays one of :data:`producers.incidents.SCENARIOS` instead of the default
show (a category launched and one retired, weights changed at half time): only what the
scenario names happens, on the run the scenarios are measured on (230 s at 250 queries/s,
see :meth:`DemoOptions.for_scenario`) unless ``--duration`` and the like say otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import math
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from producers.incidents import SCENARIO_RUN, Scenario, scenario
from producers.scenario import TaxonomyScenario
from producers.simulator import SimulationStats, Simulator
from producers.world import World
from streams.agents.join import IDLE_S
from streams.control.client import send_command, wait_applied
from streams.kafka.broker import broker_for, fit_fetch_wait
from streams.models.category import CATEGORY
from streams.models.registry import CLICK, QUALITY
from streams.operations.process import WorkerProcess
from streams.operations.sweep import run_sweep
from streams.operations.watch import SystemWatcher, wait_until_serving
from streams.wire.settings import Settings

__all__ = ["DemoOptions", "memory_summary", "run_demo", "unanswered_not_shed"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    duration_s: float = 60.0
    rate_per_s: float = 300.0
    seed: int = 7
    attribution_window_s: float = 30.0
    runs_dir: Path = Path("runs")
    live: bool = True
    scenario: bool = True  # launch a category at 1/3 of the run, retire one at 2/3
    #: weights (alpha: quality, beta: engagement) set at the start and at half time; None
    #: keeps the weights as they are (engagement only at the start)
    weights: tuple[float, float] | None = None
    weights_at_half: tuple[float, float] | None = (1.0, 1.0)
    #: a scenario of :mod:`producers.incidents` (None: the default show above)
    incidents: str | None = None
    #: the workers' alert warm-up (None: the settings' own)
    alert_warmup_examples: int | None = None
    #: how long the simulated front-end waits for a query's ranking before it falls back
    #: (shows no ad): a query the worker shed is given up on then, not at the end of the run.
    #: Generous: the ranking hop (a Faust agent) took 0.6 s at the median and 2.5 s at worst
    #: in a 300 queries/s demo on a busy 2-core machine, where predictions took 75 ms
    answer_deadline_s: float = 5.0

    @classmethod
    def for_scenario(cls, name: str, **overrides: Any) -> DemoOptions:
        """The scenario ``name`` on the run it is measured on (``SCENARIO_RUN``: 230 s at 250
        queries/s, a 2 s window, a 30,000-example alert warm-up), so its model alerts show."""
        run = SCENARIO_RUN
        measured = {
            "duration_s": run.duration_s,
            "rate_per_s": run.rate_per_s,
            "seed": run.world_seed,
            "attribution_window_s": run.attribution_window_s,
            "alert_warmup_examples": run.alert_warmup_examples,
        }
        return cls(incidents=name, **{**measured, **overrides})

    def played(self) -> Scenario | None:
        return scenario(self.incidents, self.duration_s) if self.incidents else None


class _RateMeter:
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


def _live_table(stats: SimulationStats, watcher: SystemWatcher, qps: float, shed: int) -> Table:
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


def _summary(
    options: DemoOptions,
    stats: SimulationStats,
    watcher: SystemWatcher,
    startup_s: float,
    elapsed_s: float,
    class_changes: list[dict[str, Any]],
) -> dict[str, Any]:
    click = watcher.model(CLICK) or {}
    category = watcher.model(CATEGORY) or {}
    return {
        "seed": options.seed,
        "scenario": options.incidents,
        "rate_per_s": options.rate_per_s,
        "duration_s": options.duration_s,
        "attribution_window_s": options.attribution_window_s,
        "startup_s": round(startup_s, 2),
        "queries_sent": stats.queries_sent,
        "predictions_received": stats.predictions_received,
        "rankings_received": stats.rankings_received,
        "answer_deadline_ms": round(options.answer_deadline_s * 1000),
        "timed_out": stats.timed_out,
        "late_predictions": stats.late_predictions,
        "late_rankings": stats.late_rankings,
        "impressions": stats.impressions,
        "clicks": stats.clicks_sent,
        "clicks_pending_at_end": stats.clicks_pending,
        "late_clicks": watcher.counter("late_clicks"),
        "late_clicks_sent": stats.late_clicks_sent,
        "examples_learned": watcher.counter("learned.click"),
        "dead_letters": len(watcher.dead_letters),
        "dead_letter_reasons": dict(watcher.dead_letter_reasons),
        "throughput_qps": round(stats.queries_sent / elapsed_s, 1) if elapsed_s else 0.0,
        "latency_ms": {
            "p50": round(stats.latency_ms(50), 2),
            "p99": round(stats.latency_ms(99), 2),
            "p999": round(stats.latency_ms(99.9), 2),
        },
        "ctr": {"realized": stats.realized_ctr(), "expected": stats.expected_ctr()},
        "models": {
            CLICK: {
                key: click.get(key, math.nan)
                for key in ("logloss", "ne", "auc", "n", "base_rate", "mean_p", "version")
            },
            QUALITY: {
                key: (watcher.model(QUALITY) or {}).get(key, math.nan)
                for key in ("mae", "constant_mae", "logloss", "calibration", "n", "version")
            },
            CATEGORY: {
                **{key: category.get(key, math.nan) for key in ("accuracy", "macro_f1", "n")},
                "classes": len(category.get("classes", ())),
                "served_accuracy": stats.category_accuracy(),
                "class_changes": class_changes,
            },
        },
        "business": {str(version): figures for version, figures in stats.business().items()},
        "alerts": [
            {key: row[key] for key in ("kind", "model", "raised_at", "cleared_at", "evidence")}
            for row in watcher.alert_history()
        ],
        "health": {model: _health_summary(watcher, model) for model in (CLICK, QUALITY, CATEGORY)},
        "snapshots": {
            model: {
                "written": watcher.counter(f"snapshots.{model}"),
                "last_bytes": watcher.counter(f"snapshot_bytes.{model}"),
                "last_write_us": watcher.counter(f"snapshot_us.{model}"),
            }
            for model in (CLICK, QUALITY, CATEGORY)
        },
        "worker_counters": {
            name: watcher.counter(name)
            for name in sorted(
                {key for worker in watcher.workers.values() for key in worker["counters"]}
            )
        },
    }


def unanswered_not_shed(summary: dict[str, Any]) -> int:
    """Queries of a demo's ``summary`` that got no prediction, in time or late, and that the
    worker did not shed either: lost (0 when everything works).

    >>> unanswered_not_shed(
    ...     {"queries_sent": 100, "predictions_received": 90, "late_predictions": 4, "shed": 6}
    ... )
    0
    """
    answered = summary["predictions_received"] + summary["late_predictions"]
    return summary["queries_sent"] - answered - summary["shed"]


def memory_summary(
    watcher: SystemWatcher, traffic_started_ms: int, duration_s: float
) -> dict[str, Any]:
    """The worker's resident memory and join state over the run, from its reports: ``samples``
    of [seconds since the traffic started, RSS in MiB, items in the join's state], and each
    figure when the traffic started, at half time, at its end, and its peak meanwhile (``{}``
    without ``/proc``)."""
    samples = [
        [
            round((ts - traffic_started_ms) / 1000, 1),
            round(gauges["rss_bytes"] / 2**20, 1),
            gauges.get("join.held", 0),
        ]
        for ts, _, gauges in watcher.gauges
        if "rss_bytes" in gauges
    ]
    during = [s for s in samples if 0 <= s[0] <= duration_s]
    if not during:
        return {}
    before = [s for s in samples if s[0] < 0]
    first = before[-1] if before else during[0]  # the last report before the traffic
    half = next(s for s in during if s[0] >= duration_s / 2 or s is during[-1])

    def figures(column: int) -> dict[str, float]:
        return {
            "start": first[column],
            "half": half[column],
            "end": during[-1][column],
            "max": max(s[column] for s in during),
        }

    return {"rss_mib": figures(1), "join_held": figures(2), "samples": samples}


def _health_summary(watcher: SystemWatcher, model: str) -> dict[str, Any]:
    """A model's calibration (overall, recent, per slice), PSI and drift detections."""
    health = watcher.health.get(model, {})
    return {
        "calibration": health.get("calibration"),
        "recent_calibration": health.get("recent", {}).get("calibration"),
        "calibration_by_slice": {
            key: figures["calibration"]
            for key, figures in health.get("calibration_by_slice", {}).items()
        },
        "psi": health.get("psi"),
        "label_delay_ms": health.get("label_delay_ms"),
        "drift_detections": {
            stream: health.get(f"{stream}_drift", {}).get("detections")
            for stream in ("loss", "calibration")
        },
    }


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
            seed=options.seed, click_logit_shift=played.click_logit_shift if played else 0.0
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
        meter = _RateMeter()
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
                    live.update(_live_table(stats, watcher, qps, shed), refresh=True)

            stats = await simulator.run(on_tick=on_tick)
            elapsed_s = min(time.monotonic() - started, options.duration_s) or options.duration_s
            console.log("traffic stopped; waiting for the last attribution windows to close")
            await _close_windows(watcher, stats, settings, lambda: on_tick(stats))
        await scenario.sent()
        if weights_change is not None:
            await weights_change
        await _settle(watcher, settings.metrics_interval_s)
        changes = scenario.report(stats, watcher)
        summary = _summary(options, stats, watcher, startup_s, elapsed_s, changes)
        summary["serve_deadline_ms"] = settings.serve_deadline_ms
        summary["shed"] = watcher.counter("shed") - shed_at_start
        summary["unanswered_not_shed"] = unanswered_not_shed(summary)
        summary["memory"] = memory_summary(watcher, traffic_started_ms, options.duration_s)
        console.log("estimating a grid of weights from the logged traffic (off-policy)")
        summary["sweep"] = _sweep_at_the_versions_used(
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


def _sweep_at_the_versions_used(
    rows: list[dict[str, Any]], business: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The sweep's rows, each with the realized figures of the demo's weight version that used
    the same weights, if any: the estimate next to what happened."""
    realized = {(v["alpha"], v["beta"]): {"version": k, **v} for k, v in business.items()}
    return [{**row, "realized": realized.get((row["alpha"], row["beta"]))} for row in rows]


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


def _write(summary: dict[str, Any], runs_dir: Path, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    latest = runs_dir / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_dir.name)


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="adstream demo summary", show_header=False)
    click = summary["models"][CLICK]
    rows = [
        (
            "queries sent / predictions / rankings",
            f"{summary['queries_sent']:,} / {summary['predictions_received']:,} / "
            f"{summary['rankings_received']:,}",
        ),
        ("throughput", f"{summary['throughput_qps']:,.0f} queries/s"),
        (
            "shed by the worker / timed out at the front-end",
            f"{summary['shed']:,} / {summary['timed_out']:,} (deadlines "
            f"{summary['serve_deadline_ms']:,} / {summary['answer_deadline_ms']:,} ms)",
        ),
        ("latency p50 / p99 / p99.9", "{p50} / {p99} / {p999} ms".format(**summary["latency_ms"])),
        (
            "impressions / clicks / late clicks",
            f"{summary['impressions']:,} / {summary['clicks']:,} / {summary['late_clicks']:,}",
        ),
        (
            "CTR realized (expected)",
            f"{summary['ctr']['realized']:.2%} ({summary['ctr']['expected']:.2%})",
        ),
        ("examples learned", f"{summary['examples_learned']:,}"),
        (
            "click model logloss / NE / AUC",
            f"{click['logloss']:.4f} / {click['ne']:.4f} / {click['auc']:.4f}",
        ),
        (
            "category model accuracy / macro-F1 / classes",
            "{accuracy:.3f} / {macro_f1:.3f} / {classes}".format(**summary["models"][CATEGORY]),
        ),
        *(
            (
                f"{c['kind']} {c['path']} at {c['at_s']:.0f} s",
                f"applied in {c['effect_delay_ms']} ms; served accuracy "
                f"{c['served_accuracy_before']} before, {c['served_accuracy_after']} after"
                + (
                    f", on the new class {c['new_class_served_accuracy']}"
                    if "new_class_served_accuracy" in c
                    else ""
                ),
            )
            for c in summary["models"][CATEGORY]["class_changes"]
        ),
        *(
            (
                f"weights v{version} (alpha {b['alpha']:g}, beta {b['beta']:g})",
                f"CTR {b['ctr']:.2%}, mean shown quality {b['mean_quality']:.3f} "
                f"over {b['impressions']:,} impressions",
            )
            for version, b in summary["business"].items()
        ),
        (
            "quality model MAE (constant predictor)",
            "{mae:.4f} ({constant_mae:.4f}) over {n:,} ratings".format(
                **summary["models"][QUALITY]
            ),
        ),
        *(
            (f"{model} calibration (recent) / PSI", _calibration_row(figures))
            for model, figures in summary["health"].items()
        ),
        *(
            (
                f"alert {a['kind']} {a['model']}",
                f"raised {_clock(a['raised_at'])}, "
                + (f"cleared {_clock(a['cleared_at'])}" if a["cleared_at"] else "not cleared"),
            )
            for a in summary["alerts"]
        ),
        ("dead letters", f"{summary['dead_letters']:,}"),
        *(
            (
                f"worker {what}: traffic start / half time / end / peak",
                "{start:,} / {half:,} / {end:,} / {max:,}".format(**summary["memory"][key]),
            )
            for key, what in (("rss_mib", "RSS MiB"), ("join_held", "join state items"))
            if summary["memory"]
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _calibration_row(figures: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else "-"

    return (
        f"{fmt(figures['calibration'])} ({fmt(figures['recent_calibration'])}) / "
        f"{fmt(figures['psi'])}"
    )


def _clock(ts_ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000))


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
    _write(summary, options.runs_dir, run_dir)
    console.print(_summary_table(summary))
    console.print(f"summary written to {run_dir / 'summary.json'}")
    return summary

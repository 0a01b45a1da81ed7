"""The demo's summary: its figures (``summary.json``, written under the runs directory with a
``latest`` link) and the table printed at the end."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from producers.demo.options import DemoOptions
from producers.stats import SimulationStats
from streams.models.category import CATEGORY
from streams.models.registry import CLICK, QUALITY
from streams.operations.watch import SystemWatcher

__all__ = [
    "memory_summary",
    "summarize",
    "summary_table",
    "sweep_at_the_versions_used",
    "unanswered_not_shed",
    "write_summary",
]


def summarize(
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


def sweep_at_the_versions_used(
    rows: list[dict[str, Any]], business: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The sweep's rows, each with the realized figures of the demo's weight version that used
    the same weights, if any: the estimate next to what happened."""
    realized = {(v["alpha"], v["beta"]): {"version": k, **v} for k, v in business.items()}
    return [{**row, "realized": realized.get((row["alpha"], row["beta"]))} for row in rows]


def write_summary(summary: dict[str, Any], runs_dir: Path, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    latest = runs_dir / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_dir.name)


def summary_table(summary: dict[str, Any]) -> Table:
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

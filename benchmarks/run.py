"""``adstream bench``: the hot-path micro-benchmarks, then the end-to-end harness; JSON results.

Writes to ``benchmarks/results/``:

- ``hot_path.json``: pytest-benchmark's own JSON for ``benchmarks/test_hot_path.py`` and
  ``benchmarks/test_classifiers.py`` (the query-category model, flat against hierarchical);
- ``families.json``: what each model family costs (``benchmarks/families.py``): per
  configuration (the default FTRL, River's logistic regression, a pipeline, a Hoeffding
  adaptive tree, an adaptive random forest) serving per query, the click model's learning rate,
  their ratios to the default's, and the progressive log loss and AUC of a small workload;
- ``e2e.json``: per phase (1,000 and 5,000 queries/s, saturation) both systems' latency
  percentiles and throughput, the adstream/floor ratios, machine info; ``overload``: adstream
  at 1.5x and 3x its saturation rate under the serving deadline (latency of the answered
  queries, the fraction shed, the queries left unanswered);
- ``e2e.png``: latency against throughput for both systems, every phase;
- ``recovery.json``: snapshot sizes and times, serving freshness across processes, the
  recovery of a learner killed with SIGKILL, and the rate at which a learner drains a backlog
  (``benchmarks/recovery.py``);
- ``summary.json``: per-event hot-path medians in microseconds, the per-family rows, the e2e
  figures and the DESIGN §7 targets with whether this run met them.

The exit code is 0 when everything ran (and, in a full run, every measured target was met), 1
when a benchmark failed or a query went unanswered (under overload: unanswered and not shed),
2 when a full run missed a target. A quick
run is a smoke test: its targets are reported, never enforced.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from benchmarks.e2e import SYSTEMS, E2EOptions, run_e2e
from benchmarks.families import FAMILIES, FamilyOptions, run_families
from benchmarks.plot import plot_e2e
from benchmarks.recovery import RecoveryOptions, run_recovery
from learners.errors import AdstreamError

__all__ = ["RESULTS_DIR", "families_summary", "families_table", "run_benchmarks", "summarize"]

log = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_ROOT = BENCH_DIR.parent

#: Overload: unanswered queries the worker did not shed, at most this share of those sent
#: (a query is never lost: every one is answered or shed).
OVERLOAD_LOST_MAX_FRACTION = 0.001

#: DESIGN §7 targets checked here.
HOT_PATH_MAX_RATIO = 2.0  # serve hot path / bare predict of the same models
E2E_P99_MAX_RATIO = 1.25  # adstream p99 / floor p99 at 1,000 queries/s
SATURATION_MIN_PER_S = 10_000  # queries/s one serving worker drains from a backlog
LEARN_MIN_PER_S = 20_000  # click model examples/s one learner process drains from a backlog
RECOVERY_MAX_S = 5.0  # from a killed learner's restart to its first example learned

#: summary key -> (pytest-benchmark key in extra_info, label)
HOT_PATH_ROWS = {
    "decode_per_query": "decode a query",
    "features_per_query": "features, per query (all candidates)",
    "predict_bare_per_query": "bare FTRL predict, click + quality, per query",
    "predict_bare_category_per_query": "bare category top-3 paths, per query",
    "predict_river_logreg_per_query": "bare River LogisticRegression predict, per query",
    "serve_per_query": "serve hot path, per query",
    "serve_batched_per_query": "serve hot path, 200 queries a batch, per query",
    "serve_per_candidate": "serve hot path, per candidate",
    "shed_check_per_query": "serving deadline check, per query (none shed)",
    "shed_per_query": "shedding a query past the deadline, per query",
    "encode_per_query": "encode a prediction",
    "learn_per_example": "FTRL learn_one, per example",
    "live_predict_learn_per_example": "LiveModel predict+metrics+learn, per example",
    "learn_loop_per_example": "learn loop (decode to snapshot), per example",
    "river_predict_learn_per_example": "bare River predict+learn, per example",
}

#: query-category model (benchmarks/test_classifiers.py): summary key -> label
CATEGORY_LEAVES = (10, 100, 1_000)
CATEGORY_ROWS = {
    f"category_{kind}_{what}_{n}": f"{label} {what}, {n:,} leaves, per {unit}"
    for what, unit in (("predict", "query"), ("learn", "example"))
    for n in CATEGORY_LEAVES
    for kind, label in (("flat", "flat one-vs-rest"), ("hier", "hierarchical"))
}


def machine_info() -> dict[str, Any]:
    """CPU count, load, Python, platform and the git commit of the checkout (if any)."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": os.getloadavg()[0],  # others' load skews every figure
        "git_commit": None,
        "git_dirty": None,
    }
    try:
        info["git_commit"] = _git("rev-parse", "HEAD")
        info["git_dirty"] = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        log.info("no git checkout: commit not recorded")
    return info


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def run_hot_path(json_path: Path, quick: bool) -> int:
    """pytest-benchmark on ``test_hot_path.py`` and ``test_classifiers.py`` (no doctests, no
    cache); its exit code."""
    args = [
        str(BENCH_DIR / "test_hot_path.py"),
        str(BENCH_DIR / "test_classifiers.py"),
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-q",
        "-W",
        "ignore::DeprecationWarning",
        f"--rootdir={REPO_ROOT}",
        f"--benchmark-json={json_path}",
        "--benchmark-columns=median,iqr,rounds",
        "--benchmark-sort=name",
        f"--benchmark-max-time={0.2 if quick else 1.0}",
    ]
    return int(pytest.main(args))


def hot_path_medians_us(hot_path: dict[str, Any]) -> dict[str, float]:
    """Per-event medians in microseconds, by summary key, from pytest-benchmark's JSON."""
    medians = {}
    for bench in hot_path.get("benchmarks", []):
        extra = bench.get("extra_info", {})
        if "key" in extra and extra.get("events"):
            medians[extra["key"]] = bench["stats"]["median"] / extra["events"] * 1e6
    return medians


def summarize(
    medians_us: dict[str, float],
    e2e: dict[str, Any] | None,
    quick: bool,
    recovery: dict[str, Any] | None = None,
    families: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The compact summary: per-event medians, the model families' rows, e2e figures, the
    recovery harness's figures and the targets."""
    serve = medians_us.get("serve_per_query", math.nan)
    # the bare predict of the same models: click and quality models per candidate + category
    # model per query
    bare = medians_us.get("predict_bare_per_query", math.nan) + medians_us.get(
        "predict_bare_category_per_query", math.nan
    )
    hot_ratio = serve / bare if bare else math.nan
    targets: dict[str, Any] = {
        "hot_path_over_bare_predict": {
            "value": hot_ratio,
            "max": HOT_PATH_MAX_RATIO,
            "met": hot_ratio <= HOT_PATH_MAX_RATIO,
        },
    }
    if recovery is not None:
        drained = recovery["drain"]["examples_per_s"]
        targets["learn_examples_per_s"] = {
            "value": drained,
            "min": LEARN_MIN_PER_S,
            "met": drained >= LEARN_MIN_PER_S,
        }
        resumed = recovery["recovery"]["restart_to_learning_s"]
        targets["restart_to_learning_s"] = {
            "value": resumed,
            "max": RECOVERY_MAX_S,
            "met": resumed <= RECOVERY_MAX_S,
        }
    flat = medians_us.get("category_flat_predict_1000", math.nan)
    hier = medians_us.get("category_hier_predict_1000", math.nan)
    summary: dict[str, Any] = {
        "quick": quick,
        "hot_path_median_us": medians_us,
        "category_flat_over_hier_predict_1000": flat / hier if hier else math.nan,
        "targets": targets,
    }
    if families is not None:
        summary["families"] = families_summary(families)
    if recovery is not None:
        summary["recovery"] = recovery
    if e2e is not None:
        phases = e2e["phases"]
        lowest = min(
            (phase for phase in phases.values() if phase["rate_per_s"] is not None),
            key=lambda phase: phase["rate_per_s"],
        )
        p99_ratio = lowest["ratios"]["p99_adstream_over_floor"]
        targets["e2e_p99_adstream_over_floor"] = {
            "value": p99_ratio,
            "max": E2E_P99_MAX_RATIO,
            "met": p99_ratio <= E2E_P99_MAX_RATIO,
            "rate_per_s": lowest["rate_per_s"],
        }
        if "saturation" in phases:
            drained = phases["saturation"]["adstream"]["achieved_throughput_per_s"]
            targets["saturation_queries_per_s"] = {
                "value": drained,
                "min": SATURATION_MIN_PER_S,
                "met": drained >= SATURATION_MIN_PER_S,
            }
        keys = (
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "achieved_throughput_per_s",
            "cpu_us_per_query",
            "unanswered",
        )
        summary["e2e"] = {
            name: {
                "rate_per_s": phase["rate_per_s"],
                "n_queries": phase["n_queries"],
                **{system: {k: phase[system][k] for k in keys} for system in SYSTEMS},
                "ratios": phase["ratios"],
            }
            for name, phase in phases.items()
        }
        if "overload" in e2e:
            summary["overload"] = overload_summary(e2e["overload"])
    return summary


#: per model family, the figures ``summary.json`` keeps (``families.json`` has them all)
FAMILY_KEYS = (
    "config",
    "click_model",
    "tree_nodes",
    "serve_us_per_query",
    "serve_cost_over_default",
    "learn_examples_per_s",
    "learn_rate_over_default",
)


def families_summary(families: dict[str, Any]) -> dict[str, Any]:
    """One row per model family (``families.json``'s ``families``): serving per query,
    learning rate, their ratios to the default configuration's, and the click model's
    progressive log loss and AUC on the small workload."""
    return {
        "default": families["default"],
        "batch_queries": families["workload"]["batch_queries"],
        "progressive_examples": (
            families["workload"]["train_examples"] + families["workload"]["learn_examples"]
        ),
        "rows": {
            name: {key: figures[key] for key in FAMILY_KEYS}
            | {
                "logloss": figures["progressive"]["logloss"],
                "auc": figures["progressive"]["auc"],
            }
            for name, figures in sorted(families["families"].items(), key=_family_order)
        },
    }


def _family_order(item: tuple[str, Any]) -> int:
    """Families in :data:`~benchmarks.families.FAMILIES`' order (a results file sorts them by
    name), any other last."""
    order = list(FAMILIES)
    return order.index(item[0]) if item[0] in order else len(order)


#: per overload phase, the figures ``summary.json`` keeps
OVERLOAD_KEYS = (
    "factor",
    "rate_per_s",
    "achieved_send_rate_per_s",
    "max_producer_lag_ms",
    "sent",
    "answered",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "achieved_throughput_per_s",
    "shed",
    "shed_fraction",
    "unanswered",
    "unanswered_not_shed",
)


def overload_summary(overload: dict[str, Any]) -> dict[str, Any]:
    """The overload phases' figures: the saturation rate they multiply, the deadline, and per
    phase the offered and achieved rates, the latency of the answered queries, what was shed,
    and what was left unanswered without being shed (``lost``: at most
    ``OVERLOAD_LOST_MAX_FRACTION`` of what was sent)."""
    phases = {
        name: {key: phase[key] for key in OVERLOAD_KEYS}
        for name, phase in overload["phases"].items()
    }
    for phase in phases.values():
        phase["lost"] = phase["unanswered_not_shed"] > OVERLOAD_LOST_MAX_FRACTION * phase["sent"]
    return {
        "saturation_per_s": overload["saturation_per_s"],
        "deadline_ms": overload["deadline_ms"],
        "duration_s": overload["duration_s"],
        "phases": phases,
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _table(summary: dict[str, Any]) -> list[Table]:
    hot = Table(title="hot path, in-process (median per event)")
    hot.add_column("what")
    hot.add_column("µs", justify="right")
    for key, label in HOT_PATH_ROWS.items():
        value = summary["hot_path_median_us"].get(key)
        hot.add_row(label, "-" if value is None else f"{value:,.1f}")
    tables = [hot]
    category = Table(title="query-category model, in-process (median per event)")
    category.add_column("what")
    category.add_column("µs", justify="right")
    for key, label in CATEGORY_ROWS.items():
        value = summary["hot_path_median_us"].get(key)
        category.add_row(label, "-" if value is None else f"{value:,.1f}")
    ratio = summary.get("category_flat_over_hier_predict_1000", math.nan)
    category.add_row("flat / hierarchical predict, 1,000 leaves", f"{ratio:,.1f}x")
    tables.append(category)
    families = summary.get("families")
    if families:
        tables.append(families_table(families))
    e2e = summary.get("e2e")
    if e2e:
        end = Table(title="end to end, one worker: query sent -> prediction read")
        columns = (
            "phase",
            "system",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "answered/s",
            "CPU µs/query",
            "unanswered",
        )
        for column in columns:
            end.add_column(column, justify="right")
        for name, phase in e2e.items():
            for system in SYSTEMS:
                r = phase[system]
                end.add_row(
                    name,
                    system,
                    f"{r['p50_ms']:,.1f}",
                    f"{r['p99_ms']:,.1f}",
                    f"{r['p999_ms']:,.1f}",
                    f"{r['achieved_throughput_per_s']:,.0f}",
                    f"{r.get('cpu_us_per_query', math.nan):,.0f}",
                    str(r["unanswered"]),
                )
            ratios = phase["ratios"]
            end.add_row(
                name,
                "adstream/floor",
                f"{ratios['p50_adstream_over_floor']:.2f}x",
                f"{ratios['p99_adstream_over_floor']:.2f}x",
                f"{ratios['p999_adstream_over_floor']:.2f}x",
                f"{ratios['throughput_adstream_over_floor']:.2f}x",
                f"{ratios.get('cpu_adstream_over_floor', math.nan):.2f}x",
                "",
                end_section=True,
            )
        tables.append(end)
    overload = summary.get("overload")
    if overload:
        tables.append(_overload_table(overload))
    recovery = summary.get("recovery")
    if recovery:
        tables.append(_recovery_table(recovery))
    targets = Table(title="DESIGN §7 targets")
    for column in ("target", "value", "limit", "met"):
        targets.add_column(column, justify="right")
    for name, target in summary["targets"].items():
        limit = f"<= {target['max']}" if "max" in target else f">= {target['min']:,}"
        targets.add_row(name, f"{target['value']:,.2f}", limit, "yes" if target["met"] else "NO")
    tables.append(targets)
    return tables


def _overload_table(overload: dict[str, Any]) -> Table:
    table = Table(
        title=(
            f"overload, adstream: serving deadline {overload['deadline_ms']:,} ms, saturation "
            f"{overload['saturation_per_s']:,.0f} queries/s (latency of the answered queries)"
        )
    )
    columns = (
        "load",
        "offered/s",
        "sent/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "answered/s",
        "shed",
        "unanswered",
        "not shed",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for name, r in overload["phases"].items():
        table.add_row(
            name,
            f"{r['rate_per_s']:,.0f}",
            f"{r['achieved_send_rate_per_s']:,.0f}",
            f"{r['p50_ms']:,.1f}",
            f"{r['p99_ms']:,.1f}",
            f"{r['p999_ms']:,.1f}",
            f"{r['achieved_throughput_per_s']:,.0f}",
            f"{r['shed']:,} ({r['shed_fraction']:.1%})",
            f"{r['unanswered']:,}",
            f"{r['unanswered_not_shed']:,}",
        )
    return table


def families_table(families: dict[str, Any]) -> Table:
    """The model families (:func:`families_summary`): what serving and learning cost with
    each, against the default configuration's."""
    default = families["default"]
    table = Table(
        title=(
            f"model families, in-process: serving ({families['batch_queries']} queries a batch),"
            " learning (click)"
        ),
        caption=(
            f"ratio: to the default configuration's ({default}). Log loss, AUC: progressive"
            f" over the {families['progressive_examples']:,} impressions learned, a small"
            " workload, not a quality benchmark. Tree nodes: all the trees' (one a tree: it never"
            " split)"
        ),
    )
    columns = (
        "family",
        "tree\nnodes",
        "µs a\nquery",
        "ratio",
        "examples\nlearned/s",
        "ratio",
        "log\nloss",
        "AUC",
    )
    for column in columns:
        if column == "family":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for name, r in families["rows"].items():
        nodes = r["tree_nodes"]
        table.add_row(
            name,
            "-" if nodes is None else f"{nodes:,}",
            f"{r['serve_us_per_query']:,.1f}",
            f"{r['serve_cost_over_default']:,.2f}x",
            f"{r['learn_examples_per_s']:,.0f}",
            f"{r['learn_rate_over_default']:,.2f}x",
            f"{r['logloss']:.4f}",
            f"{r['auc']:.3f}",
        )
    return table


def _recovery_table(recovery: dict[str, Any]) -> Table:
    table = Table(title="snapshots, serving freshness, recovery after SIGKILL, learning (click)")
    table.add_column("what")
    table.add_column("value", justify="right")
    snap, fresh, back = recovery["snapshots"], recovery["freshness"], recovery["recovery"]
    drain, beside = recovery["drain"], recovery["drain_beside_join"]
    rows = {
        "snapshot size (last / max)": f"{snap['bytes_last']:,} / {snap['bytes_max']:,} B",
        "snapshot write, in the learner (pickle, sign)": f"{snap['write_ms']:.1f} ms",
        "snapshot dump, in-process": f"{snap['dump_ms']:.1f} ms",
        "snapshot verify + load, in-process": f"{snap['verify_load_ms']:.1f} ms",
        "serving freshness p50 / p99 / max": (
            f"{fresh['p50_ms']:.0f} / {fresh['p99_ms']:.0f} / {fresh['max_ms']:.0f} ms"
            f" ({fresh['n']} swaps)"
        ),
        "restore the snapshot at start": f"{back['restore_ms']} ms",
        "restart -> first example learned": f"{back['restart_to_learning_s']:.1f} s",
        "restart -> caught up": f"{back['restart_to_caught_up_s']:.1f} s",
        "examples learned again (since the snapshot)": f"{back['relearned_examples']:,}",
        "a backlog drained by a learner process": (
            f"{drain['examples_per_s']:,.0f} examples/s ({drain['backlog']:,} examples)"
        ),
        "... by a learner that runs the join too": (
            f"{beside['examples_per_s']:,.0f} examples/s ({beside['backlog']:,} examples)"
        ),
    }
    for label, value in rows.items():
        table.add_row(label, value)
    return table


def run_benchmarks(quick: bool = False) -> int:
    """Run the micro-benchmarks, then the end-to-end harness; write results; an exit code."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    console = Console()
    hot_path_json = RESULTS_DIR / "hot_path.json"
    started = time.monotonic()
    code = run_hot_path(hot_path_json, quick)
    if code != 0:
        log.error("hot-path benchmarks failed (pytest exit code %s)", code)
        return 1
    medians = hot_path_medians_us(json.loads(hot_path_json.read_text()))
    families_machine = machine_info()
    try:
        families = run_families(FamilyOptions.quick() if quick else FamilyOptions())
    except (AdstreamError, ValueError) as error:
        log.error("model families benchmark failed: %s", error)
        return 1
    families |= {"machine": families_machine, "quick": quick}
    _write(RESULTS_DIR / "families.json", families)

    options = E2EOptions.quick() if quick else E2EOptions()
    log_dir = Path(tempfile.mkdtemp(prefix="adstream-bench-"))
    machine = machine_info()  # before the harness loads the machine itself
    try:
        e2e = run_e2e(options, log_dir)
    except AdstreamError as error:
        log.error("end-to-end harness failed: %s (logs in %s)", error, log_dir)
        return 1
    e2e["machine"] = machine
    e2e["quick"] = quick
    _write(RESULTS_DIR / "e2e.json", e2e)
    plot_e2e(e2e["phases"], RESULTS_DIR / "e2e.png", f"one worker, {machine['cpu_count']} cores")
    try:
        recovery = run_recovery(RecoveryOptions.quick() if quick else RecoveryOptions(), log_dir)
    except (AdstreamError, TimeoutError) as error:
        log.error("recovery harness failed: %s (logs in %s)", error, log_dir)
        return 1
    _write(RESULTS_DIR / "recovery.json", recovery)

    summary = summarize(medians, e2e, quick, recovery, families)
    summary["machine"] = e2e["machine"]
    summary["elapsed_s"] = time.monotonic() - started
    _write(RESULTS_DIR / "summary.json", summary)
    for table in _table(summary):
        console.print(table)
    console.print(f"results in {RESULTS_DIR}; broker and worker logs in {log_dir}")

    unanswered = {
        f"{name} {system}": phase[system]["unanswered"]
        for name, phase in e2e["phases"].items()
        for system in SYSTEMS
        if phase[system]["unanswered"]
    }
    unanswered |= {
        f"overload {name}": phase["unanswered_not_shed"]
        for name, phase in summary.get("overload", {}).get("phases", {}).items()
        if phase["lost"]
    }
    if unanswered:
        log.error("unanswered queries (under overload: not shed either): %s", unanswered)
        return 1
    if not quick and not all(t["met"] for t in summary["targets"].values()):
        return 2
    return 0

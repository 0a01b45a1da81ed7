"""The pure helpers of the benchmark harness: percentiles and the summary (no broker)."""

from __future__ import annotations

import math

import pytest

from benchmarks.e2e import E2EOptions, latency_summary, percentile
from benchmarks.run import hot_path_medians_us, overload_summary, summarize


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert percentile(values, 50) == 500.0
    assert percentile(values, 99) == 990.0
    assert percentile(values, 99.9) == 999.0
    assert percentile([7.0], 99.9) == 7.0
    assert math.isnan(percentile([], 50))


def test_latency_summary_sorts() -> None:
    summary = latency_summary([3.0, 1.0, 2.0])
    assert (summary["p50_ms"], summary["max_ms"], summary["mean_ms"]) == (2.0, 3.0, 2.0)


def test_phases_fixed_rates_then_a_backlog() -> None:
    assert [(p.name, p.rate_per_s, p.n_queries) for p in E2EOptions().phases()] == [
        ("1000/s", 1000.0, 20_000),
        ("5000/s", 5000.0, 100_000),
        ("saturation", None, 60_000),
    ]
    assert [p.n_queries for p in E2EOptions.quick().phases()] == [1_500, 2_000]


def test_summary_per_event_medians_and_targets() -> None:
    hot_path = {
        "benchmarks": [
            {"stats": {"median": 0.02}, "extra_info": {"key": "serve_per_query", "events": 200}},
            {
                "stats": {"median": 0.006},
                "extra_info": {"key": "predict_bare_per_query", "events": 200},
            },
            {
                "stats": {"median": 0.004},
                "extra_info": {"key": "predict_bare_category_per_query", "events": 200},
            },
            {
                "stats": {"median": 0.1},
                "extra_info": {"key": "live_predict_learn_per_example", "events": 2000},
            },
        ]
    }
    medians = hot_path_medians_us(hot_path)
    assert medians["serve_per_query"] == 100.0
    summary = summarize(medians, None, quick=True)
    # the bare predict of the served models: click (30 µs) + category (20 µs) per query
    assert summary["targets"]["hot_path_over_bare_predict"]["value"] == pytest.approx(2.0)
    assert summary["targets"]["hot_path_over_bare_predict"]["met"]
    assert "learn_examples_per_s" not in summary["targets"], "measured end to end only"
    recovery = {
        "drain": {"examples_per_s": 19_000.0},
        "recovery": {"restart_to_learning_s": 3.4},
    }
    targets = summarize(medians, None, quick=True, recovery=recovery)["targets"]
    assert targets["learn_examples_per_s"] == {"value": 19_000.0, "min": 20_000, "met": False}
    assert targets["restart_to_learning_s"] == {"value": 3.4, "max": 5.0, "met": True}


def test_summary_reads_the_e2e_targets_from_the_lowest_rate_and_the_saturation_phase() -> None:
    def system(p99_ms: float, per_s: float) -> dict:
        return {
            "p50_ms": p99_ms / 2,
            "p99_ms": p99_ms,
            "p999_ms": 2 * p99_ms,
            "achieved_throughput_per_s": per_s,
            "cpu_us_per_query": 1e6 / per_s,
            "unanswered": 0,
        }

    def phase(rate, adstream, floor) -> dict:
        return {
            "rate_per_s": rate,
            "n_queries": 10,
            "adstream": adstream,
            "floor": floor,
            "ratios": {"p99_adstream_over_floor": adstream["p99_ms"] / floor["p99_ms"]},
        }

    e2e = {
        "phases": {
            "5000/s": phase(5000.0, system(90.0, 5000.0), system(30.0, 5000.0)),
            "1000/s": phase(1000.0, system(12.0, 1000.0), system(10.0, 1000.0)),
            "saturation": phase(None, system(900.0, 9_000.0), system(400.0, 16_000.0)),
        }
    }
    targets = summarize({}, e2e, quick=False)["targets"]
    assert targets["e2e_p99_adstream_over_floor"]["value"] == pytest.approx(1.2)
    assert targets["e2e_p99_adstream_over_floor"]["met"]
    assert targets["saturation_queries_per_s"] == {"value": 9_000.0, "min": 10_000, "met": False}


def test_overload_phases_multiply_the_saturation_rate_measured() -> None:
    phases = E2EOptions().overload_phases(10_000.0)
    assert [(p.name, p.rate_per_s, p.n_queries) for p in phases] == [
        ("1.5x", 15_000.0, 60_000),
        ("3x", 30_000.0, 120_000),
    ]
    assert [p.n_queries for p in E2EOptions.quick().overload_phases(5_000.0)] == [15_000, 30_000]
    with pytest.raises(ValueError, match="deadline"):
        E2EOptions(deadline_ms=0)
    assert E2EOptions(deadline_ms=0, overload_factors=()).overload_phases(10_000.0) == []


def test_overload_summary_reports_shedding_and_flags_queries_neither_answered_nor_shed() -> None:
    def phase(factor: float, sent: int, answered: int, shed: int) -> dict:
        return {
            "factor": factor,
            "rate_per_s": factor * 10_000,
            "achieved_send_rate_per_s": factor * 10_000,
            "max_producer_lag_ms": 3.0,
            "sent": sent,
            "answered": answered,
            "p50_ms": 150.0,
            "p99_ms": 260.0,
            "p999_ms": 300.0,
            "achieved_throughput_per_s": 9_000.0,
            "shed": shed,
            "shed_fraction": shed / sent,
            "unanswered": sent - answered,
            "unanswered_not_shed": sent - answered - shed,
        }

    overload = overload_summary(
        {
            "saturation_per_s": 10_000.0,
            "deadline_ms": 200,
            "duration_s": 4.0,
            "phases": {
                "1.5x": phase(1.5, 60_000, 40_000, 20_000),
                "3x": phase(3.0, 120_000, 40_000, 79_000),
            },
        }
    )
    assert (overload["saturation_per_s"], overload["deadline_ms"]) == (10_000.0, 200)
    first, second = overload["phases"]["1.5x"], overload["phases"]["3x"]
    assert first["shed_fraction"] == pytest.approx(1 / 3) and not first["lost"]
    assert second["unanswered_not_shed"] == 1_000 and second["lost"]

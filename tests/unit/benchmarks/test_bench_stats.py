"""The pure helpers of the benchmark harness: percentiles and the summary (no broker)."""

from __future__ import annotations

import math

import pytest

from benchmarks.e2e import E2EOptions, latency_summary, percentile
from benchmarks.run import hot_path_medians_us, summarize


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


def test_quick_options() -> None:
    quick = E2EOptions.quick()
    assert quick.n_queries == 1500
    assert E2EOptions().n_queries == 20_000


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
    assert summary["targets"]["learn_examples_per_s_model_only"]["value"] == 20_000.0

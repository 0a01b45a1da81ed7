"""The model-families harness on a tiny workload: every family measured, every figure a
finite positive number, the default's ratios 1, and the rows ``summary.json`` keeps."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
from rich.console import Console

from benchmarks.families import (
    DEFAULT_FAMILY,
    FAMILIES,
    FamilyOptions,
    run_families,
    timed_rounds,
)
from benchmarks.run import families_summary, families_table, summarize

TINY = FamilyOptions(
    train_queries=15,
    batch_queries=4,
    serve_batches=2,
    learn_queries=6,
    learn_chunk=10,
    serve_budget_s=0.0,
    learn_budget_s=0.0,
    min_rounds=2,
)
FIGURES = (
    "serve_us_per_query",
    "serve_us_per_candidate",
    "serve_cost_over_default",
    "learn_examples_per_s",
    "learn_rate_over_default",
)


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    return run_families(TINY)


def _finite_positive(value: Any) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


def test_every_family_measured_on_one_workload(measured: dict[str, Any]) -> None:
    assert measured["default"] == DEFAULT_FAMILY
    assert list(measured["families"]) == list(FAMILIES)
    workload = measured["workload"]
    assert workload["train_queries"] == TINY.train_queries
    assert workload["serve_batches"] == TINY.serve_batches
    assert workload["train_examples"] > TINY.train_queries  # several candidates a query
    for name, figures in measured["families"].items():
        for key in FIGURES:
            assert _finite_positive(figures[key]), (name, key, figures[key])
        assert figures["serve_rounds"] == TINY.min_rounds, name  # no budget: the minimum
        assert figures["learn_rounds"] == TINY.min_rounds, name
        assert figures["learn_timed_examples"] == TINY.min_rounds * TINY.learn_chunk, name
        progressive = figures["progressive"]
        learned = workload["train_examples"] + workload["learn_examples"]
        assert progressive["n"] == learned, name  # every family learned every example
        assert _finite_positive(progressive["logloss"]), (name, progressive)
        assert 0 < progressive["auc"] <= 1, (name, progressive)
        assert figures["config"].endswith(".toml"), name


def test_ratios_are_to_the_default(measured: dict[str, Any]) -> None:
    families = measured["families"]
    base = families[DEFAULT_FAMILY]
    assert base["serve_cost_over_default"] == 1.0
    assert base["learn_rate_over_default"] == 1.0
    assert base["click_model"] == "FTRLLogisticRegression"
    for figures in families.values():
        assert figures["serve_cost_over_default"] == pytest.approx(
            figures["serve_us_per_query"] / base["serve_us_per_query"]
        )
        assert figures["learn_rate_over_default"] == pytest.approx(
            figures["learn_examples_per_s"] / base["learn_examples_per_s"]
        )
    # the configurations do differ by their click model
    assert len({figures["click_model"] for figures in families.values()}) == len(FAMILIES)


def test_summary_rows_and_table(measured: dict[str, Any]) -> None:
    summary = summarize({}, None, quick=True, families=measured)
    rows = summary["families"]["rows"]
    assert summary["families"]["default"] == DEFAULT_FAMILY
    assert list(rows) == list(FAMILIES)
    for name, row in rows.items():
        assert _finite_positive(row["serve_us_per_query"]), name
        assert _finite_positive(row["learn_examples_per_s"]), name
        assert _finite_positive(row["logloss"]), name
    console = Console(file=io.StringIO(), width=200)
    console.print(families_table(families_summary(measured)))
    printed = console.file.getvalue()
    assert all(name in printed for name in FAMILIES)


def test_rounds_stop_on_time_not_count() -> None:
    calls: list[int] = []
    work = (lambda i=i: calls.append(i) for i in range(1_000))
    durations = timed_rounds(work, budget_s=0.0, min_rounds=4)
    assert len(durations) == 4
    assert calls == [0, 1, 2, 3]
    assert all(d >= 0 for d in durations)
    assert len(timed_rounds(iter([lambda: None] * 5), budget_s=60.0, min_rounds=2)) == 5

"""Progressive-validation metrics against hand-computed values."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from learners.progressive import ProgressiveMetrics

YS = [True, False, False, True]
PS = [0.9, 0.1, 0.2, 0.65]


def _exact_auc(ys: list[bool], ps: list[float]) -> float:
    pos = [p for y, p in zip(ys, ps, strict=True) if y]
    neg = [p for y, p in zip(ys, ps, strict=True) if not y]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def test_empty_report_is_nan() -> None:
    report = ProgressiveMetrics().report()
    assert report["n"] == 0
    assert all(math.isnan(v) for k, v in report.items() if k != "n")


def test_hand_computed_logloss_ne_and_rates() -> None:
    metrics = ProgressiveMetrics()
    for y, p in zip(YS, PS, strict=True):
        metrics.update(y, p)
    logloss = -(math.log(0.9) + math.log(0.9) + math.log(0.8) + math.log(0.65)) / 4
    report = metrics.report()
    assert report == {
        "n": 4,
        "logloss": pytest.approx(logloss),
        "ne": pytest.approx(logloss / math.log(2)),  # base rate 1/2: entropy is ln 2
        "auc": 1.0,
        "base_rate": 0.5,
        "mean_p": pytest.approx(sum(PS) / 4),
    }
    assert report["logloss"] == pytest.approx(0.216162, abs=1e-6)  # River's LogLoss doctest


def test_weights_count_like_repeated_updates() -> None:
    weighted, repeated = ProgressiveMetrics(), ProgressiveMetrics()
    for w, (y, p) in zip([1.0, 2.0, 3.0, 1.0], zip(YS, PS, strict=True), strict=True):
        weighted.update(y, p, w=w)
        for _ in range(int(w)):
            repeated.update(y, p)
    a, b = weighted.report(), repeated.report()
    assert a.pop("n") == 4 and b.pop("n") == 7
    assert a == pytest.approx(b)
    rate = 2 / 7  # positives carry weights 1 and 1
    assert a["ne"] == pytest.approx(
        a["logloss"] / -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    )


def test_ne_and_auc_are_nan_until_both_classes_are_seen() -> None:
    metrics = ProgressiveMetrics()
    metrics.update(False, 0.2)
    metrics.update(False, 0.1)
    report = metrics.report()
    assert math.isnan(report["ne"]) and math.isnan(report["auc"])
    assert report["base_rate"] == 0.0 and math.isfinite(report["logloss"])
    metrics.update(True, 0.3)
    assert math.isfinite(metrics.report()["ne"]) and metrics.report()["auc"] == 1.0


def test_certain_wrong_prediction_is_clipped_not_infinite() -> None:
    metrics = ProgressiveMetrics()
    metrics.update(True, 0.0)
    assert metrics.report()["logloss"] == pytest.approx(-math.log(1e-15))


@pytest.mark.parametrize("low", [0.001, 0.3])
def test_auc_matches_exact_pairwise_auc_at_low_and_high_rates(low: float) -> None:
    rng = random.Random(5)
    ps = [rng.uniform(low / 10, low * 3) for _ in range(600)]
    ys = [rng.random() < p / (low * 3) for p in ps]  # higher p, more positives
    metrics = ProgressiveMetrics()
    for y, p in zip(ys, ps, strict=True):
        metrics.update(y, p)
    assert metrics.report()["auc"] == pytest.approx(_exact_auc(ys, ps), abs=2e-3)


def test_pickle_round_trip_keeps_the_report() -> None:
    metrics = ProgressiveMetrics()
    for y, p in zip(YS, PS, strict=True):
        metrics.update(y, p)
    assert pickle.loads(pickle.dumps(metrics)).report() == metrics.report()


@pytest.mark.parametrize(
    ("p", "w"), [(1.5, 1.0), (-0.1, 1.0), (math.nan, 1.0), (0.5, 0.0), (0.5, math.inf)]
)
def test_rejects_invalid_inputs(p: float, w: float) -> None:
    with pytest.raises(ValueError):
        ProgressiveMetrics().update(True, p, w)

"""Progressive quality metrics: hand-computed values, the progressive constant, a real model."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from learners.ftrl import FTRLLogisticRegression
from learners.progressive import ProgressiveMetrics
from learners.quality_metrics import ProgressiveQuality

YS = [0.8, 0.2, 1.0, 0.4]
PS = [0.7, 0.4, 0.9, 0.4]


def _soft_ce(y: float, p: float) -> float:
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_empty_report_is_nan() -> None:
    report = ProgressiveQuality().report()
    assert report["n"] == 0
    assert set(report) == {"n", "mae", "logloss", "mean_p", "mean_y", "calibration", "constant_mae"}
    assert all(math.isnan(v) for k, v in report.items() if k != "n")


def test_hand_computed_report() -> None:
    metrics = ProgressiveQuality()
    for y, p in zip(YS, PS, strict=True):
        metrics.update(y, p)
    constants = [0.5, 0.8, 0.5, 2 / 3]  # running mean of the targets seen before each example
    constant_mae = sum(abs(y - c) for y, c in zip(YS, constants, strict=True)) / 4
    assert metrics.report() == {
        "n": 4,
        "mae": pytest.approx((0.1 + 0.2 + 0.1 + 0.0) / 4),
        "logloss": pytest.approx(sum(map(_soft_ce, YS, PS)) / 4),
        "mean_p": pytest.approx(0.6),
        "mean_y": pytest.approx(0.6),
        "calibration": pytest.approx(1.0),
        "constant_mae": pytest.approx(constant_mae),
    }


def test_weights_count_like_repeated_examples() -> None:
    weighted, repeated = ProgressiveQuality(), ProgressiveQuality()
    for y, p, w in [(0.3, 0.5, 2.0), (0.9, 0.6, 1.0), (0.1, 0.2, 3.0)]:
        weighted.update(y, p, w)
        for _ in range(int(w)):
            repeated.update(y, p)
    expected = repeated.report()
    report = weighted.report()
    assert report["n"] == 3 and expected["n"] == 6
    for key in ("mae", "logloss", "mean_p", "mean_y", "calibration"):
        assert report[key] == pytest.approx(expected[key])
    # The constant is only updated between examples, so repeats of one example differ there.
    constant_mae = (2 * abs(0.3 - 0.5) + abs(0.9 - 0.3) + 3 * abs(0.1 - 0.5)) / 6
    assert report["constant_mae"] == pytest.approx(constant_mae)


def test_calibration_is_nan_when_every_target_is_zero() -> None:
    metrics = ProgressiveQuality()
    metrics.update(0.0, 0.2)
    metrics.update(0.0, 0.0)  # p = 0 is clipped for the log loss, which stays finite
    report = metrics.report()
    assert math.isnan(report["calibration"]) and math.isfinite(report["logloss"])
    assert report["constant_mae"] == pytest.approx(0.25)


def test_bool_targets_give_the_binary_log_loss() -> None:
    quality, clicks = ProgressiveQuality(), ProgressiveMetrics()
    for y, p in [(True, 0.9), (False, 0.1), (False, 0.2), (True, 0.65)]:
        quality.update(y, p)
        clicks.update(y, p)
    assert quality.report()["logloss"] == pytest.approx(clicks.report()["logloss"])
    assert quality.report()["mean_p"] == pytest.approx(clicks.report()["mean_p"])


@pytest.mark.parametrize(
    ("y", "p", "w", "match"),
    [
        (-0.1, 0.5, 1.0, "y_true"),
        (1.1, 0.5, 1.0, "y_true"),
        (math.nan, 0.5, 1.0, "y_true"),
        (0.5, math.nan, 1.0, "p must"),
        (0.5, 1.5, 1.0, "p must"),
        (0.5, 0.5, 0.0, "w must"),
        (0.5, 0.5, math.inf, "w must"),
        (0.5, 0.5, math.nan, "w must"),
    ],
)
def test_rejects_bad_input_without_counting_it(y: float, p: float, w: float, match: str) -> None:
    metrics = ProgressiveQuality()
    metrics.update(0.5, 0.5)
    with pytest.raises(ValueError, match=match):
        metrics.update(y, p, w)
    assert metrics.report()["n"] == 1


def test_pickle_round_trip_keeps_the_state() -> None:
    metrics = ProgressiveQuality()
    for y, p in zip(YS, PS, strict=True):
        metrics.update(y, p)
    copy = pickle.loads(pickle.dumps(metrics))
    assert copy.report() == metrics.report()
    copy.update(0.5, 0.5)
    assert copy.report()["n"] == 5 and metrics.report()["n"] == 4


def test_a_quality_model_beats_the_progressive_constant() -> None:
    """An FTRL quality model on soft ratings, validated progressively (predict, then learn)."""
    rng = random.Random(2024)
    true_quality = {f"ad{i}": rng.uniform(0.05, 0.95) for i in range(30)}
    model, metrics = FTRLLogisticRegression(alpha=0.3), ProgressiveQuality()
    for _ in range(6_000):
        ad = rng.choice(list(true_quality))
        rating = min(1.0, max(0.0, rng.gauss(true_quality[ad], 0.1)))
        x = {"bias": 1.0, ad: 1.0}
        metrics.update(rating, model.predict_proba_one(x)[True])
        model.learn_one(x, rating)
    report = metrics.report()
    assert report["mae"] < 0.6 * report["constant_mae"]
    assert report["calibration"] == pytest.approx(1.0, abs=0.05)

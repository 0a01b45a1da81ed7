"""Negative down-sampling with recalibration keeps a rare-click model calibrated."""

from __future__ import annotations

import math
import random

from learners.downsampled import NegativeDownsampled, recalibrate
from learners.ftrl import FTRLLogisticRegression
from learners.progressive import ProgressiveMetrics
from streams.agents.join import keeps_negative
from streams.models.registry import CLICK_PARAMS, ENGAGEMENT, LiveModel

BASE_LOGIT = -7.6  # with the effects below: a base click rate of about 0.1 %
RATE = 0.02


def _rare_clicks(n: int, seed: int = 7):
    """A seeded stream of (features, click) with hashed one-hot features and a 0.1 % base rate."""
    rng = random.Random(seed)
    effects = {f"{name}{i}": rng.gauss(0.0, 0.8) for name in "abc" for i in range(20)}
    for _ in range(n):
        x = {"bias": 1.0, **{f"{name}{rng.randrange(20)}": 1.0 for name in "abc"}}
        logit = BASE_LOGIT + sum(effects.get(key, 0.0) for key in x)
        yield x, rng.random() < 1.0 / (1.0 + math.exp(-logit))


def test_recalibration_inverts_the_odds_of_sampling():
    for p in (0.001, 0.2, 0.5, 0.97):
        q = recalibrate(p, RATE)
        assert math.isclose(q / (1 - q), RATE * p / (1 - p), rel_tol=1e-12)
    assert recalibrate(0.3, 1.0) == 0.3


def test_at_a_base_rate_of_0_1_percent_down_sampling_keeps_calibration_and_ne():
    """Both models learn the same seeded stream; the down-sampled one sees the positives and
    2 % of the negatives (chosen as the join chooses them). Over the second half, scored on
    every impression before learning, its calibration is within 0.9-1.1 and its NE within 2 %
    of the model that learned everything."""
    n = 1_000_000
    full = LiveModel("full", ENGAGEMENT, FTRLLogisticRegression(**CLICK_PARAMS))
    down = LiveModel(
        "down", ENGAGEMENT, NegativeDownsampled(FTRLLogisticRegression(**CLICK_PARAMS), RATE)
    )
    scored = {"full": ProgressiveMetrics(), "down": ProgressiveMetrics()}
    learned = 0
    for i, (x, y) in enumerate(_rare_clicks(n)):
        q = down.estimator.predict_proba_one(x)[True]
        p = full.learn(x, float(y))
        if i >= n // 2:
            scored["full"].update(y, p)
            scored["down"].update(y, q)
        if y or keeps_negative(f"imp-{i}", RATE):
            down.learn(x, float(y), 1.0, 1.0 if y else RATE)
            learned += 1
    full_report, down_report = scored["full"].report(), scored["down"].report()
    assert 0.0008 < down_report["base_rate"] < 0.0012
    assert learned < 0.025 * n  # about 1/40 of the examples
    calibration = down_report["mean_p"] / down_report["base_rate"]
    assert 0.9 <= calibration <= 1.1, (calibration, down_report)
    assert down_report["ne"] <= 1.02 * full_report["ne"], (down_report, full_report)
    assert down_report["ne"] < 0.95  # both learned something
    # the progressive metrics the model reports weigh each kept negative as 1 / RATE of them
    assert 0.8 < down.metrics.report()["mean_p"] / down.metrics.report()["base_rate"] < 1.25


def test_an_example_kept_at_another_rate_is_importance_weighted_to_the_models_rate():
    model = LiveModel("m", ENGAGEMENT, NegativeDownsampled(FTRLLogisticRegression(), 0.1))
    assert model.weights(0.0, 1.0, 1.0) == (1.0, 0.1)  # every negative sent: learn 1/10 of it
    assert model.weights(0.0, 1.0, 0.1) == (10.0, 1.0)
    assert model.weights(1.0, 1.0, 1.0) == (1.0, 1.0)
    plain = LiveModel("p", ENGAGEMENT, FTRLLogisticRegression())
    assert plain.weights(0.0, 1.0, 0.02) == (50.0, 50.0)

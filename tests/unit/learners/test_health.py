"""ModelHealth's loss detector watches the normalized loss: a rising click rate under an
equally good model is no drift; a model that loses its skill is."""

from __future__ import annotations

import random

import pytest

from learners.health import ModelHealth

LOW, HIGH = 0.002, 0.05  # the click propensities of two kinds of impression


def _feed(health: ModelHealth, rng: random.Random, share_high: float, skilled: bool) -> None:
    """One example: a skilled model predicts the true propensity, a broken one the other
    kind's."""
    likely = rng.random() < share_high
    q = HIGH if likely else LOW
    p = q if skilled else (LOW if likely else HIGH)
    health.update(rng.random() < q, p, at_s=health.n / 100)


@pytest.mark.parametrize("seed", range(3))
def test_a_ranker_showing_likelier_clicks_is_not_a_loss_drift(seed):
    """The click rate goes from 0.4 % to 2.1 % and the log loss almost fourfold, at a
    perfect model (ADWIN on the raw log loss fires here)."""
    rng = random.Random(seed)
    health = ModelHealth()
    for i in range(60_000):
        _feed(health, rng, share_high=0.05 + 0.35 * i / 60_000, skilled=True)
    report = health.report(now_s=600.0)
    assert report["recent"]["base_rate"] > 0.015
    assert report["loss_drift"]["detections"] == 0


@pytest.mark.parametrize("seed", range(3))
def test_a_model_that_loses_its_skill_is_a_loss_drift_within_3000_examples(seed):
    rng = random.Random(seed)
    health = ModelHealth()
    for _ in range(40_000):
        _feed(health, rng, share_high=0.2, skilled=True)
    assert health.report(now_s=400.0)["loss_drift"]["detections"] == 0
    for _ in range(3_000):
        _feed(health, rng, share_high=0.2, skilled=False)
    onset = health.report(now_s=430.0)["loss_drift"]["onset"]
    assert onset is not None and 40_000 < onset["n"] <= 43_000
    assert onset["after"] > onset["before"]

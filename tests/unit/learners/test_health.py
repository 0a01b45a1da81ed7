"""ModelHealth's loss detector watches the normalized loss: a rising click rate under an
equally good model is no drift; a model that loses its skill is."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from learners.health import ModelHealth, weighted_auc

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


@pytest.mark.parametrize("n", [1, 2_999, 3_000, 3_001, 17_003])
def test_the_windows_hold_exactly_the_last_examples_whatever_has_been_overwritten(n):
    """The recent window and the label-shift spans, read from ring buffers, against the same
    figures computed directly from every example fed."""
    rng = random.Random(n)
    health = ModelHealth(window=3_000, shift_recent=1_000, shift_gap=500, shift_reference=2_000)
    fed = []
    for i in range(n):
        y, p, w = rng.random() < 0.1, rng.uniform(0.01, 0.3), rng.choice((1.0, 1.0, 4.0))
        health.update(y, p, w, at_s=i / 100)
        fed.append((w, float(y), p))

    def rate(examples):
        weight = sum(w for w, _, _ in examples)
        return sum(w * y for w, y, _ in examples) / weight if examples else math.nan

    window = fed[-3_000:]
    recent = health.recent()
    assert recent["n"] == len(window)
    assert recent["population"] == pytest.approx(sum(w for w, _, _ in window), rel=1e-12)
    assert recent["mean_p"] == pytest.approx(
        sum(w * p for w, _, p in window) / recent["population"], rel=1e-12
    )
    assert recent["base_rate"] == pytest.approx(rate(window), rel=1e-12, nan_ok=True)
    shift = health.label_shift()
    reference = fed[max(n - 3_500, 0) : max(n - 1_500, 0)]
    assert shift["recent_examples"] == min(n, 1_000)
    assert shift["recent_rate"] == pytest.approx(rate(fed[-1_000:]), rel=1e-12, nan_ok=True)
    assert shift["reference_rate"] == pytest.approx(rate(reference), rel=1e-12, nan_ok=True)


def _label_shift_trace(rates, seed: int, sampling_rate: float = 1.0) -> list[dict]:
    """The label-shift figure every 250 examples of a calibrated model fed ``rates`` (one
    click rate per example); negatives kept at ``sampling_rate`` weigh ``1 / sampling_rate``."""
    rng = random.Random(seed)
    health = ModelHealth()
    trace = []
    for i, rate in enumerate(rates):
        y = rng.random() < rate
        if not y and rng.random() >= sampling_rate:
            continue
        health.update(y, rate, 1.0 if y else 1.0 / sampling_rate, at_s=i / 250)
        if health.n % 250 == 0:
            trace.append({"n": health.n, **health.label_shift()})
    return trace


@pytest.mark.parametrize("seed", range(3))
def test_an_abrupt_change_of_the_click_rate_shows_in_the_label_shift_within_2500_examples(seed):
    """The drift scenario's change: clicks from 2 % to 5 % at example 20,000."""
    trace = _label_shift_trace([0.02] * 20_000 + [0.05] * 5_000, seed)
    assert max(abs(t["z"]) for t in trace if 5_000 < t["n"] <= 20_000) < 4.5
    first = next(t for t in trace if t["z"] >= 4.5)
    assert 20_000 < first["n"] <= 22_500
    assert first["recent_rate"] > 1.5 * first["reference_rate"]


@pytest.mark.parametrize("seed", range(3))
def test_a_slowly_rising_click_rate_is_no_label_shift(seed):
    """A ranker learning to show likelier clicks: 0.4 % to 2.3 % over 30,000 examples."""
    trace = _label_shift_trace([0.004 + 0.019 * i / 30_000 for i in range(30_000)], seed)
    assert all(
        abs(t["z"]) < 4.5 or t["recent_rate"] < 1.5 * t["reference_rate"]
        for t in trace
        if t["n"] > 10_000
    )


def test_under_down_sampling_the_label_shift_weighs_the_clicks_evidence():
    """At a 0.1 % click rate with 2 % of the negatives kept (each weighing 50), the rate is the
    population's; a stationary stream's z behaves like a standard normal's, and a doubling of
    the click rate stands out. Taking the kept examples for the sample (or Kish's effective
    size, nearly the same here) would make z about eight times too small: blind to both."""
    steady = [t for t in _label_shift_trace([0.001] * 1_000_000, 1, 0.02) if t["n"] > 10_000]
    assert 0.0008 < sum(t["recent_rate"] for t in steady) / len(steady) < 0.0012
    mean_abs_z = sum(abs(t["z"]) for t in steady) / len(steady)
    assert 0.4 < mean_abs_z < 1.6 and max(abs(t["z"]) for t in steady) < 4.5
    doubled = _label_shift_trace([0.001] * 500_000 + [0.002] * 150_000, 2, 0.02)
    assert max(t["z"] for t in doubled if t["n"] > 10_000) > 4.5


def test_the_recent_auc_is_the_ranking_skill_of_the_window_and_chance_for_random_scores():
    rng = random.Random(5)
    health = ModelHealth(window=4_000)
    for _ in range(4_000):  # a skilled model, then one whose scores are noise
        _feed(health, rng, share_high=0.3, skilled=True)
    skilled = health.recent_auc()
    for _ in range(4_000):
        health.update(rng.random() < 0.02, rng.choice((LOW, HIGH)), at_s=health.n / 100)
    assert skilled > 0.7 and abs(health.recent_auc() - 0.5) < 0.1
    assert health.report(now_s=80.0)["recent"]["auc"] == health.recent_auc()
    quality = ModelHealth()
    quality.update(0.7, 0.6, at_s=0.0)  # a rating: no AUC
    assert math.isnan(quality.recent_auc())


@pytest.mark.parametrize("seed", range(5))
def test_weighted_auc_is_the_weighted_share_of_pairs_in_order(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(60) < 0.3).astype(float)
    p = rng.integers(0, 8, 60) / 8  # many ties
    w = rng.choice([1.0, 50.0], 60)
    right = sum(
        w[i] * w[j] * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
        for i in range(60)
        for j in range(60)
        if y[i] == 1 and y[j] == 0
    )
    pairs = sum(w[y == 1]) * sum(w[y == 0])
    assert weighted_auc(y, p, w) == pytest.approx(right / pairs, abs=1e-12)

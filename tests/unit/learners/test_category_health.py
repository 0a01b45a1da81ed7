"""CategoryHealth: the category model's figures, and its loss detector on the simulated world's
real query labels (a steady stream stays quiet; a tenth of the labels gone wrong does not)."""

from __future__ import annotations

import collections
import copy
import math
import random

import pytest

from learners.category_health import MIN_PROBA, CategoryGuess, CategoryHealth, class_entropy
from producers.world import World
from streams.models.category import CategoryModel

TS0_MS = 1_700_000_000_000


def test_recent_figures_are_those_of_the_window_only():
    health = CategoryHealth(window=100)
    for i in range(100):  # pushed out of the window by what follows
        health.update("a", CategoryGuess("b", 0.9, 0.01), at_s=i / 10)
    for i in range(100):
        label = "ab"[i % 2]
        right = i % 4 < 3  # 75 % right, 0.6 confident
        health.update(label, CategoryGuess(label if right else "c", 0.6, 0.5), at_s=10 + i / 10)
    recent = health.report(now_s=19.9)["recent"]
    assert recent["n"] == 100 and recent["classes"] == 2
    assert recent["accuracy"] == pytest.approx(0.75)
    assert recent["confidence"] == pytest.approx(0.6)
    assert recent["calibration"] == pytest.approx(0.6 / 0.75)
    assert recent["logloss"] == pytest.approx(math.log(2))
    assert recent["ne"] == pytest.approx(1.0)  # p = 1/2 for one of two even classes: no skill
    cumulative = health.report(now_s=19.9)["calibration"]
    assert cumulative == pytest.approx((90 + 60) / 75)


def test_a_class_the_model_does_not_know_costs_the_floor_not_an_infinity():
    health = CategoryHealth(window=50)
    health.update("new/class", CategoryGuess("old", 0.9, 0.0), at_s=0.0)
    assert health.recent()["logloss"] == pytest.approx(-math.log(MIN_PROBA))


def test_class_entropy_is_the_log_loss_of_predicting_the_class_frequencies():
    counts = collections.Counter(a=3, b=1)
    assert class_entropy(counts, 4) == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    )


def _labels(world: World, n: int, start: int):
    for i in range(start, start + n):
        query, truth = world.next_query(ts_ms=TS0_MS + i * 13)
        yield query, truth.leaf


def _learn(model: CategoryModel, health: CategoryHealth, labelled, relabel=None) -> None:
    for query, leaf in labelled:
        leaf = relabel(leaf) if relabel else leaf
        guess = model.learn(model.features(query), leaf)
        health.update(leaf, guess, at_s=health.n / 75)


def test_the_loss_detector_stays_quiet_on_a_steady_stream_and_sees_a_tenth_of_labels_go_wrong():
    """The simulated world's queries and their true leaves, as the labels agent sends them: no
    detection over 24,000 steady examples; with one label in ten replaced by a random leaf
    from then on, a detection within 1,000 examples, and the recent NE and accuracy show it."""
    world = World(seed=5)
    model, health = CategoryModel(), CategoryHealth()
    _learn(model, health, _labels(world, 20_000, 0))
    steady = copy.deepcopy((world, model, health))
    leaves = sorted(model.estimator.leaves)
    rng = random.Random(1)

    def corrupt(leaf: str) -> str:
        return rng.choice(leaves) if rng.random() < 0.1 else leaf

    _learn(model, health, _labels(world, 1_000, 20_000), relabel=corrupt)
    report = health.report(now_s=health.n / 75)
    assert report["loss_drift"]["onset"] is not None
    assert 20_000 < report["loss_drift"]["onset"]["n"] <= 21_000

    world, model, health = steady
    before = health.recent()
    _learn(model, health, _labels(world, 4_000, 20_000))
    report = health.report(now_s=health.n / 75)
    assert report["loss_drift"]["detections"] == 0
    assert report["recent"]["accuracy"] > 0.95 and report["recent"]["ne"] < 0.2
    assert report["recent"]["ne"] <= before["ne"] * 1.1

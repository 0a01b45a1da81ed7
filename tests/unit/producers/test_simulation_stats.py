"""Simulation counters for category accuracy, and the simulator's checks of its arguments."""

import math

import pytest

from producers import Simulator, World, WorldChange
from producers.stats import SimulationStats
from streams.wire.settings import Settings

T0 = 1_700_000_000_000


def test_category_hits_are_bucketed_by_query_time_and_leaf():
    stats = SimulationStats()
    assert math.isnan(stats.category_accuracy())
    for offset_ms, leaf, hit in [
        (0, "a/b/c", True),
        (999, "a/b/c", False),
        (1_000, "a/b/c", True),
        (1_500, "a/b/d", True),
        (5_000, "a/b/d", False),
    ]:
        stats.record_category(T0 + offset_ms, leaf, hit)
    assert stats.category_hits == {
        (T0, "a/b/c"): [1, 2],
        (T0 + 1_000, "a/b/c"): [1, 1],
        (T0 + 1_000, "a/b/d"): [1, 1],
        (T0 + 5_000, "a/b/d"): [0, 1],
    }
    assert stats.category_accuracy() == pytest.approx(3 / 5)
    assert stats.category_accuracy(leaf="a/b/d") == pytest.approx(1 / 2)
    assert stats.category_accuracy(since_ms=T0 + 1_000) == pytest.approx(2 / 3)
    assert stats.category_accuracy(until_ms=T0 + 1_000) == pytest.approx(1 / 2)
    assert math.isnan(stats.category_accuracy(leaf="x/y/z"))
    assert stats.category_by_leaf() == {"a/b/c": (2, 3), "a/b/d": (1, 2)}


def test_category_hits_stay_bounded_by_leaves_and_buckets():
    stats = SimulationStats()
    for i in range(120_000):  # 1,000 q/s for 120 s over 10 leaves
        stats.record_category(T0 + i, f"v/c/l{i % 10}", i % 3 == 0)
    assert len(stats.category_hits) == 120 * 10


def test_the_simulator_checks_its_schedule_and_labelling():
    settings = Settings(kafka="localhost:1")
    world = World(seed=1, n_users=10, n_ads=100, n_advertisers=5)
    late = WorldChange(at_s=10.0, kind="launch", path="a/b/c")
    with pytest.raises(ValueError, match="never apply"):
        Simulator(settings=settings, world=world, rate_per_s=10, duration_s=10, changes=[late])
    with pytest.raises(ValueError, match="label_rate"):
        Simulator(settings=settings, world=world, rate_per_s=10, duration_s=1, label_rate=1.5)
    with pytest.raises(ValueError, match="label_delay_s"):
        Simulator(
            settings=settings, world=world, rate_per_s=10, duration_s=1, label_delay_s=(3.0, 1.0)
        )


def test_business_metrics_are_aggregated_per_weight_version():
    stats = SimulationStats()
    assert stats.business() == {}
    for version, clicked, quality in [
        (2, True, 0.4),
        (1, False, 0.9),
        (2, False, 0.2),
        (1, False, 0.7),
        (2, False, 0.6),
        (1, True, 0.8),
        (2, True, 0.4),
    ]:
        alpha = 0.0 if version == 1 else 0.5
        stats.record_business(version, alpha=alpha, beta=1.0, clicked=clicked, quality=quality)
    business = stats.business()
    assert list(business) == [1, 2]
    assert business[1] == pytest.approx(
        {"impressions": 3, "ctr": 1 / 3, "mean_quality": 0.8, "alpha": 0.0, "beta": 1.0}
    )
    assert business[2] == pytest.approx(
        {"impressions": 4, "ctr": 0.5, "mean_quality": 0.4, "alpha": 0.5, "beta": 1.0}
    )


def test_business_metrics_keep_the_newest_versions_only():
    stats = SimulationStats(business_max_versions=3)
    for version in range(10):
        for _ in range(version + 1):
            stats.record_business(version, alpha=1.0, beta=1.0, clicked=False, quality=0.5)
    stats.record_business(2, alpha=1.0, beta=1.0, clicked=True, quality=1.0)  # older: not kept
    business = stats.business()
    assert list(business) == [7, 8, 9]
    assert [row["impressions"] for row in business.values()] == [8, 9, 10]
    assert all(row["ctr"] == 0 for row in business.values())


def test_the_simulator_checks_exploration_and_rating():
    settings = Settings(kafka="localhost:1")
    world = World(seed=1, n_users=10, n_ads=100, n_advertisers=5)
    for bad in ({"epsilon": 1.2}, {"epsilon": -0.1}):
        with pytest.raises(ValueError, match="epsilon"):
            Simulator(settings=settings, world=world, rate_per_s=10, duration_s=1, **bad)
    with pytest.raises(ValueError, match="rating_rate"):
        Simulator(settings=settings, world=world, rate_per_s=10, duration_s=1, rating_rate=-0.5)
    with pytest.raises(ValueError, match="rating_delay_s"):
        Simulator(
            settings=settings, world=world, rate_per_s=10, duration_s=1, rating_delay_s=(2.0, 1.0)
        )

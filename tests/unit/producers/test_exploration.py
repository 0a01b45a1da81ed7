"""Epsilon-greedy exploration: logged propensities are the true showing probabilities."""

import math
import random
from collections import Counter

import pytest

from producers import EpsilonGreedy, World
from producers.exploration import MIN_EPSILON

TS_MS = 1_700_000_000_000


@pytest.mark.parametrize("epsilon", [0.0, MIN_EPSILON, 0.1, 0.5, 1.0])
def test_propensities_sum_to_one_over_the_candidates_of_a_query(epsilon):
    world, policy = World(seed=4), EpsilonGreedy(epsilon=epsilon)
    for i in range(200):
        _, truth = world.next_query(ts_ms=TS_MS + i)
        top = truth.candidates[i % len(truth.candidates)]
        propensities = [
            policy.propensity(ad_id, top=top, candidates=truth.candidates)
            for ad_id in truth.candidates
        ]
        assert math.fsum(propensities) == pytest.approx(1.0, abs=1e-12)
        n = len(truth.candidates)
        assert max(propensities) == pytest.approx(1 - epsilon + epsilon / n)
        assert min(propensities) == pytest.approx(epsilon / n)


def test_choices_follow_the_logged_propensities():
    policy, rng = EpsilonGreedy(epsilon=0.2), random.Random(3)
    candidates = [f"ad-{i}" for i in range(5)]
    draws = 40_000
    shown = [policy.choose("ad-2", candidates, rng) for _ in range(draws)]
    counts = Counter(choice.ad_id for choice in shown)
    for choice in shown[:50]:
        assert choice.propensity == policy.propensity(
            choice.ad_id, top="ad-2", candidates=candidates
        )
        assert choice.arm == "explore" or choice.ad_id == "ad-2"
    for ad_id in candidates:
        p = policy.propensity(ad_id, top="ad-2", candidates=candidates)
        # binomial: 5 standard deviations, at most ~0.01 here
        assert abs(counts[ad_id] / draws - p) < 5 * math.sqrt(p * (1 - p) / draws)
    explored = sum(choice.arm == "explore" for choice in shown) / draws
    assert abs(explored - 0.2) < 5 * math.sqrt(0.2 * 0.8 / draws)


def test_no_exploration_always_shows_the_top_ad():
    policy, rng = EpsilonGreedy(epsilon=0.0), random.Random(0)
    shown = {policy.choose("b", ["a", "b", "c"], rng) for _ in range(100)}
    assert {(s.ad_id, s.arm, s.propensity) for s in shown} == {("b", "exploit", 1.0)}


def test_bad_arguments_are_refused():
    for epsilon in (-0.1, 1.5, MIN_EPSILON / 2, math.nan):
        with pytest.raises(ValueError, match="epsilon"):
            EpsilonGreedy(epsilon=epsilon)
    with pytest.raises(ValueError, match="candidates"):
        EpsilonGreedy().propensity("x", top="a", candidates=["a", "b"])

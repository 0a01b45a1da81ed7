"""Off-policy estimates against a synthetic log whose truth is known, and Pareto marking."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator

import pytest

from learners.combiner import ENGAGEMENT_ONLY, Weights, combine, rank
from learners.errors import MissingObjectiveError
from learners.offpolicy import Estimate, LoggedQuery, evaluate, pareto_front, sweep

N_LOGGED = 20_000
IDS = ("a", "b", "c")
QUALITY_ONLY = Weights(alpha=1.0, beta=0.0, version=1)
BALANCED = Weights(alpha=1.0, beta=1.0, version=2)


@dataclasses.dataclass(frozen=True)
class _World:
    """Per query: each candidate's true click probability and true quality."""

    clicks: list[tuple[float, ...]]
    qualities: list[tuple[float, ...]]

    def truth(self, weights: Weights) -> tuple[float, float]:
        """Mean click probability and mean quality of the ads ``weights`` would show."""
        ctr = quality = 0.0
        for c, q in zip(self.clicks, self.qualities, strict=True):
            top = rank(IDS, combine({"engagement": c, "quality": q}, weights))[0]
            ctr += c[top]
            quality += q[top]
        return ctr / len(self.clicks), quality / len(self.clicks)


def _uniform_log(seed: int) -> tuple[_World, list[LoggedQuery]]:
    """Uniform-random logging over 3 candidates, the models' scores equal to the truth.

    Click probabilities and qualities are anti-correlated, so the objectives conflict. Half of
    the shown ads are rated (at random), each rating an unbiased noisy reading of the quality.
    """
    rng = random.Random(seed)
    world = _World([], [])
    logged = []
    for i in range(N_LOGGED):
        clicks = tuple(rng.uniform(0.01, 0.3) for _ in IDS)
        qualities = tuple(min(1.0, max(0.0, 1.0 - 2.5 * c + rng.gauss(0, 0.15))) for c in clicks)
        world.clicks.append(clicks)
        world.qualities.append(qualities)
        shown = rng.randrange(len(IDS))
        rating = None
        if rng.random() < 0.5:
            q = qualities[shown]
            spread = min(0.1, q, 1.0 - q)  # symmetric noise that stays in [0, 1]: mean q
            rating = rng.uniform(q - spread, q + spread)
        logged.append(
            LoggedQuery(
                event_id=f"e{i}",
                ad_ids=IDS,
                scores={"engagement": clicks, "quality": qualities},
                shown=IDS[shown],
                propensity=1 / len(IDS),
                clicked=rng.random() < clicks[shown],
                quality=rating,
            )
        )
    return world, logged


@pytest.fixture(scope="module")
def uniform_log() -> tuple[_World, list[LoggedQuery]]:
    return _uniform_log(seed=17)


@pytest.mark.parametrize("weights", [ENGAGEMENT_ONLY, QUALITY_ONLY, BALANCED])
def test_ips_recovers_the_true_ctr_and_quality(
    uniform_log: tuple[_World, list[LoggedQuery]], weights: Weights
) -> None:
    world, logged = uniform_log
    true_ctr, true_quality = world.truth(weights)
    estimate = evaluate(logged, weights)
    assert estimate.n == N_LOGGED and estimate.weights == weights
    assert estimate.matches == pytest.approx(N_LOGGED / 3, rel=0.05)
    assert estimate.rated_matches == pytest.approx(N_LOGGED / 6, rel=0.07)
    assert 0.0 < estimate.ctr_se < 0.01
    assert abs(estimate.ctr - true_ctr) < 3 * estimate.ctr_se
    assert estimate.quality == pytest.approx(true_quality, abs=0.01)


def test_sweep_trades_ctr_for_quality_and_marks_the_front(
    uniform_log: tuple[_World, list[LoggedQuery]],
) -> None:
    _, logged = uniform_log
    grid = [ENGAGEMENT_ONLY, BALANCED, QUALITY_ONLY]
    estimates = sweep(iter(logged), grid)  # a one-shot iterator is read once
    assert [e.weights for e in estimates] == grid
    assert estimates == [evaluate(logged, w) for w in grid]
    ctrs = [e.ctr for e in estimates]
    qualities = [e.quality for e in estimates]
    assert ctrs == sorted(ctrs, reverse=True)
    assert qualities == sorted(qualities)
    assert ctrs[0] - ctrs[2] > 5 * (estimates[0].ctr_se + estimates[2].ctr_se)
    assert pareto_front(estimates) == [True, True, True]


def test_on_policy_log_gives_the_empirical_rates() -> None:
    """Logged by the evaluated policy itself, deterministically: IPS is the plain mean."""
    rng = random.Random(5)
    logged = []
    for i in range(500):
        engagement = [rng.random() for _ in IDS]
        top = IDS[rank(IDS, engagement)[0]]
        rating = rng.random() if i % 3 else None
        clicked = rng.random() < 0.2
        logged.append(
            LoggedQuery(f"e{i}", IDS, {"engagement": engagement}, top, 1.0, clicked, rating)
        )
    estimate = evaluate(logged, ENGAGEMENT_ONLY)
    rated = [q.quality for q in logged if q.quality is not None]
    assert estimate.matches == 500 and estimate.rated_matches == len(rated)
    assert estimate.ctr == pytest.approx(sum(q.clicked for q in logged) / 500)
    assert estimate.quality == pytest.approx(sum(rated) / len(rated))
    clicks = [float(q.clicked) for q in logged]
    mean = sum(clicks) / 500
    sd = math.sqrt(sum((c - mean) ** 2 for c in clicks) / 499)
    assert estimate.ctr_se == pytest.approx(sd / math.sqrt(500))


def test_hand_computed_estimate() -> None:
    logged = [
        # engagement-only shows "b": matches, clicked, rated 0.4, propensity 0.25 -> term 4
        LoggedQuery("e1", ("a", "b"), {"engagement": [0.1, 0.3]}, "b", 0.25, True, 0.4),
        # shows "a": matches, not clicked, rated 1.0, propensity 0.5 -> term 0
        LoggedQuery("e2", ("a", "b"), {"engagement": [0.3, 0.1]}, "a", 0.5, False, 1.0),
        # shows "a", logged "b": no match -> term 0, rating ignored
        LoggedQuery("e3", ("a", "b"), {"engagement": [0.3, 0.1]}, "b", 0.5, True, 0.0),
        # a tie keeps the input order: shows "a", matches, clicked, unrated -> term 1 / 0.8
        LoggedQuery("e4", ("a", "b"), {"engagement": [0.2, 0.2]}, "a", 0.8, True, None),
    ]
    estimate = evaluate(logged, ENGAGEMENT_ONLY)
    terms = [4.0, 0.0, 0.0, 1.25]
    mean = sum(terms) / 4
    se = math.sqrt(sum((t - mean) ** 2 for t in terms) / 3 / 4)
    assert estimate == Estimate(
        weights=ENGAGEMENT_ONLY,
        n=4,
        matches=3,
        ctr=pytest.approx(mean),  # type: ignore[arg-type]
        ctr_se=pytest.approx(se),  # type: ignore[arg-type]
        quality=pytest.approx((0.4 / 0.25 + 1.0 / 0.5) / (1 / 0.25 + 1 / 0.5)),  # type: ignore[arg-type]
        rated_matches=2,
    )


def test_empty_log_and_no_rated_match_give_nan() -> None:
    empty = evaluate([], ENGAGEMENT_ONLY)
    assert (empty.n, empty.matches, empty.rated_matches) == (0, 0, 0)
    assert math.isnan(empty.ctr) and math.isnan(empty.ctr_se) and math.isnan(empty.quality)
    one = evaluate(
        [LoggedQuery("e", ("a",), {"engagement": [0.5]}, "a", 1.0, True)], ENGAGEMENT_ONLY
    )
    assert one.ctr == 1.0 and math.isnan(one.ctr_se) and math.isnan(one.quality)
    assert sweep([], []) == []


def test_missing_objective_is_reported() -> None:
    logged = [LoggedQuery("e", ("a", "b"), {"engagement": [0.5, 0.1]}, "a", 0.5, True)]
    with pytest.raises(MissingObjectiveError, match="'quality'"):
        evaluate(logged, BALANCED)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"ad_ids": ("a", "a")}, "unique"),
        ({"shown": "z"}, "not a candidate"),
        ({"scores": {"engagement": [0.1]}}, "scores 1 candidates, not 2"),
        ({"propensity": 0.0}, "propensity"),
        ({"propensity": 1.5}, "propensity"),
        ({"propensity": math.nan}, "propensity"),
        ({"quality": 1.5}, "quality must be in"),
        ({"quality": math.nan}, "quality must be in"),
    ],
)
def test_logged_query_is_validated(changes: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {
        "event_id": "e1",
        "ad_ids": ("a", "b"),
        "scores": {"engagement": [0.1, 0.2]},
        "shown": "a",
        "propensity": 0.5,
        "clicked": True,
        "quality": 0.5,
    }
    with pytest.raises(ValueError, match=match):
        LoggedQuery(**{**fields, **changes})  # type: ignore[arg-type]


def test_logged_query_is_frozen_slotted_and_keeps_ids_as_a_tuple() -> None:
    query = LoggedQuery("e1", ["a", "b"], {"engagement": [0.1, 0.2]}, "b", 0.5, False)  # type: ignore[arg-type]
    assert query.ad_ids == ("a", "b") and query.quality is None
    assert not hasattr(query, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.shown = "a"  # type: ignore[misc]


def _point(ctr: float, quality: float) -> Estimate:
    return Estimate(
        ENGAGEMENT_ONLY, n=10, matches=5, ctr=ctr, ctr_se=0.01, quality=quality, rated_matches=3
    )


def _points(pairs: list[tuple[float, float]]) -> Iterator[Estimate]:
    return (_point(c, q) for c, q in pairs)


@pytest.mark.parametrize(
    ("pairs", "front"),
    [
        ([], []),
        ([(0.1, 0.5)], [True]),
        # a chain of trade-offs: all optimal
        ([(0.10, 0.5), (0.08, 0.7), (0.05, 0.9)], [True, True, True]),
        # strictly worse on both; equal CTR and lower quality; equal quality and lower CTR
        ([(0.10, 0.7), (0.05, 0.5), (0.10, 0.6), (0.09, 0.7)], [True, False, False, False]),
        # duplicates do not dominate each other
        ([(0.10, 0.5), (0.10, 0.5), (0.02, 0.4)], [True, True, False]),
        # NaN is never on the front and dominates nothing
        ([(math.nan, 0.9), (0.1, math.nan), (0.05, 0.5)], [False, False, True]),
    ],
)
def test_pareto_front(pairs: list[tuple[float, float]], front: list[bool]) -> None:
    assert pareto_front(list(_points(pairs))) == front

"""Combiner weights validation, combination and stable ranking."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learners.combiner import ENGAGEMENT_ONLY, Weights, combine, rank
from learners.errors import AdstreamError, InvalidWeightsError, MissingObjectiveError


@pytest.mark.parametrize(
    ("alpha", "beta", "version", "match"),
    [
        (math.nan, 1.0, 1, "alpha must be finite"),
        (1.0, math.inf, 1, "beta must be finite"),
        (-0.5, 1.0, 1, "alpha must be finite and >= 0"),
        (0.0, 0.0, 1, "both 0"),
        (True, 1.0, 1, "alpha must be a real number"),
        (1.0, "1", 1, "beta must be a real number"),
        (1.0, 1.0, -1, "version"),
        (1.0, 1.0, 1.0, "version"),
    ],
)
def test_invalid_weights_are_rejected(
    alpha: object, beta: object, version: object, match: str
) -> None:
    with pytest.raises(InvalidWeightsError, match=match) as info:
        Weights(alpha=alpha, beta=beta, version=version)  # type: ignore[arg-type]
    assert isinstance(info.value, AdstreamError) and isinstance(info.value, ValueError)
    assert info.value.retriable is False


def test_weights_are_frozen_and_slotted() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ENGAGEMENT_ONLY.beta = 2.0  # type: ignore[misc]
    assert not hasattr(ENGAGEMENT_ONLY, "__dict__")
    assert Weights(alpha=0.0, beta=1.0, version=0) == ENGAGEMENT_ONLY


def test_combine_is_the_weighted_sum() -> None:
    scores = {"quality": [1.0, 0.0, 0.5], "engagement": [0.1, 0.2, 0.3], "other": [9.0]}
    assert combine(scores, Weights(alpha=2.0, beta=10.0, version=1)) == pytest.approx(
        [3.0, 2.0, 4.0]
    )


def test_missing_objective_with_zero_weight_is_ignored() -> None:
    assert combine({"engagement": [0.3, 0.1]}, ENGAGEMENT_ONLY) == [0.3, 0.1]
    assert combine({"quality": [0.3], "engagement": [math.nan]}, Weights(1.0, 0.0, 1)) == [0.3]


def test_missing_objective_with_positive_weight_raises() -> None:
    with pytest.raises(MissingObjectiveError, match="'quality'") as info:
        combine({"engagement": [0.3]}, Weights(alpha=0.5, beta=1.0, version=1))
    assert info.value.objective == "quality" and isinstance(info.value, ValueError)


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="candidates"):
        combine({"quality": [1.0, 2.0], "engagement": [1.0]}, Weights(1.0, 1.0, 1))
    with pytest.raises(ValueError, match="2 ad ids but 1"):
        rank(["a", "b"], [1.0])


def test_empty_candidate_list() -> None:
    assert combine({"engagement": []}, ENGAGEMENT_ONLY) == []
    assert rank([], []) == []


# Subnormal scores are excluded: beta * 5e-324 underflows to 0 and ties what was ordered.
_scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)
_weight = st.floats(min_value=0.0, max_value=1e3, allow_nan=False)


@st.composite
def _candidates(draw: st.DrawFn) -> tuple[list[str], list[float], list[float]]:
    n = draw(st.integers(0, 30))
    ids = [f"ad{i}" for i in range(n)]
    # Few distinct values, so ties are common.
    values = st.sampled_from([0.0, 0.25, 0.5, 1.0]) | _scores
    quality = draw(st.lists(values, min_size=n, max_size=n))
    engagement = draw(st.lists(values, min_size=n, max_size=n))
    return ids, quality, engagement


@given(_candidates(), _weight, _weight)
def test_rank_is_a_permutation_in_descending_order(
    candidates: tuple[list[str], list[float], list[float]], alpha: float, beta: float
) -> None:
    ids, quality, engagement = candidates
    if alpha == beta == 0:
        beta = 1.0
    combined = combine({"quality": quality, "engagement": engagement}, Weights(alpha, beta, 1))
    order = rank(ids, combined)
    assert sorted(order) == list(range(len(ids)))
    for a, b in itertools.pairwise(order):
        assert combined[a] > combined[b] or (combined[a] == combined[b] and a < b)


@given(_candidates(), st.floats(min_value=1e-3, max_value=1e3))
def test_beta_only_ranking_orders_by_engagement(
    candidates: tuple[list[str], list[float], list[float]], beta: float
) -> None:
    ids, quality, engagement = candidates
    combined = combine({"quality": quality, "engagement": engagement}, Weights(0.0, beta, 1))
    assert rank(ids, combined) == sorted(range(len(ids)), key=lambda i: -engagement[i])


def test_nan_scores_rank_last_and_ties_keep_input_order() -> None:
    assert rank(list("abcde"), [1.0, math.nan, 2.0, 1.0, math.nan]) == [2, 0, 3, 1, 4]

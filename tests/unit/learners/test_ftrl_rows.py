"""Scoring many rows at once (``predict_proba_rows``) gives River's ``predict_proba_one``
probabilities to 1e-9, while the model learns, after pickling, with L1, recalibrated."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Iterator

import pytest

from learners import candidate_features, query_context
from learners.downsampled import NegativeDownsampled
from learners.ftrl import DENSE_FILL, MAX_COPY_KEYS, FTRLLogisticRegression
from learners.sparse import SparseRows, predict_proba_rows
from producers.world import World
from streams.models.registry import CLICK_PARAMS

N_BITS = 18
TOLERANCE = 1e-9


def _clicks(n: int, seed: int) -> Iterator[tuple[dict[int, float], bool]]:
    """The serving features of every candidate of the world's queries, clicks drawn from its
    hidden click model: the hashed rows the click model really scores."""
    world, rng = World(seed=seed), random.Random(seed)
    produced = 0
    while produced < n:
        query, truth = world.next_query(1_750_000_000_000 + produced)
        context = query_context(query, N_BITS)
        for ad in query["candidates"]:
            clicked = rng.random() < world.click_probability(truth, world.ad(ad["ad_id"]), 0)
            yield candidate_features(context, ad), clicked
            produced += 1


def _largest_gap(model, xs: list[dict[int, float]]) -> float:
    rows = model.predict_proba_rows(SparseRows.from_dicts(xs)).tolist()
    return max(abs(p - model.predict_proba_one(x)[True]) for p, x in zip(rows, xs, strict=True))


@pytest.mark.parametrize("params", [CLICK_PARAMS, {"alpha": 0.5, "l1": 0.5, "l2": 0.0}])
def test_rows_score_as_predict_proba_one_all_along_a_seeded_stream(params) -> None:
    model = FTRLLogisticRegression(**params)
    stream = list(_clicks(6_000, seed=3))
    gaps = []
    for start in range(0, len(stream), 500):
        chunk = stream[start : start + 500]
        gaps.append(_largest_gap(model, [x for x, _ in chunk]))  # the dense copy refreshed
        for x, y in chunk:
            model.learn_one(x, y)
    assert max(gaps) <= TOLERANCE
    assert len(model.weights) > 1_000, "a model that learned something"
    probabilities = predict_proba_rows(model, SparseRows.from_dicts([x for x, _ in stream]))
    assert probabilities.std() > 0.01, "scores that differ between rows"


def test_a_pickled_model_scores_rows_as_the_original() -> None:
    model = FTRLLogisticRegression(**CLICK_PARAMS)
    stream = list(_clicks(3_000, seed=4))
    for x, y in stream[:2_000]:
        model.learn_one(x, y)
    xs = [x for x, _ in stream[2_000:]]
    model.predict_proba_rows(SparseRows.from_dicts(xs))  # builds the dense copy ...
    copy = pickle.loads(pickle.dumps(model))  # ... which is not pickled, but rebuilt
    assert "_copy" not in model.__getstate__()
    assert copy.predict_proba_rows(SparseRows.from_dicts(xs)).tolist() == pytest.approx(
        model.predict_proba_rows(SparseRows.from_dicts(xs)).tolist(), abs=TOLERANCE
    )
    assert _largest_gap(copy, xs) <= TOLERANCE


def test_rows_with_keys_beyond_the_dense_copy_grow_it() -> None:
    model = FTRLLogisticRegression()
    model.learn_one({5: 1.0, 3_000: 1.0}, True)
    assert _largest_gap(model, [{5: 1.0}]) <= TOLERANCE  # a copy of 6 weights
    assert _largest_gap(model, [{5: 1.0, 3_000: 1.0}, {9_999: 2.5}]) <= TOLERANCE


def test_down_sampled_rows_are_recalibrated_as_one_by_one() -> None:
    model = NegativeDownsampled(FTRLLogisticRegression(**CLICK_PARAMS), rate=0.05)
    stream = list(_clicks(3_000, seed=5))
    for x, y in stream[:2_000]:
        if y or random.Random(hash(tuple(x))).random() < 0.05:
            model.learn_one(x, y)
    assert _largest_gap(model, [x for x, _ in stream[2_000:]]) <= TOLERANCE


def test_a_non_finite_row_raises_as_predict_proba_one_does() -> None:
    model = FTRLLogisticRegression()
    model.learn_one({1: 1.0}, True)
    rows = SparseRows.from_dicts([{1: 1.0}, {1: math.inf}])
    with pytest.raises(ValueError, match=r"non-finite values for features \[1\]"):
        model.predict_proba_rows(rows)
    with pytest.raises(ValueError, match=r"non-finite values for features \[1\]"):
        model.predict_proba_one({1: math.inf})


def test_keys_beyond_the_copy_limit_are_scored_one_by_one() -> None:
    model = FTRLLogisticRegression()
    huge = MAX_COPY_KEYS + 5
    model.learn_one({huge: 1.0, 3: 1.0}, True)
    assert _largest_gap(model, [{huge: 1.0}, {3: 1.0, huge: 1.0}]) <= TOLERANCE
    assert model._copy is None, "no copy of a key space of 2**22 and more"


def test_a_model_with_few_keys_keeps_them_sorted_and_a_full_one_dense() -> None:
    """Memory: a dense copy only once the model's keys fill 1/DENSE_FILL of the key space."""
    stream = list(_clicks(6_000, seed=6))
    xs = [x for x, _ in stream[-300:]]
    model = FTRLLogisticRegression(**CLICK_PARAMS)
    for x, y in stream[:20]:
        model.learn_one(x, y)
    assert _largest_gap(model, xs) <= TOLERANCE
    assert model._copy.dense is None, "a few hundred keys: sorted"
    for start in range(20, len(stream), 1_000):  # new keys: the sorted copy is rebuilt ...
        for x, y in stream[start : start + 1_000]:
            model.learn_one(x, y)
        assert _largest_gap(model, xs) <= TOLERANCE
    assert len(model.weights) * DENSE_FILL >= 1 << N_BITS
    assert model._copy.dense is not None, "... and dense once the keys fill enough of it"


def test_an_empty_row_scores_as_an_empty_dict() -> None:
    """A candidate with none of a feature set's attributes (and no bias) is an empty row: it
    scores as ``predict_proba_one({})``, wherever it sits in the batch."""
    model = FTRLLogisticRegression(alpha=0.1)
    for i in range(50):
        model.learn_one({1: 1.0, 2: 0.5}, i % 3 == 0)
    rows = SparseRows.from_dicts([{}, {1: 1.0}, {}, {2: 0.5, 1: 1.0}, {}])
    expected = [model.predict_proba_one(x)[True] for x in rows.dicts]
    assert model.predict_proba_rows(rows).tolist() == expected
    assert expected[0] == 0.5 and expected[1] != 0.5

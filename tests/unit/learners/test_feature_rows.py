"""Features.rows of the built-in set: the batched features are candidate() of every
(query, ad), exactly (random feature sets: test_feature_engine)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learners.feature_spec import DEFAULT_FEATURES
from learners.features import Features, candidate_features, query_context
from producers.world import World
from tests.unit.learners.strategies import QUERIES, TEXT, ads

_paths = st.lists(st.sampled_from(["a", "b", "c", ""]) | TEXT, max_size=5).map("/".join)
_ads = ads(st.sampled_from(["a1", "a2"]) | TEXT, _paths)  # repeats, within and across queries


def _built_in(n_bits: int, **options: int) -> Features:
    return Features(dataclasses.replace(DEFAULT_FEATURES, n_bits=n_bits), **options)


def _expected(contexts: list, candidates: list[list[dict]]) -> list[dict[int, float]]:
    return [
        candidate_features(c, ad) for c, ads in zip(contexts, candidates, strict=True) for ad in ads
    ]


@settings(max_examples=300)
@given(
    batch=st.lists(st.tuples(QUERIES, st.none() | _paths, st.lists(_ads, max_size=5)), max_size=6),
    n_bits=st.integers(1, 32),
)
def test_rows_equal_candidate_features_of_every_pair(batch: list, n_bits: int) -> None:
    builder = _built_in(n_bits, max_ads=8, min_batch=0)  # the table also starts over
    for _ in range(2):  # the second time from the table
        contexts = [query_context(q, n_bits, category=c) for q, c, _ in batch]
        candidates = [ads for _, _, ads in batch]
        rows = builder.rows(contexts, candidates)
        assert rows.dicts == _expected(contexts, candidates)
        assert len(rows) == sum(map(len, candidates))


def test_rows_of_a_seeded_stream_equal_candidate_features() -> None:
    world, builder = World(seed=3), _built_in(18, min_batch=0)
    drawn = [world.next_query(1_700_000_000_000 + i) for i in range(300)]
    for start in range(0, len(drawn), 37):  # batches of every shape, ads seen and new
        part = drawn[start : start + 37]
        contexts = [
            query_context(query, 18, category=truth.leaf if i % 3 else None)
            for i, (query, truth) in enumerate(part)
        ]
        candidates = [query["candidates"] for query, _ in part]
        rows = builder.rows(contexts, candidates)
        assert rows.dicts == _expected(contexts, candidates)
        assert (rows.values == 1.0).all()


def test_a_small_batch_gets_the_same_rows_one_dict_at_a_time() -> None:
    query, _ = World(seed=4).next_query(1_700_000_000_000)
    contexts, candidates = [query_context(query, 18, category="a/b")], [query["candidates"]]
    small, batched = _built_in(18), _built_in(18, min_batch=0)
    assert small.rows(contexts, candidates).dicts == batched.rows(contexts, candidates).dicts


def test_a_context_of_another_feature_space_is_refused() -> None:
    with pytest.raises(ValueError, match="n_bits=18"):
        _built_in(18).rows([query_context({"query": "x"}, 20)], [[]])

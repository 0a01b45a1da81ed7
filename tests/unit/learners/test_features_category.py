"""Category features: query-text input of the category model, query x ad category match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learners.features import (
    N_BITS_DEFAULT,
    candidate_features,
    feature_tokens,
    features_for,
    query_context,
    query_text_features,
    query_text_tokens,
    stable_hash,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

QUERY = {
    "event_id": "e1",
    "query": "Red running SHOES, red running",
    "context": {"device": "mobile", "hour": 9, "segment": "new"},
    "candidates": [],
}


def _ad(category: str) -> dict[str, str]:
    return {"ad_id": "a1", "advertiser_id": "acme", "category": category}


def test_query_text_tokens_are_bias_distinct_words_and_distinct_bigrams() -> None:
    assert query_text_tokens(QUERY) == (
        "bias",
        "q=red",
        "q=running",
        "q=shoes",
        "q2=red running",
        "q2=running shoes",
        "q2=shoes red",
    )
    assert query_text_tokens({"query": ""}) == ("bias",)
    assert query_text_tokens({"query": "tv"}) == ("bias", "q=tv")


@pytest.mark.parametrize("n_bits", [4, 18, 32])
def test_query_text_features_hash_the_tokens(n_bits: int) -> None:
    x = query_text_features(QUERY, n_bits)
    assert x == {stable_hash(t, n_bits): 1.0 for t in query_text_tokens(QUERY)}
    assert all(0 <= i < 2**n_bits for i in x)


def test_query_text_features_are_identical_in_processes_with_other_hash_seeds() -> None:
    script = (
        "import json; from learners.features import query_text_features; "
        f"print(json.dumps(sorted(query_text_features({QUERY!r}))))"
    )
    expected = sorted(query_text_features(QUERY, N_BITS_DEFAULT))
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == expected


@pytest.mark.parametrize(
    ("predicted", "ad_category", "match"),
    [
        ("sports/shoes/running", "sports/shoes/running", 3),
        ("sports/shoes/running", "sports/shoes", 2),
        ("sports/shoes", "sports/shoes/running", 2),
        ("sports/shoes/running", "sports/bags", 1),
        ("sports/shoes/running", "electronics/phones", 0),
        ("a/b/c/d", "a/b/c/d", 3),  # capped: 3 means 3 or more
        ("", "sports", 0),
        ("sports//shoes/", "sports/shoes", 2),  # empty segments are ignored, as for ads
    ],
)
def test_catmatch_counts_shared_leading_levels(
    predicted: str, ad_category: str, match: int
) -> None:
    ad = _ad(ad_category)
    top = f"cat={ad_category.split('/')[0]}"
    tokens = feature_tokens(QUERY, ad, category=predicted)
    assert tokens[:-2] == feature_tokens(QUERY, ad)
    assert tokens[-2:] == [f"catmatch={match}", f"catmatch={match}^{top}"]
    assert features_for(QUERY, ad, category=predicted) == {stable_hash(t): 1.0 for t in tokens}


def test_without_category_nothing_changes() -> None:
    ad = _ad("sports/shoes")
    assert feature_tokens(QUERY, ad, None) == feature_tokens(QUERY, ad)
    assert not any(t.startswith("catmatch") for t in feature_tokens(QUERY, ad))
    assert query_context(QUERY, 20).category is None
    assert candidate_features(query_context(QUERY, 20, None), ad) == features_for(QUERY, ad, 20)


def test_query_context_shares_the_category_across_candidates() -> None:
    ctx = query_context(QUERY, 20, category="sports/shoes")
    assert ctx.category == ("sports", "shoes")
    for category in ("sports/shoes/trail", "sports", "home"):
        ad = _ad(category)
        assert candidate_features(ctx, ad) == features_for(QUERY, ad, 20, category="sports/shoes")


_text = st.text(st.characters(codec="utf-8"), max_size=12)
_path = st.lists(st.sampled_from(["a", "b", "c", "", "é"]), max_size=5).map("/".join)
_queries = st.fixed_dictionaries(
    {"query": st.lists(_text, max_size=4).map(" ".join)},
    optional={
        "context": st.fixed_dictionaries(
            {},
            optional={"device": _text, "segment": _text, "hour": st.integers(-2, 26)},
        )
    },
)
_ads = st.fixed_dictionaries({"ad_id": _text, "advertiser_id": _text, "category": _path})


@given(query=_queries, ad=_ads, n_bits=st.integers(1, 32), category=st.none() | _path)
def test_fast_path_with_category_equals_hashed_reference_tokens(
    query: dict, ad: dict, n_bits: int, category: str | None
) -> None:
    x = features_for(query, ad, n_bits, category=category)
    assert x == {stable_hash(t, n_bits): 1.0 for t in feature_tokens(query, ad, category)}
    assert all(0 <= i < 2**n_bits for i in x)
    if category is None:
        assert x == features_for(query, ad, n_bits)

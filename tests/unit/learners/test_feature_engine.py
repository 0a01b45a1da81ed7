"""Features of any spec: the batch rows, one candidate's dict and the hashed readable tokens
are the same features; the built-in spec gives today's keys; what counts as missing."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learners import DEFAULT_FEATURES, Features, FeatureSpec, features_of, stable_hash
from learners.feature_spec import Attribute, Cross
from producers.world import World
from tests.unit.learners import strategies
from tests.unit.learners.feature_strategies import BATCHES, expected_missing, specs


def _hashed(features: Features, query: dict, ad: dict, category: str | None) -> dict:
    return {
        stable_hash(t, features.spec.n_bits): v for t, v in features.tokens(query, ad, category)
    }


@settings(max_examples=400, deadline=None)
@given(
    spec=specs(),
    batch=BATCHES,
    min_batch=st.sampled_from([0, 1000]),
    max_ads=st.sampled_from([3, 1 << 16]),
)
def test_rows_candidate_and_tokens_are_the_same_features(
    spec: FeatureSpec, batch: list, min_batch: int, max_ads: int
) -> None:
    """For every kind on every source, crosses, category match, missing and typed values,
    colliding keys (``n_bits`` 1 and 3), numpy rows or dicts, ads kept or dropped."""
    features = Features(spec, max_ads=max_ads, min_batch=min_batch)
    for _ in range(2):  # the second time from the kept ads
        contexts = [features.query(q, c) for q, c, _ in batch]
        candidates = [ads for _, _, ads in batch]
        pairs = [
            (q, c, ctx, ad) for (q, c, ads), ctx in zip(batch, contexts, strict=True) for ad in ads
        ]
        expected = [_hashed(features, q, ad, c) for q, c, _, ad in pairs]
        assert [features.candidate(ctx, ad) for _, _, ctx, ad in pairs] == expected
        rows = features.rows(contexts, candidates)  # no bias, no attribute: an empty row
        assert rows.dicts == expected
        for row in rows.dicts:
            assert min_batch or list(row) == sorted(row)  # numpy's rows are sorted
            assert all(0 <= key < 2**spec.n_bits for key in row)
    expected = Counter(expected_missing(spec, batch))
    assert features.missing == expected + expected  # query() per query, rows() per candidate


# --------------------------------------------------------------------------- today's keys


def _today_tokens(query: dict, ad: dict, category: str | None = None) -> list[str]:
    """The built-in tokens as learners/features.py defined them before feature specs (a copy
    of its ``feature_tokens``, for values the contract lets through)."""
    words = list(dict.fromkeys(f"q={w}" for w in re.findall(r"\w+", query["query"].lower())))
    context = query.get("context") or {}
    hour = context.get("hour")
    if hour is not None:
        h = hour - hour % 4 if isinstance(hour, int) and 0 <= hour < 24 else None
        hour = "hour=unk" if h is None else f"hour={h:02d}-{h + 3:02d}"
    device, region, segment = (
        None if context.get(k) is None else f"{k}={context[k]}"
        for k in ("device", "region", "segment")
    )
    parts = [p for p in ad["category"].split("/") if p]
    levels = [f"cat={'/'.join(parts[: i + 1])}" for i in range(len(parts))] or ["cat="]
    present = [t for t in (device, region, hour, segment) if t is not None]
    ad_token = f"ad={ad['ad_id']}"
    tokens = ["bias", *words, *present, ad_token, f"adv={ad['advertiser_id']}", *levels]
    tokens += [f"{w}^{level}" for w in words for level in levels]
    tokens += [f"{t}^{levels[0]}" for t in (device, hour, segment) if t is not None]
    if segment is not None:
        tokens.append(f"{segment}^{ad_token}")
    if category is not None:
        predicted = [p for p in category.split("/") if p]
        m = 0
        for a, b in zip(predicted, parts, strict=False):
            if a != b or m == 3:
                break
            m += 1
        tokens += [f"catmatch={m}", f"catmatch={m}^{levels[0]}"]
    return tokens


_CONTEXTS = st.fixed_dictionaries(
    {},
    optional={
        "device": strategies.TEXT,
        "region": strategies.TEXT | st.integers(0, 3) | st.floats(0, 3, allow_nan=False),
        "segment": strategies.TEXT,
        "hour": st.integers(-2, 26) | st.floats(0, 24, allow_nan=False) | strategies.TEXT,
        "browser": strategies.TEXT,
    },
)


@settings(max_examples=300)
@given(
    query=st.fixed_dictionaries(
        {"query": st.lists(strategies.TEXT, max_size=4).map(" ".join)},
        optional={"context": _CONTEXTS},
    ),
    ads=st.lists(strategies.ads(), min_size=1, max_size=4),
    category=st.none() | strategies.PATHS,
    n_bits=st.sampled_from([8, 18, 20, 32]),
)
def test_the_built_in_spec_gives_todays_tokens_and_keys(
    query: dict, ads: list[dict], category: str | None, n_bits: int
) -> None:
    features = features_of(dataclasses.replace(DEFAULT_FEATURES, n_bits=n_bits))
    ctx = features.query(query, category)
    rows = Features(features.spec, min_batch=0).rows([ctx], [ads])
    for ad, row in zip(ads, rows.dicts, strict=True):
        today = _today_tokens(query, ad, category)
        assert [t for t, _ in features.tokens(query, ad, category)] == today
        assert features.candidate(ctx, ad) == row == {stable_hash(t, n_bits): 1.0 for t in today}


def test_the_built_in_spec_gives_todays_keys_on_a_simulated_stream() -> None:
    world, features = World(seed=5), features_of(DEFAULT_FEATURES)
    for i in range(200):
        query, truth = world.next_query(1_700_000_000_000 + i * 3_600_000)
        category = truth.leaf if i % 2 else None
        ctx = features.query(query, category)
        for ad in query["candidates"]:
            today = {stable_hash(t): 1.0 for t in _today_tokens(query, ad, category)}
            assert features.candidate(ctx, ad) == today


# --------------------------------------------------------------------------- named or not

QUERY = {
    "query": "Red running shoes",
    "context": {"device": "mobile", "hour": 9, "segment": "new", "browser": "firefox"},
}
AD = {
    "ad_id": "a7",
    "advertiser_id": "acme",
    "category": "sports/shoes",
    "bid": 0.4,
    "attributes": {"brand": "zeta", "landing_page_score": 0.82},
}
BARE_QUERY = {**QUERY, "context": {k: v for k, v in QUERY["context"].items() if k != "browser"}}
BARE_AD = {k: v for k, v in AD.items() if k not in ("attributes", "bid")}


def test_attributes_the_spec_does_not_name_change_nothing() -> None:
    features = features_of(DEFAULT_FEATURES)
    x = features.candidate(features.query(QUERY, "sports/shoes"), AD)
    assert x == features.candidate(features.query(BARE_QUERY, "sports/shoes"), BARE_AD)
    batch = Features(DEFAULT_FEATURES, min_batch=0)
    assert batch.rows([batch.query(QUERY, "sports/shoes")], [[AD]]).dicts == [x]


def test_attributes_the_spec_names_change_the_features() -> None:
    spec = dataclasses.replace(
        DEFAULT_FEATURES,
        attributes=(
            *DEFAULT_FEATURES.attributes,
            Attribute("context", "browser", "categorical"),
            Attribute("candidate", "brand", "categorical"),
            Attribute("candidate", "landing_page_score", "numeric", token="lp"),
            Attribute("candidate", "bid", "numeric"),
        ),
        crosses=(*DEFAULT_FEATURES.crosses, Cross("browser", "brand")),
    )
    features, default = features_of(spec), features_of(DEFAULT_FEATURES)
    x = features.candidate(features.query(QUERY), AD)
    before = default.candidate(default.query(QUERY), AD)
    added = {
        stable_hash(t): v
        for t, v in [
            ("browser=firefox", 1.0),
            ("brand=zeta", 1.0),
            ("browser=firefox^brand=zeta", 1.0),
            ("lp", 0.82),
            ("bid", 0.4),
        ]
    }
    assert x == before | added


def test_numeric_candidate_values_are_read_per_query_not_kept_with_the_ad() -> None:
    spec = FeatureSpec(
        attributes=(
            Attribute("candidate", "ad_id", "categorical", token="ad"),
            Attribute("candidate", "bid", "numeric"),
        ),
        crosses=(),
        category_match=False,
    )
    features = Features(spec, min_batch=0)
    ads = [{"ad_id": "a1", "bid": 0.5}, {"ad_id": "a1", "bid": 2}, {"ad_id": "a1"}]
    ctx = features.query({"query": ""})
    rows = features.rows([ctx, ctx], [ads[:2], ads[1:]])
    bid, ad = stable_hash("bid"), stable_hash("ad=a1")
    assert rows.dicts == [
        {stable_hash("bias"): 1.0, ad: 1.0, bid: 0.5},
        {stable_hash("bias"): 1.0, ad: 1.0, bid: 2.0},
        {stable_hash("bias"): 1.0, ad: 1.0, bid: 2.0},
        {stable_hash("bias"): 1.0, ad: 1.0},  # no bid, no default: no feature
    ]
    assert features.missing == Counter({"candidate.bid": 1})


@pytest.mark.parametrize("min_batch", [0, 1000])
def test_ads_that_differ_in_any_named_attribute_keep_their_own_rows(min_batch: int) -> None:
    spec = FeatureSpec(
        attributes=(
            Attribute("candidate", "ad_id", "categorical", token="ad"),
            Attribute("candidate", "category", "path", token="cat"),
            Attribute("candidate", "brand", "categorical"),
            Attribute("candidate", "title", "text", ngrams=2),
        ),
        crosses=(),
        category_match=True,
    )
    features = Features(spec, min_batch=min_batch)
    ads = [
        {"ad_id": "a1", "category": "a/b"},
        {"ad_id": "a1", "category": "a/c"},
        {"ad_id": "a1", "category": "a/b", "attributes": {"brand": 1}},
        {"ad_id": "a1", "category": "a/b", "attributes": {"brand": 1.0}},
        {"ad_id": "a1", "category": "a/b", "attributes": {"brand": True}},
        {"ad_id": "a1", "category": "a/b", "attributes": {"brand": "1"}},  # as 1: brand=1
        {"ad_id": "a1", "category": "a/b", "attributes": {"title": "red shoes"}},
        {"ad_id": "a1", "category": "a/b", "attributes": {"title": "shoes red"}},
    ]
    for _ in range(2):
        rows = features.rows([features.query({"query": ""}, "a/b")], [ads])
        assert len({tuple(sorted(row.items())) for row in rows.dicts}) == len(ads) - 1
        assert rows.dicts[2] == rows.dicts[5]
        assert rows.dicts == [_hashed(features, {}, ad, "a/b") for ad in ads]


# --------------------------------------------------------------------------- missing


def test_missing_attributes_take_their_default_and_are_counted() -> None:
    spec = FeatureSpec(
        attributes=(
            Attribute("query", "query", "text", token="q"),
            Attribute("context", "device", "categorical", default="unknown"),
            Attribute("context", "score", "numeric", default=0.5),
            Attribute("context", "segment", "categorical"),
            Attribute("candidate", "category", "path", token="cat", default="misc"),
            Attribute("candidate", "bid", "numeric", default=1),
        ),
        crosses=(Cross("segment", "cat"), Cross("device", "cat", "top")),
        category_match=True,
    )
    features = Features(spec, min_batch=0)
    query = {"query": "tv", "context": {"score": "high"}}  # a string is no number: missing
    ctx = features.query(query, "misc")
    assert features.missing == Counter(
        {"context.device": 1, "context.score": 1, "context.segment": 1}
    )
    x = features.candidate(ctx, {"bid": "cheap"})
    assert features.missing["candidate.bid"] == 0  # candidate() counts nothing
    tokens = dict(features.tokens(query, {"bid": "cheap"}, "misc"))
    assert tokens == {
        "bias": 1.0,
        "q=tv": 1.0,
        "device=unknown": 1.0,
        "cat=misc": 1.0,
        "device=unknown^cat=misc": 1.0,  # no segment: no cross from it
        "catmatch=1": 1.0,
        "catmatch=1^cat=misc": 1.0,
        "score": 0.5,
        "bid": 1.0,
    }
    assert x == {stable_hash(t): v for t, v in tokens.items()}
    features.rows([ctx], [[{"bid": "cheap"}, {"bid": 3, "category": "a"}]])
    assert features.missing["candidate.bid"] == 1
    assert features.missing["candidate.category"] == 1


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), "1", None])
def test_a_number_a_numeric_attribute_cannot_use_is_missing(value: object) -> None:
    spec = FeatureSpec(
        attributes=(Attribute("context", "score", "numeric"),), crosses=(), category_match=False
    )
    features = Features(spec)
    ctx = features.query({"context": {"score": value}})
    assert features.candidate(ctx, {}) == {stable_hash("bias"): 1.0}
    assert features.missing == Counter({"context.score": 1})


# --------------------------------------------------------------------------- collisions


def test_a_number_wins_a_collision_with_a_token_valued_one() -> None:
    spec = FeatureSpec(
        n_bits=1,
        attributes=(
            Attribute("context", "device", "categorical"),
            Attribute("candidate", "bid", "numeric"),
            Attribute("candidate", "lp", "numeric"),
        ),
        crosses=(),
        category_match=False,
    )
    features = Features(spec, min_batch=0)
    query, ad = {"context": {"device": "web"}}, {"bid": 2.5, "attributes": {"lp": 0.25}}
    expected = {stable_hash("bias", 1): 1.0, stable_hash("device=web", 1): 1.0}
    expected[stable_hash("bid", 1)] = 2.5
    expected[stable_hash("lp", 1)] = 0.25  # of two numbers, the later in the spec
    ctx = features.query(query)
    assert features.candidate(ctx, ad) == expected
    assert features.rows([ctx], [[ad]]).dicts == [expected]


# --------------------------------------------------------------------------- the engine


def test_features_of_keeps_one_instance_per_distinct_spec() -> None:
    spec = dataclasses.replace(DEFAULT_FEATURES, n_bits=12)
    assert features_of(spec) is features_of(dataclasses.replace(DEFAULT_FEATURES, n_bits=12))
    assert features_of(spec) is not features_of(DEFAULT_FEATURES)
    other = dataclasses.replace(  # as many attributes and crosses: the same hash, not equal
        DEFAULT_FEATURES,
        attributes=(*DEFAULT_FEATURES.attributes[:-1], Attribute("candidate", "category", "path")),
        crosses=tuple(
            dataclasses.replace(c, right="category") if c.right == "cat" else c
            for c in DEFAULT_FEATURES.crosses
        ),
    )
    assert hash(other) == hash(DEFAULT_FEATURES) and other != DEFAULT_FEATURES
    assert features_of(other) is not features_of(DEFAULT_FEATURES)
    assert features_of(other).spec == other


def test_rows_refuse_a_context_of_another_spec() -> None:
    features = features_of(dataclasses.replace(DEFAULT_FEATURES, n_bits=12))
    with pytest.raises(ValueError, match="n_bits=12"):
        features.rows([features_of(DEFAULT_FEATURES).query({"query": "x"})], [[]])


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (FeatureSpec(n_bits=0), "n_bits"),
        (FeatureSpec(crosses=(Cross("q", "device"),)), "right"),
        (FeatureSpec(crosses=(Cross("ad", "cat"),)), "left"),
        (FeatureSpec(crosses=(Cross("q", "nothing"),)), "right"),
        (FeatureSpec(attributes=DEFAULT_FEATURES.attributes[:-1], crosses=()), "category_match"),
        (FeatureSpec(attributes=(*DEFAULT_FEATURES.attributes,) * 2), "twice"),
        (
            FeatureSpec(attributes=(Attribute("candidate", "bid", "numeric", default="x"),)),
            "default",
        ),
    ],
)
def test_a_spec_that_cannot_work_is_refused(spec: FeatureSpec, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Features(spec)

"""Tokens of each attribute kind, what is usable for each, what a missing value takes."""

from __future__ import annotations

import math

import pytest

from learners.feature_spec import Attribute
from learners.tokens import attribute_tokens, catmatch, read, usable, value_of


def _bucket(low: int, high: int, width: int) -> Attribute:
    return Attribute("context", "hour", "bucket", width=width, range=(low, high))


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (0, "hour=00-03"),
        (9, "hour=08-11"),
        (23, "hour=20-23"),
        (24, "hour=unk"),  # out of range
        (-1, "hour=unk"),
        (9.0, "hour=unk"),  # not an int
        ("9", "hour=unk"),
        (True, "hour=unk"),  # a truth value is no hour
    ],
)
def test_a_bucket_is_its_range_cut_in_widths(value: object, token: str) -> None:
    assert attribute_tokens(_bucket(0, 24, 4), value) == (token,)


def test_the_last_bucket_ends_with_the_range_and_a_range_may_start_anywhere() -> None:
    assert attribute_tokens(_bucket(0, 10, 4), 9) == ("hour=08-09",)
    assert attribute_tokens(_bucket(-5, 5, 3), -5) == ("hour=-5--3",)
    assert attribute_tokens(_bucket(-5, 5, 3), 0) == ("hour=-2-00",)


def test_text_is_distinct_words_then_distinct_runs_of_words() -> None:
    title = Attribute("candidate", "title", "text", token="t", ngrams=3)
    assert attribute_tokens(title, "Red shoes, RED shoes") == (
        "t=red",
        "t=shoes",
        "t2=red shoes",
        "t2=shoes red",
        "t3=red shoes red",
        "t3=shoes red shoes",
    )
    assert attribute_tokens(title, "!!") == ()


def test_a_path_is_a_token_per_level_and_never_none() -> None:
    path = Attribute("candidate", "category", "path", token="cat")
    assert attribute_tokens(path, "a//b/") == ("cat=a", "cat=a/b")
    assert attribute_tokens(path, "") == attribute_tokens(path, "/") == ("cat=",)


def test_a_categorical_number_is_its_text_and_its_type_shows() -> None:
    brand = Attribute("candidate", "brand", "categorical")
    tokens = [attribute_tokens(brand, v) for v in (1, 1.0, True, "1")]
    assert tokens == [("brand=1",), ("brand=1.0",), ("brand=True",), ("brand=1",)]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("numeric", 2, True),
        ("numeric", 2.5, True),
        ("numeric", True, False),
        ("numeric", math.nan, False),
        ("numeric", "2", False),
        ("text", "a b", True),
        ("text", 3, False),
        ("path", 3, False),
        ("categorical", 3.5, True),
        ("categorical", ["a"], False),
        ("bucket", "9", True),  # usable: its bucket is unk
    ],
)
def test_usable_values_by_kind(kind: str, value: object, expected: bool) -> None:
    assert usable(kind, value) is expected


def test_a_missing_value_takes_the_default_a_number_as_a_float() -> None:
    score = Attribute("context", "score", "numeric", default=1)
    assert value_of(score, None) == (1.0, True)
    assert value_of(score, "high") == (1.0, True)
    assert value_of(score, 3) == (3.0, False)
    assert value_of(Attribute("context", "device", "categorical"), None) == (None, True)


def test_read_takes_an_ads_own_field_before_its_attributes() -> None:
    ad = {"bid": 0.5, "attributes": {"bid": 9, "brand": "zeta"}}
    query = {"query": "tv", "context": {"device": "web"}}
    assert read(Attribute("candidate", "bid", "numeric"), query, ad) == 0.5
    assert read(Attribute("candidate", "brand", "categorical"), query, ad) == "zeta"
    assert read(Attribute("context", "device", "categorical"), query, ad) == "web"
    assert read(Attribute("query", "query", "text"), query, ad) == "tv"
    assert read(Attribute("context", "region", "categorical"), {}, {}) is None


def test_catmatch_counts_shared_leading_levels_up_to_three() -> None:
    assert catmatch(("a", "b"), ("a", "c")) == 1
    assert catmatch((), ("a",)) == 0
    assert catmatch(("a", "b", "c", "d"), ("a", "b", "c", "d")) == 3

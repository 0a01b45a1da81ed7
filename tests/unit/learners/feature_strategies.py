"""Hypothesis strategies for feature specs and the events they read: every kind on every
source, crosses all/top, category match on and off, values missing, unusable or typed apart
(``1``, ``1.0``, ``True``), and ads repeated within and across queries."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hypothesis import strategies as st

from learners.feature_spec import KINDS, Attribute, Cross, FeatureSpec
from tests.unit.learners.strategies import TEXT

CONTEXT_NAMES = ("c_a", "c_b", "c_c")
#: An ad's own fields, then names in its ``attributes`` map.
AD_NAMES = ("ad_id", "advertiser_id", "category", "bid", "brand", "tier", "lp")
_DEFAULTS = {
    "categorical": st.sampled_from(["other", "1"]),
    "bucket": st.just("x"),
    "text": st.just("Red shoes red"),
    "path": st.sampled_from(["a/b", ""]),
    "numeric": st.sampled_from([0.0, 1.5, -2, 7]),
}
_PATHS = st.lists(st.sampled_from(["a", "b", "c", ""]), max_size=4).map("/".join)
#: Values of every type a context or attributes map may hold, and some it may not.
VALUES = st.one_of(
    st.sampled_from(["a", "b", "a/b", "Red shoes, red", "", "1", "x y z"]),
    TEXT,
    _PATHS,
    st.integers(-3, 30),
    st.sampled_from([1, 1.0, True, False, 0, 0.0]),
    st.floats(-1e3, 1e3, allow_nan=False, width=32),
    st.sampled_from([math.nan, math.inf]),
    st.just(["a list"]),  # no contract lets it through: unusable, never an error
)


@st.composite
def attributes(draw: st.DrawFn, source: str, name: str, kinds: tuple[str, ...]) -> Attribute:
    kind = draw(st.sampled_from(kinds))
    default = draw(st.none() | _DEFAULTS[kind])
    width, bounds, ngrams = 0, (0, 0), 1
    if kind == "bucket":
        low = draw(st.integers(-2, 10))
        width, bounds = draw(st.integers(1, 5)), (low, low + draw(st.integers(1, 20)))
    if kind == "text":
        ngrams = draw(st.integers(1, 3))
    token = draw(st.sampled_from(["", f"t_{name}"]))
    return Attribute(source, name, kind, token, default, width, bounds, ngrams)


@st.composite
def specs(draw: st.DrawFn) -> FeatureSpec:
    """A valid spec over the names above (query text, three context keys, an ad's own fields
    and three of its attributes), with crosses and the category match when possible."""
    found = []
    if draw(st.booleans()):
        found.append(draw(attributes("query", "query", ("text", "categorical", "path"))))
    for name in CONTEXT_NAMES:
        if draw(st.booleans()):
            found.append(draw(attributes("context", name, KINDS)))
    for name in AD_NAMES:
        if draw(st.booleans()):
            kinds = ("path", "path", "categorical", "text") if name == "category" else KINDS
            found.append(draw(attributes("candidate", name, kinds)))
    found = draw(st.permutations(found))
    lefts = [a for a in found if a.query_side and a.kind != "numeric"]
    rights = [a for a in found if not a.query_side and a.kind != "numeric"]
    crosses = []
    if lefts and rights:
        for left, right in draw(
            st.lists(st.tuples(st.sampled_from(lefts), st.sampled_from(rights)), max_size=4)
        ):
            levels = draw(st.sampled_from(["all", "top"])) if right.kind == "path" else "all"
            crosses.append(Cross(left.key, right.key, levels))
    spec = FeatureSpec(
        n_bits=draw(st.sampled_from([1, 3, 8, 20, 32])),  # 1 and 3: keys collide
        bias=draw(st.booleans()),
        attributes=tuple(found),
        crosses=tuple(crosses),
        category_match=False,
    )
    if spec.category_attribute is not None:
        match = draw(st.sampled_from([False, True, "numeric"]))  # "numeric": one number
        spec = dataclasses.replace(spec, category_match=match)
    return spec


def _optional(names: tuple[str, ...], values: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, values))


#: A query: text (sometimes absent or not a string), a context with any of the keys (and one
#: no spec names).
QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "query": st.lists(st.sampled_from(["red", "Shoes", "a", "b"]) | TEXT, max_size=4).map(
            " ".join
        )
        | st.integers(0, 3),
        "context": _optional((*CONTEXT_NAMES, "unnamed"), VALUES),
    },
)

_AD_IDS = st.sampled_from(["a1", "a2", "a3"]) | TEXT
ADS = st.fixed_dictionaries(
    {},
    optional={
        "ad_id": _AD_IDS | st.sampled_from([1, 1.0, True]),
        "advertiser_id": st.sampled_from(["acme", "zeta"]),
        "category": st.sampled_from(["a/b", "a", "b/c/d", "a/b/c/d/e"]) | _PATHS,
        "bid": st.sampled_from([0.5, 1, 2.25]) | VALUES,
        "attributes": _optional(("brand", "tier", "lp", "unnamed"), VALUES),
    },
)

#: A batch: queries, each with a predicted category (or none) and up to five ads.
BATCHES = st.lists(
    st.tuples(QUERIES, st.none() | _PATHS, st.lists(ADS, max_size=5)), min_size=1, max_size=5
)


def expected_missing(spec: FeatureSpec, batch: list[tuple[Any, Any, Any]]) -> dict[str, int]:
    """How many attributes a batch lacks, by the definition: the query side once per query,
    the ad side once per candidate."""
    from learners.tokens import missing_name, read, value_of

    counts: dict[str, int] = {}
    for query, _, ads in batch:
        for a in spec.attributes:
            events = [(query, {})] if a.query_side else [(query, ad) for ad in ads]
            for q, ad in events:
                if value_of(a, read(a, q, ad))[1]:
                    counts[missing_name(a)] = counts.get(missing_name(a), 0) + 1
    return counts

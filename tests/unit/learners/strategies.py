"""Hypothesis strategies: queries and ads as the feature functions take them."""

from __future__ import annotations

from hypothesis import strategies as st

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
PATHS = st.lists(TEXT, max_size=4).map("/".join)

#: A query text of up to four words and any subset of the context keys the features read.
QUERIES = st.fixed_dictionaries(
    {"query": st.lists(TEXT, max_size=4).map(" ".join)},
    optional={
        "context": st.fixed_dictionaries(
            {},
            optional={
                "device": TEXT,
                "region": TEXT,
                "segment": TEXT,
                "hour": st.integers(-2, 26),
            },
        )
    },
)


def ads(ad_ids: st.SearchStrategy = TEXT, paths: st.SearchStrategy = PATHS) -> st.SearchStrategy:
    """Candidate ads with ids from ``ad_ids`` and categories from ``paths``."""
    return st.fixed_dictionaries({"ad_id": ad_ids, "advertiser_id": TEXT, "category": paths})

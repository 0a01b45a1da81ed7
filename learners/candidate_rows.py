"""The built-in features of every candidate of a batch of queries, as serving asked for them
before feature specs: :meth:`learners.features.Features.rows` of the built-in feature set.

>>> from learners.features import candidate_features, query_context
>>> query = {"query": "red shoes", "context": {"device": "mobile", "segment": "new"}}
>>> ads = [
...     {"ad_id": "a1", "advertiser_id": "acme", "category": "sports/shoes"},
...     {"ad_id": "a2", "advertiser_id": "zeta", "category": "electronics"},
... ]
>>> ctx = query_context(query, n_bits=20, category="sports/shoes/running")
>>> rows = CandidateRows(n_bits=20, min_batch=0).rows([ctx], [ads])
>>> len(rows), rows.dicts == [candidate_features(ctx, ad) for ad in ads]
(2, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from learners.features import Features, QueryContext, default_features
from learners.sparse import SparseRows

__all__ = ["CandidateRows"]


class CandidateRows:
    """:meth:`Features.rows <learners.features.Features.rows>` of the built-in feature set
    hashed to ``n_bits`` bits: with the default ``max_ads`` and ``min_batch``, those of
    :func:`~learners.features.features_of` it (its kept ads and its ``missing`` counts), else
    a :class:`~learners.features.Features` of its own."""

    def __init__(self, n_bits: int, max_ads: int = 1 << 16, min_batch: int = 32) -> None:
        self.n_bits = n_bits
        self.min_batch = min_batch
        features = default_features(n_bits)
        if (max_ads, min_batch) != (features.max_ads, features.min_batch):
            features = Features(features.spec, max_ads=max_ads, min_batch=min_batch)
        self.features = features

    def rows(
        self, contexts: Sequence[QueryContext], candidates: Sequence[Sequence[Mapping[str, Any]]]
    ) -> SparseRows:
        """Every candidate's features, query after query: ``candidates[i]`` are the ads of the
        query prepared as ``contexts[i]`` (by `query_context` with this ``n_bits``)."""
        return self.features.rows(contexts, candidates)

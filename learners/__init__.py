"""Pure online learners for adstream: hashed features, FTRL click model, metrics, combiner.

Nothing here does I/O, reads a clock or draws unseeded randomness; see DESIGN.md section 4.
"""

from learners.combiner import ENGAGEMENT_ONLY, Weights, combine, rank
from learners.errors import AdstreamError, InvalidWeightsError, MissingObjectiveError
from learners.features import (
    N_BITS_DEFAULT,
    QueryContext,
    candidate_features,
    feature_tokens,
    features_for,
    query_context,
    query_tokens,
    stable_hash,
)
from learners.ftrl import FTRLLogisticRegression
from learners.progressive import ProgressiveMetrics

__all__ = [
    "ENGAGEMENT_ONLY",
    "N_BITS_DEFAULT",
    "AdstreamError",
    "FTRLLogisticRegression",
    "InvalidWeightsError",
    "MissingObjectiveError",
    "ProgressiveMetrics",
    "QueryContext",
    "Weights",
    "candidate_features",
    "combine",
    "feature_tokens",
    "features_for",
    "query_context",
    "query_tokens",
    "rank",
    "stable_hash",
]

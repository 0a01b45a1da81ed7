"""Pure online learners for adstream: features, FTRL click and quality models, metrics, combiner.

Nothing here does I/O, reads a clock or draws unseeded randomness; see DESIGN.md section 4.
"""

from learners.classification_metrics import ProgressiveClassification
from learners.combiner import ENGAGEMENT_ONLY, Weights, combine, normalize, rank
from learners.errors import AdstreamError, InvalidWeightsError, MissingObjectiveError
from learners.feature_spec import DEFAULT_FEATURES, FeatureSpec
from learners.features import (
    N_BITS_DEFAULT,
    Features,
    QueryContext,
    candidate_features,
    feature_tokens,
    features_for,
    features_of,
    query_context,
    query_text_features,
    query_text_tokens,
    query_tokens,
    stable_hash,
)
from learners.ftrl import FTRLLogisticRegression
from learners.hierarchy import HierarchicalClassifier
from learners.offpolicy import Estimate, LoggedQuery, evaluate, pareto_front, sweep
from learners.ovr import MutableOneVsRest
from learners.progressive import ProgressiveMetrics
from learners.quality_metrics import ProgressiveQuality

__all__ = [
    "DEFAULT_FEATURES",
    "ENGAGEMENT_ONLY",
    "N_BITS_DEFAULT",
    "AdstreamError",
    "Estimate",
    "FTRLLogisticRegression",
    "FeatureSpec",
    "Features",
    "HierarchicalClassifier",
    "InvalidWeightsError",
    "LoggedQuery",
    "MissingObjectiveError",
    "MutableOneVsRest",
    "ProgressiveClassification",
    "ProgressiveMetrics",
    "ProgressiveQuality",
    "QueryContext",
    "Weights",
    "candidate_features",
    "combine",
    "evaluate",
    "feature_tokens",
    "features_for",
    "features_of",
    "normalize",
    "pareto_front",
    "query_context",
    "query_text_features",
    "query_text_tokens",
    "query_tokens",
    "rank",
    "stable_hash",
    "sweep",
]

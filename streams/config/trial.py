"""A configuration's trial run: each model, fresh from its spec, learns one example and scores
it, so a model that cannot take its features fails at start, named by its field, instead of
in a worker later. The example is made by the model's feature set from a sample query that
carries every attribute the set names; the models tried are discarded.

>>> from streams.config.load import load_config
>>> try_config(load_config(None))  # load_config tries every model already
"""

from __future__ import annotations

from typing import Any

from learners import HierarchicalClassifier
from learners.errors import ConfigError
from learners.feature_spec import CANDIDATE_FIELDS, FeatureSpec
from learners.features import Features
from learners.sparse import SparseRows
from streams.config.registry import live_model
from streams.config.schema import Config, ModelConfig
from streams.models.category import CategoryModel
from streams.snapshots import build

__all__ = ["sample_query", "try_config"]

SAMPLE_CATEGORY = "sports/shoes"
#: A value of each attribute kind, for the attributes a sample query is given.
_SAMPLE_VALUES: dict[str, Any] = {
    "categorical": "sample",
    "numeric": 0.5,
    "text": "red running shoes",
    "path": SAMPLE_CATEGORY,
}
#: What a sample example learns, per label: a click, and a rating.
_LABELS = {"click": 1.0, "rating": 0.75}


def try_config(config: Config) -> None:
    """Try every model of ``config`` on one example; raises a
    :class:`~learners.errors.ConfigError` at the model's field with what it raised."""
    for model in config.models.values():
        _try_model(model, config)
    _try_category(config)


def _try_model(model: ModelConfig, config: Config) -> None:
    try:
        x, rows = _example(config.features[model.features])
    except Exception as error:  # a spec its validation let through and features refuse
        raise ConfigError(
            f"features.{model.features}",
            f"cannot make the features of a sample query: {type(error).__name__}: {error}",
        ) from None
    try:
        live = live_model(model, config)
        live.learn(x, _LABELS[model.label])
        live.score(rows)
    except Exception as error:  # any failure of a user's estimator is a bad configuration
        raise ConfigError(
            f"models.{model.name}.model",
            f"failed its trial (one example of feature set {model.features!r}, learned "
            f"then scored): {type(error).__name__}: {error}",
        ) from None


def _try_category(config: Config) -> None:
    try:
        category = CategoryModel(
            estimator=HierarchicalClassifier(build(config.category.base, config.allow))
        )
        x = category.features(sample_query(None))
        category.learn(x, SAMPLE_CATEGORY)
        category.top_paths(x)
        category.top_paths_rows(SparseRows.from_dicts([x]))
    except Exception as error:  # as for a scored model
        raise ConfigError(
            "category.base",
            "failed its trial (one query's category learned, then predicted): "
            f"{type(error).__name__}: {error}",
        ) from None


def sample_query(spec: FeatureSpec | None) -> dict[str, Any]:
    """A query event with one candidate, carrying a value of every attribute ``spec`` names
    (an integer in range for a bucket).

    >>> from learners.feature_spec import DEFAULT_FEATURES
    >>> query = sample_query(DEFAULT_FEATURES)
    >>> query["context"], query["candidates"][0]["category"]
    ({'device': 'sample', 'region': 'sample', 'hour': 0, 'segment': 'sample'}, 'sports/shoes')
    """
    candidate: dict[str, Any] = {
        "ad_id": "ad-1",
        "advertiser_id": "adv-1",
        "category": SAMPLE_CATEGORY,
        "bid": 0.5,
        "attributes": {},
    }
    query: dict[str, Any] = {
        "event_id": "trial",
        "ts": 0,
        "user_id": "u-1",
        "query": _SAMPLE_VALUES["text"],
        "context": {},
        "candidates": [candidate],
    }
    for attribute in spec.attributes if spec is not None else ():
        value = attribute.range[0] if attribute.kind == "bucket" else _SAMPLE_VALUES[attribute.kind]
        if attribute.source == "context":
            query["context"][attribute.name] = value
        elif attribute.source == "candidate" and attribute.name not in CANDIDATE_FIELDS:
            candidate["attributes"][attribute.name] = value
    return query


def _example(spec: FeatureSpec) -> tuple[dict[int, float], SparseRows]:
    """The features of the sample query's candidate as the join makes them (an example's),
    and as serving makes them (a batch of rows)."""
    features = Features(spec)  # a fresh one: the trial counts nothing in the process's
    query = sample_query(spec)
    context = features.query(query, SAMPLE_CATEGORY)
    candidates = query["candidates"]
    return features.candidate(context, candidates[0]), features.rows([context], [candidates])

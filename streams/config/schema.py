"""What a configuration file holds once it is read and checked: the scored models, the
category model's base learner, the named feature sets and the modules specs may name."""

from __future__ import annotations

import dataclasses
from typing import Any

from learners.feature_spec import FeatureSpec

__all__ = [
    "DEFAULT_FEATURES_NAME",
    "LABELS",
    "RANKED_OBJECTIVES",
    "CategoryConfig",
    "Config",
    "ModelConfig",
]

#: What a scored model learns: ``click``, clicked / not clicked (a classifier); ``rating``, a
#: rating in [0, 1] (a regressor, or a classifier learning soft labels).
LABELS = {
    "click": "clicked / not clicked: needs a classifier",
    "rating": "a rating in [0, 1]: a River regressor or a classifier",
}
#: The objectives rank combines (``learners.combine``): each needs exactly one model.
RANKED_OBJECTIVES = ("engagement", "quality")
#: The feature set a model uses unless it names one.
DEFAULT_FEATURES_NAME = "default"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """One scored model, ``[models.<name>]``: its score's name in predictions
    (``objective``), what it learns (``label``), its feature set and its estimator spec
    (``{"factory": "module:Class", "params": {...}}``, or a pipeline's ``steps``)."""

    name: str
    objective: str
    label: str
    features: str
    model: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CategoryConfig:
    """The query-category model, ``[category]``: the spec of the binary classifier that each
    node of the hierarchical model clones."""

    base: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A checked configuration file (:func:`streams.config.load_config`)."""

    #: the file read
    path: str
    #: modules beyond ``river`` and ``learners`` that specs may name (``[modules] allow``)
    allow: tuple[str, ...]
    #: named feature sets, ``[features.<name>]``
    features: dict[str, FeatureSpec]
    #: the scored models, ``[models.<name>]``, in file order
    models: dict[str, ModelConfig]
    category: CategoryConfig

"""The live models of one worker process: what serve scores with and learn updates.

In one process, serving reads the very object that learning updates, so a prediction always
uses the newest state. Each model keeps its own progressive metrics: every example is scored
before it is learned. The :class:`ModelRegistry` holds them all: the scored models (one
objective each) and the category model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from river import base

from learners import FTRLLogisticRegression, ProgressiveMetrics, ProgressiveQuality
from learners.downsampled import NegativeDownsampled
from learners.feature_spec import DEFAULT_FEATURES, FeatureSpec
from learners.progressive import predict_then_learn
from learners.sparse import SparseRows, predict_proba_rows
from streams.models.category import CategoryModel

__all__ = [
    "CLICK",
    "CLICK_PARAMS",
    "ENGAGEMENT",
    "QUALITY",
    "QUALITY_PARAMS",
    "LiveModel",
    "ModelRegistry",
    "Promotion",
    "default_models",
]

CLICK = "click"
ENGAGEMENT = "engagement"
#: Hyperparameters of the click model: alpha 0.1 learns rare hashed crosses (query word x ad
#: category) markedly faster than 0.05 on the simulated world, and 0.2 no better.
CLICK_PARAMS = {"alpha": 0.1, "beta": 1.0, "l1": 0.0, "l2": 1.0}
#: The quality model: the same learner on the same features, trained on ratings in [0, 1]
#: (soft labels), separately from the click model, with its own version and metrics.
QUALITY = "quality"
QUALITY_PARAMS = {"alpha": 0.1, "beta": 1.0, "l1": 0.0, "l2": 1.0}


class Metrics(Protocol):
    """Progressive metrics of one model: ``ProgressiveMetrics`` or ``ProgressiveQuality``."""

    def update(self, y_true: Any, p: float, w: float = 1.0) -> None: ...

    def report(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Promotion:
    """A challenger that replaced its champion's estimator: when the champion was at
    ``version``, its estimator became a fresh copy (:meth:`LiveModel.untrained_copy`) trained
    on the champion's learned examples from ``trained_from`` to ``version``, in order, which is
    how ``adstream models rebuild`` replays it. ``examples``, ``logloss`` and
    ``champion_logloss``: the comparison that decided it."""

    version: int
    trained_from: int
    examples: int
    logloss: float
    champion_logloss: float


@dataclasses.dataclass(slots=True)
class LiveModel:
    """A model scoring one objective in [0, 1], with its metrics and a version.

    ``binary`` models learn clicked / not clicked (labels 1.0 / 0.0); the others learn a
    target in [0, 1] (soft labels: the quality model learns ratings). ``features``: the
    feature set its examples and served rows are made of; it travels with the model in its
    snapshots, so a replica serves a snapshot with the features it was learned with.
    """

    name: str
    objective: str
    estimator: base.Estimator
    metrics: Metrics = dataclasses.field(default_factory=ProgressiveMetrics)
    binary: bool = True
    n_learned: int = 0
    #: the challengers that replaced this model's estimator, oldest first (snapshot lineage)
    promotions: list[Promotion] = dataclasses.field(default_factory=list)
    features: FeatureSpec = DEFAULT_FEATURES

    @property
    def label(self) -> str:
        """What it learns: ``click`` (clicked or not) or ``rating`` (a rating in [0, 1])."""
        return "click" if self.binary else "rating"

    @property
    def version(self) -> int:
        """The model after ``version`` examples; reproducible from the examples log."""
        return self.n_learned

    def score(self, rows: SparseRows) -> list[float]:
        """The objective's score of each row (the positive-class probability), in one call
        when the estimator scores rows (the FTRL models do)."""
        return predict_proba_rows(self.estimator, rows).tolist()

    @property
    def negative_rate(self) -> float:
        """The fraction of negatives this model is learned with (1.0: all of them)."""
        estimator = self.estimator
        return estimator.rate if isinstance(estimator, NegativeDownsampled) else 1.0

    def weights(self, label: float, w: float, sampling_rate: float) -> tuple[float, float]:
        """An example's weight in the population (a negative kept at ``sampling_rate`` stands
        for ``1 / sampling_rate`` of them) and the weight the model learns it with (importance
        weighted from the example's sampling rate to the model's)."""
        if not self.binary or label >= 0.5:
            return w, w
        return w / sampling_rate, w * self.negative_rate / sampling_rate

    def learn(
        self, x: Mapping[int, float], label: float, w: float = 1.0, sampling_rate: float = 1.0
    ) -> float:
        """Predict, record the metrics, then learn; returns the prediction made before learning
        (for the population: a down-sampled model's is recalibrated)."""
        y = label >= 0.5 if self.binary else label
        population_w, learn_w = self.weights(label, w, sampling_rate)
        p = predict_then_learn(self.estimator, x, y, learn_w)
        self.metrics.update(y, p, population_w)
        self.n_learned += 1
        return p

    def learn_example(self, example: Mapping[str, Any]) -> float:
        """:meth:`learn` one decoded example of ``examples``."""
        return self.learn(
            example["features"], example["label"], example["weight"], example["sampling_rate"]
        )

    def untrained_copy(self) -> LiveModel:
        """The same model before it learned anything: same estimator and hyperparameters."""
        return dataclasses.replace(
            self,
            estimator=self.estimator.clone(),
            metrics=type(self.metrics)(),
            n_learned=0,
            promotions=[],
        )

    def promote(self, estimator: base.Estimator, promotion: Promotion) -> None:
        """Learn and serve with a challenger's ``estimator`` from now on; the version, the
        metrics and the examples to come go on."""
        self.estimator = estimator
        self.promotions.append(promotion)

    def report(self) -> dict[str, Any]:
        return {"model": self.name, "version": self.version, **self.metrics.report()}

    def definition(self) -> dict[str, Any]:
        """What the model is besides its estimator (whose spec a snapshot holds too): its
        objective, label and feature set, so that a version is rebuilt from its snapshot's
        metadata and the log alone.

        >>> sorted(default_models()["quality"].definition())
        ['features', 'label', 'objective']
        """
        return {
            "objective": self.objective,
            "label": self.label,
            "features": self.features.to_mapping(),
        }

    @classmethod
    def for_label(
        cls,
        name: str,
        objective: str,
        label: str,
        estimator: base.Estimator,
        features: FeatureSpec = DEFAULT_FEATURES,
        *,
        negative_rate: float = 1.0,
    ) -> LiveModel:
        """An unlearned model scoring ``objective``, learning ``label`` (``click`` or
        ``rating``) with ``estimator`` on ``features``, with the metrics its label needs. A
        click model whose negatives the join keeps at ``negative_rate`` below 1 learns them
        so and recalibrates (:class:`learners.downsampled.NegativeDownsampled`)."""
        binary = label == "click"
        if binary and negative_rate < 1.0:
            estimator = NegativeDownsampled(estimator, rate=negative_rate)
        metrics = ProgressiveMetrics() if binary else ProgressiveQuality()
        return cls(name, objective, estimator, metrics, binary=binary, features=features)

    @classmethod
    def from_definition(
        cls, name: str, definition: Mapping[str, Any], estimator: base.Estimator
    ) -> LiveModel:
        """An unlearned model named ``name`` as :meth:`definition` describes it, learning
        with ``estimator`` (a down-sampling wrapper included: the spec holds it)."""
        features = FeatureSpec.from_mapping(
            definition["features"], field="features", n_bits=DEFAULT_FEATURES.n_bits
        )
        return cls.for_label(
            name, definition["objective"], definition["label"], estimator, features
        )


class ModelRegistry(dict[str, LiveModel]):
    """The live models of a worker: the scored ones by name (the mapping; each serves one
    objective) and the ``category`` model. Restoring a snapshot replaces a model inside it
    (:meth:`replace`), so every service holding the registry sees the restored one.

    >>> models = default_models()
    >>> sorted(models), models.category.name, models.names()
    (['click', 'quality'], 'category', ['click', 'quality', 'category'])
    >>> models.model("category") is models.category
    True
    """

    def __init__(
        self,
        scored: Mapping[str, LiveModel] | None = None,
        *,
        category: CategoryModel | None = None,
    ) -> None:
        super().__init__(scored or {})
        self.category = category if category is not None else CategoryModel()

    def names(self) -> list[str]:
        """Every model's name: the scored ones, then the category model's."""
        return [*self, self.category.name]

    def model(self, name: str) -> LiveModel | CategoryModel | None:
        """The model called ``name``, the category model included (``None``: no such model)."""
        return self.category if name == self.category.name else self.get(name)

    def replace(self, name: str, model: object) -> bool:
        """Put ``model`` (restored from a snapshot) in place of ``name``; ``False`` when it is
        not a model of that kind (a scored model for a scored name, the category model for
        the category's)."""
        if name == self.category.name and isinstance(model, CategoryModel):
            self.category = model
        elif name in self and isinstance(model, LiveModel):
            self[name] = model
        else:
            return False
        return True


def default_models(negative_rate: float = 1.0, n_bits: int = 20) -> ModelRegistry:
    """The built-in models (those of the default configuration, ``streams/config/default.toml``):
    click (``engagement``), quality (``quality``) and the query category model, their features
    hashed to ``n_bits``.

    With ``negative_rate`` below 1 the click model learns from examples whose negatives the
    join kept at that rate, and recalibrates (:class:`learners.downsampled.NegativeDownsampled`).
    """
    features = dataclasses.replace(DEFAULT_FEATURES, n_bits=n_bits)
    click = FTRLLogisticRegression(**CLICK_PARAMS)
    quality = FTRLLogisticRegression(**QUALITY_PARAMS)
    return ModelRegistry(
        {
            CLICK: LiveModel.for_label(
                CLICK, ENGAGEMENT, "click", click, features, negative_rate=negative_rate
            ),
            QUALITY: LiveModel.for_label(QUALITY, QUALITY, "rating", quality, features),
        },
        category=CategoryModel(n_bits=n_bits),
    )

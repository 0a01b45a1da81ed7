"""The live models a configuration describes: :func:`build_registry`."""

from __future__ import annotations

from learners import HierarchicalClassifier
from streams import snapshots
from streams.config.schema import Config, ModelConfig
from streams.models.category import CategoryModel
from streams.models.registry import LiveModel, ModelRegistry
from streams.wire.settings import Settings

__all__ = ["build_registry", "live_model"]


def build_registry(config: Config, settings: Settings) -> ModelRegistry:
    """Fresh, unlearned models as ``config`` names them: one :class:`LiveModel` per scored
    model (a click model learns with negatives kept at ``settings.negative_sampling_rate``)
    and the category model, its features hashed to ``settings.n_bits``.

    >>> from streams.config.load import load_config
    >>> models = build_registry(load_config(None), Settings())
    >>> [(m.name, m.objective, m.label) for m in models.values()], models.category.name
    ([('click', 'engagement', 'click'), ('quality', 'quality', 'rating')], 'category')
    """
    base = snapshots.build(config.category.base, config.allow)
    return ModelRegistry(
        {
            name: live_model(model, config, settings.negative_sampling_rate)
            for name, model in config.models.items()
        },
        category=CategoryModel(n_bits=settings.n_bits, estimator=HierarchicalClassifier(base)),
    )


def live_model(model: ModelConfig, config: Config, negative_rate: float = 1.0) -> LiveModel:
    """The unlearned live model of one ``[models.<name>]``: a ``click`` model with
    ``negative_rate`` below 1 learns from down-sampled negatives and recalibrates."""
    return LiveModel.for_label(
        model.name,
        model.objective,
        model.label,
        snapshots.build(model.model, config.allow),
        config.features[model.features],
        negative_rate=negative_rate,
    )

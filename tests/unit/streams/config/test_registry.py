"""The live models a configuration describes: the default file is exactly today's built-in
models, and every example configuration in ``configs/`` loads and builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from river import base

from learners.downsampled import NegativeDownsampled
from streams import snapshots
from streams.config import build_registry, load_config
from streams.models.registry import default_models
from streams.wire.settings import Settings

CONFIGS = sorted((Path(__file__).resolve().parents[4] / "configs").glob("*.toml"))


def described(models) -> dict:
    """What must match: each scored model's spec, objective, label, metrics type and
    features, and the category model's spec and width."""
    return {
        **{
            name: (
                snapshots.spec_of(model.estimator),
                model.objective,
                model.label,
                type(model.metrics),
                model.features,
            )
            for name, model in models.items()
        },
        "category": (snapshots.spec_of(models.category.estimator), models.category.n_bits),
    }


@pytest.mark.parametrize(("rate", "n_bits"), [(1.0, 20), (0.25, 18)])
def test_the_default_file_is_the_built_in_models(rate: float, n_bits: int) -> None:
    settings = Settings(negative_sampling_rate=rate, n_bits=n_bits)
    configured = build_registry(load_config(None, settings_n_bits=n_bits), settings)
    built_in = default_models(rate, n_bits)
    assert list(configured) == list(built_in) == ["click", "quality"]
    assert described(configured) == described(built_in)
    assert type(configured["click"].estimator) is type(built_in["click"].estimator)
    assert configured["click"].negative_rate == rate


def test_only_click_models_learn_from_down_sampled_negatives() -> None:
    models = build_registry(load_config(None), Settings(negative_sampling_rate=0.1))
    assert isinstance(models["click"].estimator, NegativeDownsampled)
    assert models["click"].estimator.rate == 0.1
    assert not isinstance(models["quality"].estimator, NegativeDownsampled)


def test_each_registry_is_fresh() -> None:
    config = load_config(None)
    first, second = build_registry(config, Settings()), build_registry(config, Settings())
    assert first["click"].estimator is not second["click"].estimator
    assert first.category.estimator is not second.category.estimator


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_every_example_configuration_loads_and_builds(path: Path) -> None:
    config = load_config(str(path))
    models = build_registry(config, Settings())
    assert sorted(model.objective for model in models.values()) == ["engagement", "quality"]
    for name, model in models.items():
        assert model.features == config.features[config.models[name].features]
        assert snapshots.spec_of(snapshots.build(config.models[name].model)) == (
            snapshots.spec_of(model.estimator)
        )
    assert isinstance(models.category.estimator.classifier, base.Classifier)


def test_the_example_configurations_cover_the_model_families() -> None:
    factories = {
        path.stem: {
            name: model.model["factory"] for name, model in load_config(str(path)).models.items()
        }
        for path in CONFIGS
    }
    assert factories["river-logistic"]["click"] == "river.linear_model:LogisticRegression"
    assert factories["pipeline-numeric"]["click"] == "river.compose:Pipeline"
    assert factories["hoeffding-tree"]["click"] == "river.tree:HoeffdingAdaptiveTreeClassifier"
    assert factories["arf"]["click"] == "river.forest:ARFClassifier"
    assert factories["regressor-quality"]["quality"] == "river.linear_model:LinearRegression"
    regressor = load_config(str(CONFIGS[[p.stem for p in CONFIGS].index("regressor-quality")]))
    assert regressor.category.base["factory"] == "river.linear_model:LogisticRegression"
    numeric = load_config(str(CONFIGS[[p.stem for p in CONFIGS].index("pipeline-numeric")]))
    kinds = {(a.source, a.name): a.kind for a in numeric.features["numeric"].attributes}
    assert kinds[("candidate", "bid")] == kinds[("candidate", "landing_page_score")] == "numeric"
    assert kinds[("context", "hour")] == "numeric"
    assert numeric.features["numeric"].category_match == "numeric"

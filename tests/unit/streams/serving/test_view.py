"""The serving view, built on a model registry alone: live models until a snapshot is
installed, the category model included, and back to the live one on demand."""

from __future__ import annotations

from streams.models.registry import default_models
from streams.serving.view import Serving


def test_the_view_serves_the_live_models_until_a_snapshot_is_installed() -> None:
    models = default_models()
    view = Serving(models)
    assert view.models == dict(models) and view.category is models.category
    loaded = models.category.__class__(n_bits=20)
    view.install("category", loaded)
    assert view.category is loaded and view.loaded == {"category"}
    assert view.version("category") == 0 and view.serves("category")
    view.serve_live("category")
    assert view.category is models.category and not view.serves("nope")


def test_a_restored_model_replaced_in_the_registry_is_what_the_view_serves() -> None:
    models = default_models()
    view = Serving(models)
    restored = models["click"].untrained_copy()
    restored.n_learned = 42
    assert models.replace("click", restored)
    assert view.models["click"] is restored and view.version("click") == 42
    assert not models.replace("click", models.category), "a category model is not a click model"

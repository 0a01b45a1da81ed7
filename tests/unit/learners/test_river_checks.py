"""River's estimator checks (`river.checks.yield_checks`), run the way River's own test suite
does on every River estimator of the `learners` package that has `_unit_test_params`.

Test ids name the class, the params index and the check, e.g.
``MutableOneVsRest-params0-16-check_pickling``.
A check that does not apply to a learner is skipped by naming it in that learner's
`_unit_test_skips`, with the reason beside it.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from river import base, checks, datasets

import learners
from learners.hierarchy import HierarchicalClassifier


def _estimators() -> list[type[base.Estimator]]:
    """Every River estimator class defined in `learners` that overrides `_unit_test_params`
    (River's default, ``yield {}``, says nothing about how to build the estimator)."""
    found = []
    for info in pkgutil.walk_packages(learners.__path__, f"{learners.__name__}."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if (
                inspect.isclass(cls)
                and cls.__module__ == module.__name__
                and issubclass(cls, base.Estimator)
                and cls._unit_test_params.__func__ is not base.Base._unit_test_params.__func__
            ):
                found.append(cls)
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


# ------------------------------------------------------------------------------------ datasets


def _classifier_datasets(model: Any, scale: int = 1) -> Iterator[Any]:
    """What `river.checks._yield_datasets` yields for a (binary or multiclass) classifier, minus
    its import of scikit-learn (used only for a regression dataset); used where scikit-learn
    is absent."""
    if not isinstance(model, base.Classifier) or isinstance(model, base.MultiLabelClassifier):
        raise NotImplementedError(
            f"no dataset for {type(model).__name__} without scikit-learn: install it, or give "
            "the class its datasets in _DATASETS"
        )
    yield datasets.Phishing().take(200 * scale)
    yield ((x, np.bool_(y)) for x, y in datasets.Phishing().take(200 * scale))
    if model._multiclass and base.tags.POSITIVE_INPUT not in model._tags:
        yield datasets.ImageSegments().take(200 * scale)


_SEGMENT_PATHS = {
    "sky": "outdoor/sky",
    "foliage": "outdoor/plant/foliage",
    "grass": "outdoor/plant/grass",
    "path": "outdoor/path",
    "brickface": "building/brickface",
    "cement": "building/cement",
    "window": "building/window",
}


def _path_datasets(model: Any, scale: int = 1) -> Iterator[Any]:
    """River's multiclass dataset (ImageSegments), its labels mapped to category paths: the
    hierarchical classifier learns paths, not River's boolean or flat labels."""
    yield ((x, _SEGMENT_PATHS[y]) for x, y in datasets.ImageSegments().take(200 * scale))


# Learners whose labels River's datasets do not fit (looked up along the class's MRO).
_DATASETS: dict[type, Callable[..., Iterator[Any]]] = {HierarchicalClassifier: _path_datasets}


def _default_datasets() -> Callable[..., Iterator[Any]]:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return _classifier_datasets
    return checks._yield_datasets


# -------------------------------------------------------------------------------------- checks


def _checks() -> list[Any]:
    default = _default_datasets()
    cases = []
    for cls in _estimators():
        yield_datasets = next((_DATASETS[c] for c in cls.__mro__ if c in _DATASETS), default)
        # Checks that need data come as partials with their (single-use) dataset already bound,
        # so the datasets are chosen while the checks are generated.
        with mock.patch.object(checks, "_yield_datasets", yield_datasets):
            for i, params in enumerate(cls._unit_test_params()):
                model = cls(**params)
                for j, check in enumerate(checks.yield_checks(model)):
                    if check.__name__ not in model._unit_test_skips():
                        name = f"{cls.__name__}-params{i}-{j}-{check.__name__}"
                        cases.append(pytest.param(model, check, id=name))
    return cases


def test_every_learner_with_unit_test_params_is_found() -> None:
    """The discovery above still sees the learners that had River checks before it existed."""
    names = {cls.__name__ for cls in _estimators()}
    assert names >= {
        "FTRLLogisticRegression",
        "HierarchicalClassifier",
        "MutableOneVsRest",
        "NegativeDownsampled",
    }


@pytest.mark.parametrize(("model", "check"), _checks())
def test_river_check(model: Any, check: Callable[..., None]) -> None:
    check(copy.deepcopy(model))

"""River's estimator checks, run on our binary classifiers the way River's test suite does."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from river import checks, datasets

from learners.downsampled import NegativeDownsampled
from learners.ftrl import FTRLLogisticRegression


def _binary_classifier_datasets(model: Any, scale: int = 1) -> Iterator[Any]:
    """What `river.checks._yield_datasets` yields for a binary classifier, minus its import.

    River imports scikit-learn at the top of that function (for a regression dataset only);
    it is used only where scikit-learn is not installed.
    """
    yield datasets.Phishing().take(200 * scale)
    yield ((x, np.bool_(y)) for x, y in datasets.Phishing().take(200 * scale))


def _checks() -> list[Any]:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        patch = mock.patch.object(checks, "_yield_datasets", _binary_classifier_datasets)
    else:
        patch = mock.patch.object(checks, "_yield_datasets", checks._yield_datasets)
    cases = []
    with patch:
        for cls in (FTRLLogisticRegression, NegativeDownsampled):
            for i, params in enumerate(cls._unit_test_params()):
                model = cls(**params)
                for j, check in enumerate(checks.yield_checks(model)):
                    if check.__name__ not in model._unit_test_skips():
                        name = f"{cls.__name__}-params{i}-{j}-{check.__name__}"
                        cases.append(pytest.param(model, check, id=name))
    return cases


@pytest.mark.parametrize(("model", "check"), _checks())
def test_river_check(model: Any, check: Callable[..., None]) -> None:
    # Checks that need data come as partials with their (single-use) dataset already bound.
    check(copy.deepcopy(model))

"""The score in [0, 1] a River estimator gives one row: a classifier's positive-class
probability, or a regressor's prediction clipped to [0, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from river import base

__all__ = ["positive_proba", "score_one"]


def positive_proba(proba: Mapping[Any, float]) -> float:
    """P(True) of a ``predict_proba_one`` answer. A class the model has not seen yet has
    probability 0, the convention River's own metrics read predictions with: a Hoeffding tree
    or a forest that has seen negatives only answers ``{False: 1.0}`` and scores 0; one that
    has seen nothing answers ``{}`` and scores 0 too.

    >>> positive_proba({False: 0.25, True: 0.75}), positive_proba({False: 1.0}), positive_proba({})
    (0.75, 0.0, 0.0)
    """
    return proba.get(True, 0.0)


def score_one(model: Any, x: Mapping[Any, float]) -> float:
    """The score ``model`` gives ``x`` in [0, 1]: a regressor's prediction (a pipeline ending
    in one included) clipped to [0, 1], else the classifier's :func:`positive_proba`.

    >>> from river.linear_model import LinearRegression, LogisticRegression
    >>> score_one(LogisticRegression(), {1: 1.0})
    0.5
    >>> regressor = LinearRegression(intercept_init=1.7)
    >>> regressor.predict_one({1: 1.0}), score_one(regressor, {1: 1.0})
    (1.7, 1.0)
    """
    if isinstance(model, base.Regressor):
        return min(max(float(model.predict_one(x)), 0.0), 1.0)
    return positive_proba(model.predict_proba_one(x))

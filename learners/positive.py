"""The positive-class probability of a binary classifier's ``predict_proba_one`` answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["positive_proba"]


def positive_proba(proba: Mapping[Any, float]) -> float:
    """P(True) of a ``predict_proba_one`` answer. A class the model has not seen yet has
    probability 0, the convention River's own metrics read predictions with: a Hoeffding tree
    or a forest that has seen negatives only answers ``{False: 1.0}`` and scores 0; one that
    has seen nothing answers ``{}`` and scores 0 too.

    >>> positive_proba({False: 0.25, True: 0.75}), positive_proba({False: 1.0}), positive_proba({})
    (0.75, 0.0, 0.0)
    """
    return proba.get(True, 0.0)

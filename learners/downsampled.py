"""A binary classifier learned on a stream whose negatives were down-sampled, recalibrated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from river import base

from learners.progressive import predict_then_learn
from learners.scores import positive_proba
from learners.sparse import SparseRows, predict_proba_rows

__all__ = ["NegativeDownsampled", "recalibrate"]


Probability = TypeVar("Probability", float, np.ndarray)


def recalibrate(p: Probability, rate: float) -> Probability:
    """The population probability ``q = p / (p + (1 - p) / rate)`` of a probability ``p`` (or
    of an array of them) learned with negatives kept at ``rate``.

    >>> round(recalibrate(0.5, 0.02), 4), recalibrate(0.3, 1.0)
    (0.0196, 0.3)
    """
    return p / (p + (1.0 - p) / rate)


class NegativeDownsampled(base.Wrapper, base.Classifier):
    """Learn from examples whose negatives were kept at ``rate``; predict for the population.

    Keeping every positive and a fraction ``rate`` of the negatives (He et al., 2014, "Practical
    lessons from predicting clicks on ads at Facebook") cuts the examples a rare-click model
    learns from by about ``1 / rate`` and raises the share of positives it sees. The inner
    classifier's odds are then ``1 / rate`` times too high; :func:`recalibrate` undoes exactly
    that, so ``predict_proba_one`` gives the probability of a click in the full population.

    The inner model learns every example with its own weight: no importance weights, which at
    ``rate`` 0.02 would make each negative 50 times as heavy and the per-coordinate steps of an
    FTRL model erratic. An example kept at another sampling rate (the rate changed, or the join
    sent every negative) is importance-weighted to this model's rate by
    :meth:`example_weight`.

    Parameters
    ----------
    classifier
        The binary classifier learned on the down-sampled stream.
    rate
        The fraction of negatives kept, in (0, 1].

    Examples
    --------
    A rare event (about 1 % positives), every negative kept with probability 0.1:

    >>> import random
    >>> from learners.downsampled import NegativeDownsampled
    >>> from learners.ftrl import FTRLLogisticRegression
    >>> rng = random.Random(7)
    >>> model = NegativeDownsampled(FTRLLogisticRegression(alpha=0.1), rate=0.1)
    >>> learned = 0
    >>> for _ in range(100_000):
    ...     x = {"bias": 1.0, rng.choice("abcd"): 1.0}
    ...     y = rng.random() < (0.02 if "a" in x else 0.005)
    ...     if y or rng.random() < model.rate:
    ...         model.learn_one(x, y)
    ...         learned += 1
    >>> learned < 12_000
    True
    >>> round(model.predict_proba_one({"bias": 1.0, "a": 1.0})[True], 3)
    0.02
    >>> round(model.predict_proba_one({"bias": 1.0, "b": 1.0})[True], 3)
    0.005

    """

    def __init__(self, classifier: base.Classifier, rate: float) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {rate!r}")
        self.classifier = classifier
        self.rate = rate

    @property
    def _wrapped_model(self) -> base.Classifier:
        return self.classifier

    @classmethod
    def _unit_test_params(cls) -> Any:
        from learners.ftrl import FTRLLogisticRegression

        yield {"classifier": FTRLLogisticRegression(), "rate": 0.1}

    def example_weight(self, y: bool, sampling_rate: float) -> float:
        """The weight that makes an example kept at ``sampling_rate`` count as one kept at
        this model's rate: ``rate / sampling_rate`` for a negative, 1 for a positive."""
        return 1.0 if y else self.rate / sampling_rate

    def learn_one(self, x: Mapping[Any, float], y: bool, w: float = 1.0, **kwargs: Any) -> None:
        self.classifier.learn_one(x, y, w=w, **kwargs)

    def predict_learn_one(self, x: Mapping[Any, float], y: bool, w: float = 1.0) -> float:
        """The population probability of ``x``, then the classifier learns ``(x, y)``."""
        return recalibrate(predict_then_learn(self.classifier, x, y, w), self.rate)

    def predict_proba_one(self, x: Mapping[Any, float], **kwargs: Any) -> dict[bool, float]:
        q = recalibrate(positive_proba(self.classifier.predict_proba_one(x, **kwargs)), self.rate)
        return {False: 1.0 - q, True: q}

    def predict_proba_rows(self, rows: SparseRows) -> np.ndarray:
        """The population probability of every row, in one call if the classifier scores rows."""
        return recalibrate(predict_proba_rows(self.classifier, rows), self.rate)

"""Progressive-validation metrics for a binary probabilistic model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from river import base

from learners.scores import score_one

__all__ = ["ProgressiveMetrics", "binary_entropy", "log_loss", "ordered_auc", "predict_then_learn"]

_EPS = 1e-15  # probabilities are clipped to [_EPS, 1 - _EPS] for the log loss (as River does)


def predict_then_learn(model: Any, x: Mapping[Any, float], y: Any, w: float = 1.0) -> float:
    """The score ``model`` gives ``x`` (:func:`~learners.scores.score_one`: a classifier's
    positive-class probability, a regressor's prediction in [0, 1]), then
    ``model.learn_one(x, y, w=w)``: in one call if the model has ``predict_learn_one`` (the
    FTRL models: one pass over ``x``). Returns the prediction. The weight goes by keyword, as
    River's pipelines route it (to the steps that take one) and its trees and forests take it.

    A float target ``y`` in [0, 1] (a rating) is learned as it is by a regressor or a model
    that learns soft labels (``learns_soft_labels``: our FTRL). Any other classifier learns it
    as two weighted examples, ``(x, True)`` with weight ``w * y`` and ``(x, False)`` with
    ``w * (1 - y)``: their log-loss gradients sum to the soft label's, so its probability
    moves towards the rating instead of staying at 0.5.

    >>> from river.linear_model import LogisticRegression
    >>> model = LogisticRegression()
    >>> predict_then_learn(model, {1: 1.0}, True), model.predict_proba_one({1: 1.0})[True] > 0.5
    (0.5, True)
    """
    predict_learn = getattr(model, "predict_learn_one", None)
    if predict_learn is not None:
        return predict_learn(x, y, w)
    p = score_one(model, x)
    if not isinstance(y, float) or _learns_targets(model):
        model.learn_one(x, y, w=w)
        return p
    for label, weight in ((True, w * y), (False, w * (1.0 - y))):
        if weight > 0.0:
            model.learn_one(x, label, w=weight)
    return p


def _learns_targets(model: Any) -> bool:
    """Whether ``model`` learns a target in [0, 1] as it is: a regressor, or a classifier that
    learns soft labels."""
    return isinstance(model, base.Regressor) or getattr(model, "learns_soft_labels", False)


def log_loss(y: float, p: float) -> float:
    """Cross-entropy of a prediction ``p`` for a target ``y`` in [0, 1] (a click is 1.0)."""
    q = min(max(p, _EPS), 1.0 - _EPS)
    return -(y * math.log(q) + (1.0 - y) * math.log(1.0 - q))


def ordered_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """The ROC AUC from the weight of positives and of negatives in each group of equal
    score, the groups in increasing score order: the weighted share of (positive, negative)
    pairs in the right order, a pair within one group counting half; ``nan`` without both.

    >>> ordered_auc([0.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    0.875
    """
    area = 0.0
    negatives_below = 0.0
    for pos, neg in zip(positive, negative, strict=True):
        area += pos * (negatives_below + 0.5 * neg)
        negatives_below += neg
    pairs = math.fsum(positive) * negatives_below
    return area / pairs if pairs > 0 else math.nan


def binary_entropy(rate: float) -> float:
    """``H(b) = -b ln b - (1-b) ln(1-b)``: the log loss of always predicting the base rate
    (0 outside (0, 1))."""
    if not 0.0 < rate < 1.0:
        return 0.0
    return -(rate * math.log(rate) + (1.0 - rate) * math.log(1.0 - rate))


class ProgressiveMetrics:
    """Log loss, normalized entropy, ROC AUC and base rate, updated one prediction at a time.

    Feed each prediction made *before* the model learns from the same example (progressive
    validation, also called test-then-train): learning first flatters every metric.

    - ``logloss``: weighted mean binary cross-entropy, probabilities clipped to [1e-15, 1-1e-15].
    - ``ne``: normalized entropy, ``logloss / H(base_rate)`` with
      ``H(b) = -b ln b - (1-b) ln(1-b)``; below 1 means better than always predicting the observed
      base rate. It is ``nan`` until both classes have been seen (``H`` is 0 then).
    - ``auc``: ROC AUC, ``nan`` until both classes have been seen. It is computed from weighted
      histograms of the predictions' log-odds (``auc_bins`` equal bins over [-16, 16], so
      resolution is independent of the base rate; ties within a bin count one half), which keeps
      memory bounded. River's `metrics.ROCAUC` places its thresholds evenly in [0, 1] and so
      cannot rank click probabilities that are all below a few percent.
    - ``base_rate``: weighted fraction of positives; ``mean_p``: weighted mean prediction.
      Both ``nan`` before the first update.

    Parameters
    ----------
    auc_bins
        Number of log-odds bins used for the AUC.

    Examples
    --------
    >>> from learners.progressive import ProgressiveMetrics
    >>> metrics = ProgressiveMetrics()
    >>> for y, p in [(False, 0.1), (False, 0.4), (True, 0.35), (True, 0.8)]:
    ...     metrics.update(y, p)
    >>> {k: round(v, 4) for k, v in metrics.report().items()}
    {'n': 4, 'logloss': 0.4723, 'ne': 0.6814, 'auc': 0.75, 'base_rate': 0.5, 'mean_p': 0.4125}

    """

    _LOGIT_MAX = 16.0

    def __init__(self, *, auc_bins: int = 2048) -> None:
        if isinstance(auc_bins, bool) or not isinstance(auc_bins, int) or auc_bins < 2:
            raise ValueError(f"auc_bins must be an int >= 2, got {auc_bins!r}")
        self.auc_bins = auc_bins
        self._n = 0
        self._w = 0.0
        self._w_pos = 0.0
        self._logloss = 0.0  # a running weighted mean, updated as River's metrics.LogLoss
        self._p = 0.0
        self._pos = [0.0] * auc_bins
        self._neg = [0.0] * auc_bins

    def update(self, y_true: bool, p: float, w: float = 1.0) -> None:
        """Record one prediction ``p`` (probability of True) and its outcome ``y_true``.

        Raises
        ------
        ValueError
            If ``p`` is not in [0, 1] or ``w`` is not finite and > 0.

        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        if not (w > 0 and math.isfinite(w)):
            raise ValueError(f"w must be finite and > 0, got {w!r}")
        q = min(max(p, _EPS), 1.0 - _EPS)
        logit = max(-self._LOGIT_MAX, min(self._LOGIT_MAX, math.log(q / (1.0 - q))))
        scale = self.auc_bins / (2 * self._LOGIT_MAX)
        b = min(int((logit + self._LOGIT_MAX) * scale), self.auc_bins - 1)
        self._n += 1
        self._w += w
        self._p += w * p
        if y_true:
            self._w_pos += w
            loss = -math.log(q)
            self._pos[b] += w
        else:
            loss = -math.log(1.0 - q)
            self._neg[b] += w
        self._logloss += (w / self._w) * (loss - self._logloss)  # to the last digit River's

    def report(self) -> dict[str, float]:
        """``n`` (count of updates) and the weighted metrics described in the class docstring."""
        if self._n == 0:
            nan = math.nan
            return {"n": 0, "logloss": nan, "ne": nan, "auc": nan, "base_rate": nan, "mean_p": nan}
        logloss = self._logloss
        rate = self._w_pos / self._w
        entropy = binary_entropy(rate)
        ne = logloss / entropy if entropy > 0 else math.nan
        return {
            "n": self._n,
            "logloss": logloss,
            "ne": ne,
            "auc": ordered_auc(self._pos, self._neg),
            "base_rate": rate,
            "mean_p": self._p / self._w,
        }

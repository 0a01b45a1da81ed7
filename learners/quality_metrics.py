"""Progressive-validation metrics for a quality model: a [0, 1] target, such as a rating."""

from __future__ import annotations

import math

from learners.progressive import log_loss

__all__ = ["ProgressiveQuality"]


class ProgressiveQuality:
    """MAE, soft log loss, calibration and a constant baseline, one prediction at a time.

    The regression counterpart of `learners.progressive.ProgressiveMetrics`, with the same
    ``update(y_true, p, w)`` / ``report()`` interface so a caller can hold either. Feed each
    prediction made *before* the model learns from the same example (progressive validation).
    Every mean is weighted by ``w``.

    - ``mae``: mean absolute error ``|y - p|``.
    - ``logloss``: mean soft cross-entropy ``-(y ln p + (1 - y) ln(1 - p))``, ``p`` clipped to
      [1e-15, 1 - 1e-15]. With soft targets its minimum is the mean entropy of the targets, not
      0: compare it between models, not to 0.
    - ``mean_p``, ``mean_y``: mean prediction and mean target.
    - ``calibration``: ``mean_p / mean_y``; 1 is calibrated in the mean, ``nan`` if
      ``mean_y`` is 0.
    - ``constant_mae``: the MAE of the constant predictor that, before each example, predicts
      the weighted mean of the targets seen so far (0.5 before the first). It is progressive
      too, so ``mae < constant_mae`` is an honest "better than a constant" claim; the mean in
      hindsight would flatter the constant.

    All but ``n`` are ``nan`` before the first update.

    Examples
    --------
    >>> from learners.quality_metrics import ProgressiveQuality
    >>> metrics = ProgressiveQuality()
    >>> for y, p in [(0.8, 0.7), (0.2, 0.4), (1.0, 0.9), (0.4, 0.4)]:
    ...     metrics.update(y, p)
    >>> {k: round(v, 4) for k, v in metrics.report().items()}
    {'n': 4, 'mae': 0.1, 'logloss': 0.4741, 'mean_p': 0.6, 'mean_y': 0.6,
     'calibration': 1.0, 'constant_mae': 0.4167}

    The constant predicted 0.5, then 0.8, then 0.5, then 2/3: errors 0.3, 0.6, 0.5, 0.2667.

    """

    def __init__(self) -> None:
        self._n = 0
        self._w = 0.0
        self._abs = 0.0
        self._loss = 0.0
        self._p = 0.0
        self._y = 0.0
        self._constant_abs = 0.0

    def update(self, y_true: float, p: float, w: float = 1.0) -> None:
        """Record one prediction ``p`` of the target ``y_true``, both in [0, 1].

        Raises
        ------
        ValueError
            If ``y_true`` or ``p`` is not in [0, 1] (NaN included) or ``w`` is not finite and > 0.

        """
        if not 0.0 <= y_true <= 1.0:
            raise ValueError(f"y_true must be in [0, 1], got {y_true!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        if not (w > 0 and math.isfinite(w)):
            raise ValueError(f"w must be finite and > 0, got {w!r}")
        y = float(y_true)
        constant = self._y / self._w if self._w > 0 else 0.5
        self._n += 1
        self._w += w
        self._abs += w * abs(y - p)
        self._loss += w * log_loss(y, p)
        self._p += w * p
        self._y += w * y
        self._constant_abs += w * abs(y - constant)

    def report(self) -> dict[str, float]:
        """``n`` (count of updates) and the weighted metrics described in the class docstring."""
        if self._n == 0:
            nan = math.nan
            keys = ("mae", "logloss", "mean_p", "mean_y", "calibration", "constant_mae")
            return {"n": 0, **dict.fromkeys(keys, nan)}
        mean_p = self._p / self._w
        mean_y = self._y / self._w
        return {
            "n": self._n,
            "mae": self._abs / self._w,
            "logloss": self._loss / self._w,
            "mean_p": mean_p,
            "mean_y": mean_y,
            "calibration": mean_p / mean_y if mean_y > 0 else math.nan,
            "constant_mae": self._constant_abs / self._w,
        }

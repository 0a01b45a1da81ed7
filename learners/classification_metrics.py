"""Progressive-validation metrics for a multiclass model whose classes come and go."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

__all__ = ["ProgressiveClassification"]


class ProgressiveClassification:
    """Accuracy, macro-F1 and per-class recall and precision, one prediction at a time.

    Feed each prediction made *before* the model learns from the same example.

    - ``accuracy``: fraction of updates whose prediction equals the true class.
    - ``macro_f1``: unweighted mean of the per-class F1 over the *tracked* classes: every class
      seen as a true label or as a prediction, since the start or since it was last forgotten
      (`forget_class`). A class that appears mid-stream joins the average from its first
      appearance; a retired class stays in it until it is forgotten. With no forgotten class and
      no ``None`` prediction this is River's `metrics.MacroF1` (same per-class formula).
    - A ``None`` prediction (a model with no class yet) counts as wrong and is not a class.
    - `recall_of` is the accuracy on a class's own traffic, the figure to compare when a class
      is new: "its recall reached the other classes' recall".

    All figures are cumulative; forget a class (or use a fresh instance) to start a class's
    figures afresh. The state is plain dicts and ints, so it pickles.

    Examples
    --------
    >>> from learners.classification_metrics import ProgressiveClassification
    >>> metrics = ProgressiveClassification()
    >>> for y, y_pred in [("a", "a"), ("b", "a"), ("b", "b"), ("c", None), ("c", "c")]:
    ...     metrics.update(y, y_pred)
    >>> {k: round(v, 4) for k, v in metrics.report().items()}
    {'n': 5, 'accuracy': 0.6, 'macro_f1': 0.6667}
    >>> metrics.recall_of("b"), metrics.precision_of("a"), metrics.support_of("c")
    (0.5, 0.5, 2)
    >>> metrics.forget_class("c")
    >>> metrics.classes, round(metrics.report()["macro_f1"], 4)
    (('a', 'b'), 0.6667)

    """

    def __init__(self) -> None:
        self._n = 0
        self._n_correct = 0
        self._tp: dict[Hashable, int] = {}  # tracked classes, in order of appearance
        self._n_true: dict[Hashable, int] = {}
        self._n_pred: dict[Hashable, int] = {}

    def _track(self, c: Hashable) -> None:
        if c not in self._tp:
            self._tp[c] = self._n_true[c] = self._n_pred[c] = 0

    def update(self, y_true: Hashable, y_pred: Hashable | None) -> None:
        """Record one prediction ``y_pred`` (``None`` when the model predicted nothing)."""
        self._n += 1
        self._track(y_true)
        self._n_true[y_true] += 1
        if y_pred is None:
            return
        self._track(y_pred)
        self._n_pred[y_pred] += 1
        if y_pred == y_true:
            self._n_correct += 1
            self._tp[y_true] += 1

    def forget_class(self, c: Hashable) -> None:
        """Drop ``c``'s counts from the per-class figures and macro-F1 (accuracy keeps them)."""
        for counts in (self._tp, self._n_true, self._n_pred):
            counts.pop(c, None)

    @property
    def classes(self) -> tuple[Hashable, ...]:
        """The tracked classes, in order of first appearance."""
        return tuple(self._tp)

    def support_of(self, c: Hashable) -> int:
        """Number of updates whose true class was ``c`` (0 for an untracked class)."""
        return self._n_true.get(c, 0)

    def recall_of(self, c: Hashable) -> float:
        """Fraction of ``c``'s examples predicted ``c``; ``nan`` before ``c`` is a true label."""
        n = self._n_true.get(c, 0)
        return self._tp[c] / n if n else math.nan

    def precision_of(self, c: Hashable) -> float:
        """Fraction of ``c`` predictions that were right; ``nan`` before ``c`` is predicted."""
        n = self._n_pred.get(c, 0)
        return self._tp[c] / n if n else math.nan

    def f1_of(self, c: Hashable) -> float:
        """F1 of class ``c``, 0 when it has no true positive (as in River)."""
        tp = self._tp.get(c, 0)
        if not tp:
            return 0.0
        p, r = tp / self._n_pred[c], tp / self._n_true[c]
        return 2 * p * r / (p + r)

    def report(self) -> dict[str, Any]:
        """``n``, ``accuracy`` and ``macro_f1``; both ``nan`` before the first update."""
        if not self._n:
            return {"n": 0, "accuracy": math.nan, "macro_f1": math.nan}
        f1s = [self.f1_of(c) for c in self._tp]
        return {
            "n": self._n,
            "accuracy": self._n_correct / self._n,
            "macro_f1": sum(f1s) / len(f1s) if f1s else math.nan,
        }

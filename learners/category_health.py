"""The health of a multiclass model (the query-category model), watched from its progressive
predictions as :class:`~learners.health.ModelHealth` watches a click model."""

from __future__ import annotations

import collections
import math
from typing import Any, NamedTuple

from learners.drift import MeanShiftDetector
from learners.health import Arrivals, DriftEpisodes, LabelDelays

__all__ = ["CategoryGuess", "CategoryHealth", "class_entropy"]

#: A class the model has not learned yet has probability 0: its loss counts as this floor's,
#: -ln 1e-4 = 9.2 nats, so that the first labels of a class added at runtime weigh like a few
#: confident mistakes, not like an infinity.
MIN_PROBA = 1e-4
#: ADWIN's range term assumes values in [0, 1] (see ``learners.drift``); the normalized loss
#: of a useful model is well below 1, of a confident mistake a few units.
_LOSS_SCALE = 0.25


class CategoryGuess(NamedTuple):
    """What a multiclass model said of one example before learning it: its best class and that
    class's probability, and the probability it gave the true class."""

    predicted: str | None
    confidence: float
    true_proba: float


def class_entropy(counts: collections.Counter[str], total: int) -> float:
    """The entropy of the class frequencies ``counts`` (in nats): the log loss of always
    predicting them, the multiclass base rate's.

    >>> round(class_entropy(collections.Counter(a=1, b=1), 2), 4), class_entropy({}, 0)
    (0.6931, 0.0)
    """
    if total <= 0:
        return 0.0
    return -sum(c / total * math.log(c / total) for c in counts.values() if c > 0)


class CategoryHealth:
    """Recent and cumulative figures of one multiclass model, and its loss detector.

    Feed each :class:`CategoryGuess` made *before* learning from the same example, with the
    true class, the wall time and the label delay.

    - ``recent``, over the last ``window`` examples: the log loss of the true class, the
      normalized entropy (that log loss over the entropy of the classes seen in the window:
      1 is no better than predicting the class frequencies), the top-1 accuracy, the mean
      confidence of the top class, and the calibration (mean confidence over accuracy: the
      binary models' mean prediction over observed rate, for the top class; above 1 is
      over-confident). ``calibration``: the same since the start.
    - ``label_delay_ms``, ``examples_per_s``, ``last_learned_at`` as for a click model.
    - ``loss_drift``: rises of the per-example loss over the class entropy, seen by a
      :class:`~learners.drift.MeanShiftDetector` after ``window`` examples (its mean is the
      NE). The entropy is the window's, refreshed every ``window // 50`` examples. Every
      rise ADWIN finds is reported (no minimum relative change, unlike a click model's 10 %):
      ADWIN cuts at bucket boundaries and keeps old values in its recent part, and forgets
      the rest after a detection, so the one detection a change gets can show a small rise.
      When one label in ten went wrong in the simulated world, the scaled loss went from
      0.025 to 0.065, and the detection, 264 examples in, said 0.026 to 0.028. Over 100,000
      steady examples of four worlds, nothing was reported.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(3)
    >>> health = CategoryHealth(window=1000)
    >>> for i in range(4000):  # right 80 % of the time, with confidence 0.8, then 30 %
    ...     label = rng.choice("abcde")
    ...     right = rng.random() < (0.8 if i < 2000 else 0.3)
    ...     guess = CategoryGuess(label if right else "z", 0.8, 0.8 if right else 0.05)
    ...     health.update(label, guess, at_s=i / 100)
    >>> recent = health.report(now_s=39.99)["recent"]
    >>> round(recent["accuracy"], 2), round(recent["calibration"], 1), recent["ne"] > 1
    (0.31, 2.6, True)
    >>> health.report(now_s=39.99)["loss_drift"]["onset"]["n"] > 2000
    True

    """

    def __init__(
        self,
        *,
        window: int = 5_000,
        rate_span_s: float = 10.0,
        loss_detector: MeanShiftDetector | None = None,
    ) -> None:
        if window < 50:
            raise ValueError(f"window must be >= 50, got {window}")
        self.window = window
        self.loss_detector = loss_detector or MeanShiftDetector(
            direction="up", min_relative_change=0.0
        )
        self._n = 0
        self._recent: collections.deque[tuple[str, float, bool, float]] = collections.deque()
        self._sums = [0.0, 0, 0.0]  # loss, right, confidence over the window
        self._classes: collections.Counter[str] = collections.Counter()  # over the window
        self._entropy = 0.0  # of ``_classes``, refreshed every ``_refresh`` examples
        self._refresh = window // 50
        self._total = [0, 0.0]  # right, confidence since the start
        self._delays = LabelDelays()
        self._arrivals = Arrivals(rate_span_s)
        self._loss = DriftEpisodes(window)

    def update(
        self, label: str, guess: CategoryGuess, *, at_s: float, delay_ms: float | None = None
    ) -> None:
        """Record one guess made before learning ``label``."""
        self._n += 1
        loss = -math.log(max(guess.true_proba, MIN_PROBA))
        right = guess.predicted == label
        item = (label, loss, right, guess.confidence)
        self._add(item, 1)
        self._recent.append(item)
        if len(self._recent) > self.window:
            self._add(self._recent.popleft(), -1)
        if self._n % self.window == 0:  # no drift from adding and subtracting floats
            self._sums[0] = math.fsum(loss for _, loss, _, _ in self._recent)
            self._sums[2] = math.fsum(confidence for *_, confidence in self._recent)
        if self._n % self._refresh == 0 or not self._entropy:
            self._entropy = class_entropy(self._classes, len(self._recent))
        self._total[0] += right
        self._total[1] += guess.confidence
        if delay_ms is not None:
            self._delays.add(delay_ms)
        self._arrivals.add(at_s)
        if self._n > self.window and self._entropy > 0:
            normalized = _LOSS_SCALE * loss / self._entropy
            self._loss.watch(self.loss_detector, normalized, self._n)

    def _add(self, item: tuple[str, float, bool, float], sign: int) -> None:
        label, loss, right, confidence = item
        sums = self._sums
        sums[0] += sign * loss
        sums[1] += sign * right
        sums[2] += sign * confidence
        self._classes[label] += sign
        if not self._classes[label]:
            del self._classes[label]

    @property
    def n(self) -> int:
        return self._n

    def recent(self) -> dict[str, float]:
        """Figures over the last ``window`` examples (``nan`` where undefined)."""
        n = len(self._recent)
        loss, right, confidence = self._sums
        logloss = loss / n if n else math.nan
        entropy = class_entropy(self._classes, n)
        return {
            "n": n,
            "logloss": logloss,
            "ne": logloss / entropy if entropy > 0 else math.nan,
            "accuracy": right / n if n else math.nan,
            "confidence": confidence / n if n else math.nan,
            "calibration": confidence / right if right else math.nan,
            "classes": len(self._classes),
        }

    def report(self, now_s: float) -> dict[str, Any]:
        """Everything described in the class docstring, as plain numbers and maps."""
        right, confidence = self._total
        return {
            "n": self._n,
            "recent": self.recent(),
            "calibration": confidence / right if right else math.nan,
            "label_delay_ms": self._delays.report(),
            "examples_per_s": self._arrivals.per_s(now_s),
            "last_learned_at": self._arrivals.last_at,
            "loss_drift": self._loss.report(),
        }

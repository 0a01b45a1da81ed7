"""The health of one model, watched continuously from its progressive predictions."""

from __future__ import annotations

import array
import collections
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from river import stats

from learners.drift import MeanShift, MeanShiftDetector
from learners.progressive import binary_entropy, log_loss, ordered_auc

__all__ = ["Arrivals", "DriftEpisodes", "LabelDelays", "ModelHealth", "weighted_auc"]

_DELAY_QUANTILES = (0.5, 0.9, 0.99)
#: ADWIN's bound assumes values in [0, 1]: besides the variance, a range term sets how
#: sensitive it is. The normalized loss is near 1; this brings it to the scale of a click
#: log loss at a few percent, where delta 1e-4 was tuned.
_LOSS_SCALE = 0.05
OTHER_SLICE = "other"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


class ModelHealth:
    """Recent and cumulative figures of one model, and the changes its drift detectors saw.

    Feed each prediction made *before* learning from the same example, with the example's
    weight in the population (a negative kept at sampling rate ``w`` weighs ``1/w``), the
    wall time, its label delay and its slices (``{"device": "mobile", ...}``).

    - ``recent``: log loss, normalized entropy, calibration (weighted mean prediction over
      weighted observed rate), base rate over the last ``window`` examples, and the
      ``population`` they stand for (their total weight).
    - ``calibration`` and ``calibration_by_slice``: the same ratio since the start, overall
      and per slice value (``device=mobile``); at most ``max_slices`` slice values, the rest
      in ``<name>=other``.
    - ``label_delay_ms``: p50, p90, p99 of label time less event time (P² estimates).
    - ``examples_per_s`` over the last ``rate_span_s`` seconds; ``last_learned_at``.
    - ``label_shift``: the label rate of the last ``shift_recent`` examples against that of
      the ``shift_reference`` examples before the ``shift_gap`` before them, and the
      two-proportion z of the difference (each rate's variance is the weighted ratio
      estimator's, so negatives kept at a sampling rate weigh as the evidence they are). An abrupt
      change of what is clicked shows here within a couple of thousand examples, even when
      the model re-learns it so fast that its loss and calibration hardly move; the gap keeps
      the reference clear of the change for longer, so a change that takes a few thousand
      examples to unfold still stands out.
    - ``loss_drift`` and ``calibration_drift``: detections of :class:`MeanShiftDetector` on the
      per-example normalized loss (rises only) and on the residual ``y - p`` (either way). The
      normalized loss is the log loss over the entropy of the base rate (tracked with a decay
      of ``1 / (4 window)``), so its mean is the NE: a ranker that learns to show likelier
      clicks raises the base rate, and the log loss with it, of a model that is no worse. In
      a stationary run on the broker the click rate went from 0.4 % to 2.3 % and the log loss
      from 0.036 to 0.107 over 26,000 examples at an NE of 0.99 to 0.96. It is watched after
      ``window`` examples, once a click has been seen. Detectors
      see every example once, unweighted: they look for changes, the weighted windows say how
      far from calibrated the model is. The calibration detector uses ``delta`` 1e-3: a
      residual of rare clicks carries little signal per example, and the alert rules confirm
      its detections with the recent calibration. Each reports its ``last`` detection and
      the ``onset`` of the episode it belongs to: the first detection after ``window``
      examples without one (a change often yields several detections in a row).

    Nothing here reads a clock: time comes in as ``at_s`` and ``now_s``.

    Parameters
    ----------
    window
        Number of recent examples behind ``recent``.
    max_slices
        Slice values tracked per slice name.
    rate_span_s
        Span of ``examples_per_s``.
    loss_detector
        Watches the normalized loss; a rise-only :class:`MeanShiftDetector` by default.
    calibration_detector
        Watches the residual; a two-sided :class:`MeanShiftDetector` by default.
    shift_recent, shift_gap, shift_reference
        The spans of examples behind ``label_shift``, newest first.

    Examples
    --------
    >>> import random
    >>> from learners.health import ModelHealth
    >>> rng = random.Random(7)
    >>> health = ModelHealth(window=2000)
    >>> for i in range(12000):
    ...     p = 0.05 if i < 4000 else 0.02  # the model under-predicts after example 4000
    ...     health.update(rng.random() < 0.05, p, at_s=i / 100, slices={"device": "mobile"})
    >>> report = health.report(now_s=119.99)
    >>> round(report["recent"]["calibration"], 2), report["calibration_drift"]["detections"]
    (0.43, 1)
    >>> report["calibration_drift"]["last"]["n"] > 4000, report["examples_per_s"]
    (True, 100.0)

    """

    def __init__(
        self,
        *,
        window: int = 5_000,
        max_slices: int = 32,
        rate_span_s: float = 10.0,
        loss_detector: MeanShiftDetector | None = None,
        calibration_detector: MeanShiftDetector | None = None,
        shift_recent: int = 2_500,
        shift_gap: int = 2_500,
        shift_reference: int = 5_000,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if min(shift_recent, shift_reference) < 1 or shift_gap < 0:
            raise ValueError(
                "need shift_recent, shift_reference >= 1 and shift_gap >= 0, got "
                f"{shift_recent}, {shift_reference} and {shift_gap}"
            )
        self.window = window
        self.max_slices = max_slices
        self.rate_span_s = rate_span_s
        self.loss_detector = loss_detector or MeanShiftDetector(direction="up")
        self.calibration_detector = calibration_detector or MeanShiftDetector(
            delta=1e-3, direction="both"
        )
        self.shift_recent = shift_recent
        self.shift_gap = shift_gap
        self.shift_reference = shift_reference
        # the examples behind ``recent`` and ``label_shift``, summed when those are read
        self._history = _History(max(window, shift_recent + shift_gap + shift_reference))
        self._total = [0.0, 0.0, 0.0]  # weight, weighted y, weighted p since the start
        self._slices: dict[str, list[float]] = {}
        self._slice_values: dict[str, int] = collections.Counter()
        self._delays = LabelDelays()
        self._arrivals = Arrivals(rate_span_s)
        self._episodes = {"loss": DriftEpisodes(window), "calibration": DriftEpisodes(window)}
        self._decay = 1.0 - 1.0 / (4 * window)  # the base rate of the loss's normalizer
        self._slow_rate = [0.0, 0.0]  # exponentially decayed weight and weighted y

    def update(
        self,
        y: float,
        p: float,
        w: float = 1.0,
        *,
        at_s: float,
        delay_ms: float | None = None,
        slices: Mapping[str, str] | None = None,
    ) -> None:
        """Record one prediction (see :meth:`last_shift` for what the detectors saw)."""
        y = float(y)
        loss = log_loss(y, p)
        self._history.add(w, y, p, loss)
        total = self._total
        total[0] += w
        total[1] += w * y
        total[2] += w * p
        if slices:
            for name, value in slices.items():
                self._add_to_slice(name, value, w, y, p)
        if delay_ms is not None:
            self._delays.add(delay_ms)
        self._arrivals.add(at_s)
        episodes, n = self._episodes, self._history.n
        episodes["calibration"].watch(self.calibration_detector, y - p, n)
        normalized = self._normalized_loss(loss, y, w)
        if normalized is not None:
            episodes["loss"].watch(self.loss_detector, normalized, n)

    def _normalized_loss(self, loss: float, y: float, w: float) -> float | None:
        """``loss`` over the entropy of the slowly tracked base rate, times ``_LOSS_SCALE``;
        ``None`` before ``window`` examples or while no click has been seen."""
        slow = self._slow_rate
        slow[0] = slow[0] * self._decay + w
        slow[1] = slow[1] * self._decay + w * y
        entropy = binary_entropy(slow[1] / slow[0])
        if entropy <= 0 or self.n < self.window:
            return None
        return _LOSS_SCALE * loss / entropy

    def _add_to_slice(self, name: str, value: str, w: float, y: float, p: float) -> None:
        key = f"{name}={value}"
        if key not in self._slices:
            if self._slice_values[name] >= self.max_slices:
                key = f"{name}={OTHER_SLICE}"
            else:
                self._slice_values[name] += 1
        totals = self._slices.setdefault(key, [0.0, 0.0, 0.0, 0])
        totals[0] += w
        totals[1] += w * y
        totals[2] += w * p
        totals[3] += 1

    @property
    def n(self) -> int:
        return self._history.n

    def recent(self) -> dict[str, float]:
        """Figures over the last ``window`` examples (``nan`` where undefined)."""
        w, y, p, loss = self._history.last(self.window)
        weight = float(w.sum())
        wy, wp, wloss = (float(np.dot(w, column)) for column in (y, p, loss))
        rate = _ratio(wy, weight)
        logloss = _ratio(wloss, weight)
        entropy = binary_entropy(rate) if weight > 0 else 0.0
        return {
            "n": len(w),
            "logloss": logloss,
            "ne": logloss / entropy if entropy > 0 else math.nan,
            "calibration": _ratio(wp, wy),
            "base_rate": rate,
            "mean_p": _ratio(wp, weight),
            "positives": wy,
            "population": weight,  # the examples the window stands for (1/w per kept negative)
        }

    def recent_auc(self) -> float:
        """The ROC AUC of the last ``window`` predictions, each example weighted (``nan`` for
        soft labels, or without both classes): how well the model still ranks clicks above
        non-clicks, whatever its calibration."""
        w, y, p, _ = self._history.last(self.window)
        return weighted_auc(y, p, w) if len(w) else math.nan

    def label_shift(self) -> dict[str, float]:
        """The label rate of the recent span against the reference span, and the
        two-proportion z of the difference (``nan`` until the reference span has examples)."""
        history = self._history
        w, y, *_ = history.last(self.shift_recent)
        recent = _LabelMoments.of(w, y)
        reference = _LabelMoments.of(
            *history.last(self.shift_reference, skip=self.shift_recent + self.shift_gap)[:2]
        )
        pooled = _ratio(recent.wy + reference.wy, recent.w + reference.w)
        variance = recent.variance(pooled) + reference.variance(pooled)
        z = (recent.rate - reference.rate) / math.sqrt(variance) if variance > 0 else math.nan
        return {
            "recent_rate": recent.rate,
            "reference_rate": reference.rate,
            "z": z,
            "recent_examples": len(w),
        }

    def last_shift(self, detector: str) -> MeanShift | None:
        return self._episodes[detector].last

    def report(self, now_s: float) -> dict[str, Any]:
        """Everything described in the class docstring, as plain numbers and maps."""
        _, wy, wp = self._total
        return {
            "n": self.n,
            "recent": {**self.recent(), "auc": self.recent_auc()},
            "calibration": _ratio(wp, wy),
            "calibration_by_slice": {
                key: {"calibration": _ratio(wp_s, wy_s), "n": n_s, "observed_rate": wy_s / w_s}
                for key, (w_s, wy_s, wp_s, n_s) in sorted(self._slices.items())
            },
            "label_delay_ms": self._delays.report(),
            "label_shift": self.label_shift(),
            "examples_per_s": self._arrivals.per_s(now_s),
            "last_learned_at": self._arrivals.last_at,
            **{f"{name}_drift": episodes.report() for name, episodes in self._episodes.items()},
        }


def weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """The ROC AUC of scores ``p`` for binary labels ``y`` with example weights ``w``: the
    weighted share of (positive, negative) pairs the scores order right, ties counting half;
    ``nan`` for labels other than 0 and 1, or without both classes.

    >>> import numpy as np
    >>> from learners.health import weighted_auc
    >>> y, p = np.array([0, 0, 1, 1.0]), np.array([0.1, 0.4, 0.35, 0.8])
    >>> weighted_auc(y, p, np.ones(4)), weighted_auc(y, p, np.array([1, 3, 1, 1.0]))
    (0.75, 0.625)
    """
    if not np.all((y == 0) | (y == 1)):
        return math.nan
    order = np.argsort(p, kind="stable")
    p, positive, negative = p[order], (w * y)[order], (w * (1 - y))[order]
    _, starts = np.unique(p, return_index=True)  # runs of tied scores
    return ordered_auc(
        np.add.reduceat(positive, starts).tolist(), np.add.reduceat(negative, starts).tolist()
    )


class _History:
    """The weight, label, prediction and loss of the last ``size`` examples, in ring buffers:
    one write per example, summed with numpy only when a figure is read."""

    __slots__ = ("_columns", "n", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.n = 0  # examples added
        self._columns = tuple(array.array("d", bytes(8 * size)) for _ in range(4))

    def add(self, w: float, y: float, p: float, loss: float) -> None:
        slot = self.n % self.size
        weights, labels, predictions, losses = self._columns
        weights[slot] = w
        labels[slot] = y
        predictions[slot] = p
        losses[slot] = loss
        self.n += 1

    def last(self, count: int, skip: int = 0) -> list[np.ndarray]:
        """Weights, labels, predictions and losses of the ``count`` examples before the last
        ``skip`` (those still kept), oldest first."""
        end = self.n - skip
        start = max(end - count, self.n - self.size, 0)
        slots = np.arange(start, max(start, end)) % self.size
        return [np.frombuffer(column)[slots] for column in self._columns]


@dataclasses.dataclass(frozen=True, slots=True)
class _LabelMoments:
    """A span of examples' sums of ``w``, ``w y``, ``w**2``, ``w**2 y`` and ``w**2 y**2``: its
    weighted label rate, and that rate's variance."""

    w: float
    wy: float
    w2: float
    w2y: float
    w2y2: float

    @classmethod
    def of(cls, w: np.ndarray, y: np.ndarray) -> _LabelMoments:
        wy = w * y
        return cls(*(float(column.sum()) for column in (w, wy, w * w, w * wy, wy * wy)))

    @property
    def rate(self) -> float:
        return _ratio(self.wy, self.w)

    def variance(self, rate: float) -> float:
        """The variance of this span's weighted label rate if the true rate is ``rate``:
        ``sum w**2 (y - rate)**2 / (sum w)**2``, the ratio estimator's. Unweighted, it is
        ``rate (1 - rate) / n``; with negatives kept at 2 % and weighing 50, it counts the
        clicks' evidence, not the kept examples'."""
        return _ratio(self.w2y2 - 2.0 * rate * self.w2y + rate * rate * self.w2, self.w * self.w)


class Arrivals:
    """Examples per second over the last ``span_s`` seconds, and when the last came.

    >>> arrivals = Arrivals(span_s=10.0)
    >>> for i in range(50):
    ...     arrivals.add(100.0 + i / 10)
    >>> arrivals.per_s(now_s=104.9), arrivals.last_at, arrivals.per_s(now_s=200.0)
    (5.0, 104.9, 0.0)
    """

    __slots__ = ("_seconds", "last_at", "span_s")

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._seconds: collections.deque[list[float]] = collections.deque()  # [second, count]
        self.last_at: float | None = None

    def add(self, at_s: float) -> None:
        second = math.floor(at_s)
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += 1
        else:
            seconds.append([second, 1])
        while seconds and seconds[0][0] <= second - self.span_s:
            seconds.popleft()
        self.last_at = at_s

    def per_s(self, now_s: float) -> float:
        span = [count for second, count in self._seconds if second > now_s - self.span_s]
        return sum(span) / self.span_s


class LabelDelays:
    """p50, p90 and p99 of label delays (P² estimates, constant memory); ``nan`` before any."""

    __slots__ = ("_n", "_quantiles")

    def __init__(self) -> None:
        self._quantiles = {q: stats.Quantile(q) for q in _DELAY_QUANTILES}
        self._n = 0

    def add(self, delay_ms: float) -> None:
        self._n += 1
        for quantile in self._quantiles.values():
            quantile.update(delay_ms)

    def report(self) -> dict[str, float]:
        return {
            f"p{round(q * 100)}": quantile.get() if self._n else math.nan
            for q, quantile in self._quantiles.items()
        }


class DriftEpisodes:
    """What one drift detector saw: its detections, counted in examples, and the ``onset``
    of the latest episode (the first detection after ``window`` examples without one: a change
    often yields several detections in a row)."""

    __slots__ = ("_onset", "_shifts", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self._shifts: list[MeanShift] = []
        self._onset: MeanShift | None = None

    def watch(self, detector: MeanShiftDetector, value: float, n: int) -> None:
        """Feed ``value``, the ``n``-th example's, to ``detector``; record a detection."""
        shift = detector.update(value)
        if shift is None:
            return
        shift = dataclasses.replace(shift, n=n)  # counted in examples, as ``n``
        if self._onset is None or n - self._shifts[-1].n >= self.window:
            self._onset = shift
        self._shifts.append(shift)

    @property
    def last(self) -> MeanShift | None:
        return self._shifts[-1] if self._shifts else None

    def report(self) -> dict[str, Any]:
        """``detections``, and the ``last`` detection and ``onset`` as maps (``None`` before
        any): what :func:`streams.monitoring.alerting.loss_drift` reads."""
        last, onset = self.last, self._onset
        return {
            "detections": len(self._shifts),
            "last": None if last is None else dataclasses.asdict(last),
            "onset": None if onset is None else dataclasses.asdict(onset),
        }

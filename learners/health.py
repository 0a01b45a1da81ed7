"""The health of one model, watched continuously from its progressive predictions."""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from river import stats

from learners.drift import MeanShift, MeanShiftDetector
from learners.progressive import binary_entropy, log_loss

__all__ = ["ModelHealth"]

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
      weighted observed rate), base rate over the last ``window`` examples.
    - ``calibration`` and ``calibration_by_slice``: the same ratio since the start, overall
      and per slice value (``device=mobile``); at most ``max_slices`` slice values, the rest
      in ``<name>=other``.
    - ``label_delay_ms``: p50, p90, p99 of label time less event time (P² estimates).
    - ``examples_per_s`` over the last ``rate_span_s`` seconds; ``last_learned_at``.
    - ``label_shift``: the label rate of the last ``shift_recent`` examples against the
      ``shift_reference`` before them, and the two-proportion z of the difference (sample
      sizes are Kish's effective sizes, so negatives kept at a sampling rate weigh as
      little evidence as they are). An abrupt change of what is clicked shows here within a
      thousand or so examples, even when the model re-learns it so fast that its loss and
      calibration hardly move; a ranker slowly learning to show likelier clicks does not.
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
    shift_recent, shift_reference
        The two consecutive spans of examples behind ``label_shift``.

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
        shift_reference: int = 5_000,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if shift_recent < 1 or shift_reference < 1:
            raise ValueError(f"shift spans must be >= 1, got {shift_recent} and {shift_reference}")
        self.window = window
        self.max_slices = max_slices
        self.rate_span_s = rate_span_s
        self.loss_detector = loss_detector or MeanShiftDetector(direction="up")
        self.calibration_detector = calibration_detector or MeanShiftDetector(
            delta=1e-3, direction="both"
        )
        self.shift_recent = shift_recent
        self.shift_reference = shift_reference
        self._n = 0
        self._shift_spans = (_LabelSpan(), _LabelSpan())  # recent, and the reference before it
        self._recent: collections.deque[tuple[float, float, float, float]] = collections.deque()
        self._sums = [0.0, 0.0, 0.0, 0.0]  # weight, weighted y, weighted p, weighted loss
        self._total = [0.0, 0.0, 0.0]  # weight, weighted y, weighted p since the start
        self._slices: dict[str, list[float]] = {}
        self._slice_values: dict[str, int] = collections.Counter()
        self._delay = {q: stats.Quantile(q) for q in _DELAY_QUANTILES}
        self._seconds: collections.deque[list[float]] = collections.deque()  # [second, count]
        self._last_at: float | None = None
        self._shifts: dict[str, list[MeanShift]] = {"loss": [], "calibration": []}
        self._onsets: dict[str, MeanShift] = {}  # the first detection of the latest episode
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
        self._n += 1
        item = (w, w * y, w * p, w * loss)
        self._recent.append(item)
        sums = self._sums
        for i, value in enumerate(item):
            sums[i] += value
        if len(self._recent) > self.window:
            for i, value in enumerate(self._recent.popleft()):
                sums[i] -= value
        if self._n % self.window == 0:  # no drift from adding and subtracting floats
            self._sums = [math.fsum(column) for column in zip(*self._recent, strict=True)]
        self._total[0] += w
        self._total[1] += w * y
        self._total[2] += w * p
        for name, value in (slices or {}).items():
            self._add_to_slice(name, value, item)
        if delay_ms is not None:
            for quantile in self._delay.values():
                quantile.update(delay_ms)
        self._count_at(at_s)
        recent_span, reference_span = self._shift_spans
        recent_span.add((w, w * y))
        if len(recent_span) > self.shift_recent:
            reference_span.add(recent_span.pop())
            if len(reference_span) > self.shift_reference:
                reference_span.pop()
        watched = [("calibration", self.calibration_detector, y - p)]
        normalized = self._normalized_loss(loss, y, w)
        if normalized is not None:
            watched.append(("loss", self.loss_detector, normalized))
        for name, detector, value in watched:
            shift = detector.update(value)
            if shift is not None:
                shift = dataclasses.replace(shift, n=self._n)  # counted in examples, as ``n``
                shifts = self._shifts[name]
                if not shifts or shift.n - shifts[-1].n >= self.window:
                    self._onsets[name] = shift
                shifts.append(shift)

    def _normalized_loss(self, loss: float, y: float, w: float) -> float | None:
        """``loss`` over the entropy of the slowly tracked base rate, times ``_LOSS_SCALE``;
        ``None`` before ``window`` examples or while no click has been seen."""
        slow = self._slow_rate
        slow[0] = slow[0] * self._decay + w
        slow[1] = slow[1] * self._decay + w * y
        entropy = binary_entropy(slow[1] / slow[0])
        if entropy <= 0 or self._n < self.window:
            return None
        return _LOSS_SCALE * loss / entropy

    def _add_to_slice(self, name: str, value: str, item: tuple[float, ...]) -> None:
        key = f"{name}={value}"
        if key not in self._slices:
            if self._slice_values[name] >= self.max_slices:
                key = f"{name}={OTHER_SLICE}"
            else:
                self._slice_values[name] += 1
        totals = self._slices.setdefault(key, [0.0, 0.0, 0.0, 0])
        totals[0] += item[0]
        totals[1] += item[1]
        totals[2] += item[2]
        totals[3] += 1

    def _count_at(self, at_s: float) -> None:
        second = math.floor(at_s)
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += 1
        else:
            seconds.append([second, 1])
        while seconds and seconds[0][0] <= second - self.rate_span_s:
            seconds.popleft()
        self._last_at = at_s

    @property
    def n(self) -> int:
        return self._n

    def recent(self) -> dict[str, float]:
        """Figures over the last ``window`` examples (``nan`` where undefined)."""
        weight, wy, wp, wloss = self._sums
        rate = _ratio(wy, weight)
        logloss = _ratio(wloss, weight)
        entropy = binary_entropy(rate) if weight > 0 else 0.0
        return {
            "n": len(self._recent),
            "logloss": logloss,
            "ne": logloss / entropy if entropy > 0 else math.nan,
            "calibration": _ratio(wp, wy),
            "base_rate": rate,
            "mean_p": _ratio(wp, weight),
            "positives": wy,
        }

    def label_shift(self) -> dict[str, float]:
        """The label rate of the recent span against the reference span before it, and the
        two-proportion z of the difference (``nan`` until the reference span has examples)."""
        recent, reference = (span.rate() for span in self._shift_spans)
        n_recent, n_reference = (span.effective_size() for span in self._shift_spans)
        pooled = _ratio(
            sum(span.sums[1] for span in self._shift_spans),
            sum(span.sums[0] for span in self._shift_spans),
        )
        variance = pooled * (1.0 - pooled) * (1.0 / n_recent + 1.0 / n_reference)
        z = (recent - reference) / math.sqrt(variance) if variance > 0 else math.nan
        return {
            "recent_rate": recent,
            "reference_rate": reference,
            "z": z,
            "recent_examples": len(self._shift_spans[0]),
        }

    def last_shift(self, detector: str) -> MeanShift | None:
        shifts = self._shifts[detector]
        return shifts[-1] if shifts else None

    def report(self, now_s: float) -> dict[str, Any]:
        """Everything described in the class docstring, as plain numbers and maps."""
        _, wy, wp = self._total
        span = [count for second, count in self._seconds if second > now_s - self.rate_span_s]
        return {
            "n": self._n,
            "recent": self.recent(),
            "calibration": _ratio(wp, wy),
            "calibration_by_slice": {
                key: {"calibration": _ratio(wp_s, wy_s), "n": n_s, "observed_rate": wy_s / w_s}
                for key, (w_s, wy_s, wp_s, n_s) in sorted(self._slices.items())
            },
            "label_delay_ms": {
                f"p{round(q * 100)}": quantile.get() if self._n else math.nan
                for q, quantile in self._delay.items()
            },
            "label_shift": self.label_shift(),
            "examples_per_s": sum(span) / self.rate_span_s,
            "last_learned_at": self._last_at,
            **{
                f"{name}_drift": {
                    "detections": len(shifts),
                    "last": dataclasses.asdict(shifts[-1]) if shifts else None,
                    "onset": dataclasses.asdict(self._onsets[name]) if shifts else None,
                }
                for name, shifts in self._shifts.items()
            },
        }


class _LabelSpan:
    """Consecutive examples' ``(weight, weighted label)``, with running sums of the weights,
    the weighted labels and the squared weights."""

    __slots__ = ("items", "sums")

    def __init__(self) -> None:
        self.items: collections.deque[tuple[float, float]] = collections.deque()
        self.sums = [0.0, 0.0, 0.0]

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: tuple[float, float]) -> None:
        self.items.append(item)
        self._count(item, 1.0)

    def pop(self) -> tuple[float, float]:
        """Remove and return the oldest item."""
        item = self.items.popleft()
        self._count(item, -1.0)
        if not self.items:
            self.sums = [0.0, 0.0, 0.0]  # no float residue in an empty span
        return item

    def _count(self, item: tuple[float, float], sign: float) -> None:
        w, wy = item
        self.sums[0] += sign * w
        self.sums[1] += sign * wy
        self.sums[2] += sign * w * w

    def rate(self) -> float:
        return _ratio(self.sums[1], self.sums[0])

    def effective_size(self) -> float:
        """Kish's effective sample size: ``(sum w)**2 / sum w**2``."""
        return _ratio(self.sums[0] ** 2, self.sums[2])

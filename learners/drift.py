"""A change detector that says which way a monitored stream moved, and by how much."""

from __future__ import annotations

import dataclasses

from river import drift

__all__ = ["MeanShift", "MeanShiftDetector"]


@dataclasses.dataclass(frozen=True, slots=True)
class MeanShift:
    """A change in a stream's mean: ``before`` (the part ADWIN dropped), ``after`` (the recent
    part it kept: the last ``kept`` values, so the change began about that many values ago),
    at the ``n``-th value."""

    n: int
    before: float
    after: float
    kept: int

    @property
    def rose(self) -> bool:
        return self.after > self.before


class MeanShiftDetector:
    """ADWIN over one stream, reporting each change as a :class:`MeanShift`.

    ADWIN (Bifet and Gavaldà, 2007) keeps the longest recent window whose mean is consistent
    with every split of it, and cuts the older part when two sub-windows' means differ by more
    than a bound built from their sizes, the observed variance and a range term that assumes
    values in [0, 1]: so scale still matters (``learners.health`` scales its normalized loss
    for it), though far less than for Page-Hinkley, whose ``delta`` and ``threshold`` are in
    the stream's own units. At the change, the detector compares the dropped part's mean with
    the kept part's.

    Parameters
    ----------
    delta
        ADWIN's confidence: smaller means fewer false alarms and later detections. 1e-4 kept a
        100,000-query stationary run free of alarms (see ``tests``); River's default is 2e-3.
    direction
        ``"up"``: report only rises (a loss: falling is the model learning); ``"both"``.
    min_relative_change
        Ignore changes smaller than this fraction of the larger of the two means' magnitudes.

    Examples
    --------
    >>> import random
    >>> from learners.drift import MeanShiftDetector
    >>> rng = random.Random(7)
    >>> detector = MeanShiftDetector(direction="up")
    >>> shifts = [detector.update(rng.gauss(1.0 if i < 3000 else 1.5, 0.3)) for i in range(6000)]
    >>> [(s.n, round(s.before, 2), round(s.after, 2)) for s in shifts if s]
    [(3072, 1.0, 1.14)]

    Falling is not reported upwards:

    >>> detector = MeanShiftDetector(direction="up")
    >>> [s for s in (detector.update(1.5 if i < 3000 else 1.0) for i in range(6000)) if s]
    []

    """

    def __init__(
        self, *, delta: float = 1e-4, direction: str = "up", min_relative_change: float = 0.1
    ) -> None:
        if direction not in ("up", "both"):
            raise ValueError(f"direction must be 'up' or 'both', got {direction!r}")
        self.delta = delta
        self.direction = direction
        self.min_relative_change = min_relative_change
        self._adwin = drift.ADWIN(delta=delta)
        self._n = 0

    def update(self, x: float) -> MeanShift | None:
        """Add one value; the change it completes, if any (and in the watched direction)."""
        adwin = self._adwin
        width, total = adwin.width, adwin.total
        if adwin.drift_detected:  # ADWIN forgets everything on the update after a change
            width, total = 0, 0.0
        adwin.update(x)
        self._n += 1
        if not adwin.drift_detected:
            return None
        kept, kept_total = int(adwin.width), adwin.total
        dropped = width + 1 - kept
        if dropped <= 0 or kept <= 0:
            return None
        shift = MeanShift(self._n, (total + x - kept_total) / dropped, kept_total / kept, kept)
        scale = max(abs(shift.before), abs(shift.after))
        if abs(shift.after - shift.before) < self.min_relative_change * scale:
            return None
        if self.direction == "up" and not shift.rose:
            return None
        return shift

"""Population stability of served scores: each window of scores against the window before."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

__all__ = ["ScoreDistribution", "psi"]

_SMOOTHING = 1e-4  # share given to an empty bin, so an empty bin costs a bounded amount


def _logit_edges(bins: int, low: float = -9.0, high: float = 3.0) -> list[float]:
    """Probability edges evenly spaced in log-odds: click scores live far below 0.5."""
    step = (high - low) / bins
    return [1.0 / (1.0 + math.exp(-(low + step * i))) for i in range(1, bins)]


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index ``sum (c - r) ln(c / r)`` of two histograms (any counts).

    Above 0.25 is the usual "major shift", below 0.1 "no significant change".

    >>> round(psi([50, 30, 20], [50, 30, 20]), 6), round(psi([50, 30, 20], [20, 30, 50]), 3)
    (0.0, 0.55)
    """
    r_total, c_total = sum(reference), sum(current)
    if not r_total or not c_total:
        return math.nan
    index = 0.0
    for r, c in zip(reference, current, strict=True):
        r_share = max(r / r_total, _SMOOTHING)
        c_share = max(c / c_total, _SMOOTHING)
        index += (c_share - r_share) * math.log(c_share / r_share)
    return index


class ScoreDistribution:
    """Histograms of served scores in consecutive windows of ``window`` scores, and the PSI of
    the last complete window against the one before it (the reference).

    Comparing each window with the previous one flags abrupt changes in what is served (a new
    model version, a shift of the traffic) and lets a model that learns slowly drift without
    alarm. Bins are evenly spaced in log-odds over [-9, 3], so probabilities of 0.0001 to 0.95
    are resolved alike.

    Parameters
    ----------
    window
        Scores per window.
    bins
        Histogram bins.

    Examples
    --------
    >>> import random
    >>> from learners.psi import ScoreDistribution
    >>> rng = random.Random(7)
    >>> scores = ScoreDistribution(window=1000)
    >>> scores.update_many(rng.betavariate(2, 40) for _ in range(2000))
    >>> round(scores.psi, 3)
    0.025
    >>> scores.update_many(rng.betavariate(2, 15) for _ in range(1000))  # scores rise
    >>> round(scores.psi, 2), scores.windows
    (1.74, 3)

    """

    def __init__(self, *, window: int = 20_000, bins: int = 24) -> None:
        if window < 1 or bins < 2:
            raise ValueError(f"need window >= 1 and bins >= 2, got {window}, {bins}")
        self.window = window
        self.bins = bins
        self._edges = _logit_edges(bins)
        self._current = [0] * bins
        self._filled = 0
        self._previous: list[int] | None = None
        self._last: list[int] | None = None
        self._windows = 0

    def update_many(self, scores: Iterable[float]) -> None:
        """Add served scores (probabilities)."""
        edges, current = self._edges, self._current
        for score in scores:
            current[bisect.bisect_right(edges, score)] += 1
            self._filled += 1
            if self._filled == self.window:
                self._previous, self._last = self._last, current
                current = self._current = [0] * self.bins
                self._filled = 0
                self._windows += 1

    @property
    def windows(self) -> int:
        """Complete windows so far."""
        return self._windows

    @property
    def psi(self) -> float:
        """PSI of the last complete window against the one before; ``nan`` before two."""
        if self._previous is None or self._last is None:
            return math.nan
        return psi(self._previous, self._last)

    def histogram(self) -> list[int]:
        """The last complete window's counts per bin (empty before the first)."""
        return list(self._last or [])

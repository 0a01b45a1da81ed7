"""Combine per-objective scores into one ranking score: ``alpha * quality + beta * engagement``.

Each objective's scores are first normalized over the query's candidates (see `combine`), so
the weights trade relative advantages whatever each model's scale.

Examples
--------
>>> from learners.combiner import Weights, combine, rank
>>> weights = Weights(alpha=0.5, beta=1.0, version=3)
>>> combined = combine({"quality": [0.2, 0.9, 0.4], "engagement": [0.05, 0.01, 0.30]}, weights)
>>> [round(c, 4) for c in combined]
[0.6167, 0.9833, 2.9]
>>> rank(["a1", "a2", "a3"], combined)
[2, 1, 0]

"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real

from learners.errors import InvalidWeightsError, MissingObjectiveError

__all__ = [
    "ENGAGEMENT",
    "ENGAGEMENT_ONLY",
    "QUALITY",
    "Weights",
    "combine",
    "normalize",
    "rank",
]

QUALITY = "quality"
ENGAGEMENT = "engagement"


@dataclass(frozen=True, slots=True)
class Weights:
    """Versioned combiner weights, validated on creation.

    Parameters
    ----------
    alpha
        Weight of the quality score; finite and >= 0.
    beta
        Weight of the engagement (click) score; finite and >= 0. Not both zero.
    version
        Monotonic version, recorded with every ranking so a result names the weights used.

    Raises
    ------
    InvalidWeightsError
        If a weight is not a finite non-negative number, both are zero, or ``version`` is not a
        non-negative int.

    Examples
    --------
    >>> Weights(alpha=0.0, beta=0.0, version=1)
    Traceback (most recent call last):
    ...
    learners.errors.InvalidWeightsError: alpha and beta are both 0: nothing would be ranked

    """

    alpha: float
    beta: float
    version: int

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise InvalidWeightsError(f"{name} must be a real number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise InvalidWeightsError(f"{name} must be finite and >= 0, got {value!r}")
        if self.alpha == 0 and self.beta == 0:
            raise InvalidWeightsError("alpha and beta are both 0: nothing would be ranked")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 0:
            raise InvalidWeightsError(f"version must be an int >= 0, got {self.version!r}")


ENGAGEMENT_ONLY = Weights(alpha=0.0, beta=1.0, version=0)


def normalize(column: Sequence[float]) -> list[float]:
    """One objective's scores over a query's candidates, divided by their mean absolute value.

    For non-negative scores (probabilities, ratings) this is the ratio to the column's mean:
    the normalized column has mean 1, and 1.2 means "20% above this query's average". The
    divisor is positive, so the order of the scores is kept (in floats, two scores within a few
    ulps of each other may round to one quotient and tie), and it scales with the scores, so
    multiplying a column by a positive constant leaves its normalized form unchanged (exactly
    for a power of two, to rounding otherwise).

    The mean is taken over the finite scores only: a NaN stays NaN (and ranks last) without
    spoiling its neighbours, an infinity stays infinite. A column whose finite scores are all 0
    (or that has none) is returned unchanged, so zeros stay zeros.

    Examples
    --------
    >>> normalize([0.2, 0.9, 0.4])
    [0.4, 1.8, 0.8]
    >>> normalize([0.0, 0.0]), normalize([])
    ([0.0, 0.0], [])
    >>> normalize([0.1, float("nan"), 0.3])
    [0.5, nan, 1.5]

    """
    finite = [abs(s) for s in column if math.isfinite(s)]
    # Dividing before summing cannot overflow; fsum adds without accumulating rounding error.
    scale = math.fsum(a / len(finite) for a in finite) if finite else 0.0
    if scale == 0.0:
        return [float(s) for s in column]
    return [s / scale for s in column]


def combine(scores: Mapping[str, Sequence[float]], weights: Weights) -> list[float]:
    """Combined score per candidate: ``alpha * norm(quality) + beta * norm(engagement)``.

    Parameters
    ----------
    scores
        Per-objective scores, one per candidate of a single query, in the same order:
        ``"quality"`` and ``"engagement"``. An objective whose weight is 0 is ignored and may
        be absent; other keys are ignored.
    weights
        The weights to apply.

    Raises
    ------
    MissingObjectiveError
        If an objective with a positive weight has no scores.
    ValueError
        If the objectives used do not score the same number of candidates.

    Notes
    -----
    Normalization is per query and per objective: each column is divided by its mean (its
    mean absolute value, which is the same thing for the non-negative scores the models
    produce), see `normalize`. Every normalized column then has mean 1 over the query's
    candidates, and the weights trade *relative* advantages: when ``alpha == beta``, a
    candidate 10% above the query's average quality gains as much as one 10% above its average
    engagement, whether the quality model predicts ratings near 0.7 and the click model
    probabilities near 0.02. Consequences:

    - Multiplying one objective's scores by a positive constant (a recalibrated model, a
      rating scale from 0-1 to 0-5) does not change the combined scores or the ranking.
    - With a single positive weight the ranking is the ordering by that objective (the divisor
      is positive), so `ENGAGEMENT_ONLY` ranks by click probability, as before normalization.
    - Combined scores compare candidates within one query; they are not comparable across
      queries, nor are they probabilities.

    """
    combined: list[float] | None = None
    for objective, weight in ((QUALITY, weights.alpha), (ENGAGEMENT, weights.beta)):
        if weight == 0:
            continue
        column = scores.get(objective)
        if column is None:
            raise MissingObjectiveError(objective)
        if combined is not None and len(column) != len(combined):
            raise ValueError(
                f"{objective!r} scores {len(column)} candidates, the previous objective "
                f"{len(combined)}"
            )
        weighted = [weight * s for s in normalize(column)]
        if combined is None:
            combined = weighted
        else:
            combined = [c + s for c, s in zip(combined, weighted, strict=True)]
    assert combined is not None  # Weights guarantees a positive weight
    return combined


def rank(ad_ids: Sequence[str], combined: Sequence[float]) -> list[int]:
    """Indices of the candidates by descending combined score; ties keep the original order.

    NaN scores rank last.

    Raises
    ------
    ValueError
        If ``ad_ids`` and ``combined`` differ in length.

    Examples
    --------
    >>> rank(["a", "b", "c", "d"], [0.1, float("nan"), 0.3, 0.1])
    [2, 0, 3, 1]

    """
    if len(ad_ids) != len(combined):
        raise ValueError(f"{len(ad_ids)} ad ids but {len(combined)} combined scores")
    inf = math.inf
    return sorted(
        range(len(combined)), key=lambda i: -combined[i] if combined[i] == combined[i] else inf
    )

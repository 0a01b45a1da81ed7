"""Combine per-objective scores into one ranking score: ``alpha * quality + beta * engagement``.

Examples
--------
>>> from learners.combiner import Weights, combine, rank
>>> weights = Weights(alpha=0.5, beta=1.0, version=3)
>>> combined = combine({"quality": [0.2, 0.9, 0.4], "engagement": [0.05, 0.01, 0.30]}, weights)
>>> [round(c, 2) for c in combined]
[0.15, 0.46, 0.5]
>>> rank(["a1", "a2", "a3"], combined)
[2, 1, 0]

"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real

from learners.errors import InvalidWeightsError, MissingObjectiveError

__all__ = ["ENGAGEMENT", "ENGAGEMENT_ONLY", "QUALITY", "Weights", "combine", "rank"]

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


def combine(scores: Mapping[str, Sequence[float]], weights: Weights) -> list[float]:
    """Combined score per candidate: ``alpha * quality + beta * engagement``.

    Parameters
    ----------
    scores
        Per-objective scores, one per candidate in the same order: ``"quality"`` and
        ``"engagement"``. An objective whose weight is 0 is ignored and may be absent; other
        keys are ignored.
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
    Scores are used as given: the caller must put them on comparable scales. A later change
    normalizes each objective's scores before weighting, so that ``alpha`` and ``beta`` mean the
    same whatever each model's scale; that happens per column, where the loop below reads it.

    """
    combined: list[float] | None = None
    for objective, weight in ((QUALITY, weights.alpha), (ENGAGEMENT, weights.beta)):
        if weight == 0:
            continue
        column = scores.get(objective)
        if column is None:
            raise MissingObjectiveError(objective)
        if combined is None:
            combined = [weight * s for s in column]
        elif len(column) != len(combined):
            raise ValueError(
                f"{objective!r} scores {len(column)} candidates, the previous objective "
                f"{len(combined)}"
            )
        else:
            combined = [c + weight * s for c, s in zip(combined, column, strict=True)]
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

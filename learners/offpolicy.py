"""Off-policy estimates of click-through rate and quality for combiner weights, from logs.

Each logged query records the candidates' scores, the one ad the logging policy showed, the
probability it had of showing that ad, the click, and the rating if one was given. The policy
being evaluated shows the top ad of ``rank(ad_ids, combine(scores, weights))``; inverse
propensity scoring (IPS) reweights the queries where it agrees with the log.

Assumptions
-----------
- The logged propensities are correct and > 0 for every ad the evaluated policy could show
  (a deterministic logging policy, propensity 1, only supports evaluating itself).
- The scores are those the logging system saw when it chose, so the evaluated policy's choice
  is the one it would have made then.
- Ratings are missing at random among shown ads: whether a shown ad is rated does not depend
  on its quality.
- One ad is shown per query, so position effects are ignored.

Examples
--------
A uniform logging policy over two candidates; the engagement-only policy shows ``b`` in the
first query (clicked), ``a`` in the second (shown, not clicked) and ``a`` in the third (not shown):

>>> from learners.combiner import ENGAGEMENT_ONLY
>>> from learners.offpolicy import LoggedQuery, evaluate
>>> scores = {"engagement": [0.1, 0.3], "quality": [0.9, 0.2]}
>>> logged = [
...     LoggedQuery("e1", ("a", "b"), scores, "b", 0.5, True, 0.4),
...     LoggedQuery("e2", ("a", "b"), {"engagement": [0.3, 0.1]}, "a", 0.5, False, 1.0),
...     LoggedQuery("e3", ("a", "b"), {"engagement": [0.3, 0.1]}, "b", 0.5, True, None),
... ]
>>> estimate = evaluate(logged, ENGAGEMENT_ONLY)
>>> estimate.matches, round(estimate.ctr, 4), round(estimate.ctr_se, 4), estimate.quality
(2, 0.6667, 0.6667, 0.7)

"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from learners.combiner import Weights, combine, rank

__all__ = ["Estimate", "LoggedQuery", "evaluate", "pareto_front", "sweep"]


@dataclass(frozen=True, slots=True)
class LoggedQuery:
    """One logged query: candidates and their scores, the ad shown, and what happened.

    Parameters
    ----------
    event_id
        The query's event id.
    ad_ids
        Candidate ad ids, unique, in the order of the score columns.
    scores
        Per-objective scores (``"quality"``, ``"engagement"``), one per candidate, as the
        logging system saw them.
    shown
        The ad the logging policy showed; one of ``ad_ids``.
    propensity
        Probability the logging policy had of showing ``shown``, in (0, 1].
    clicked
        Whether the shown ad was clicked.
    quality
        The shown ad's rating in [0, 1], or None if it was not rated.

    Raises
    ------
    ValueError
        If a field is out of range or the record is inconsistent.

    """

    event_id: str
    ad_ids: tuple[str, ...]
    scores: Mapping[str, Sequence[float]]
    shown: str
    propensity: float
    clicked: bool
    quality: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ad_ids", tuple(self.ad_ids))
        if len(set(self.ad_ids)) != len(self.ad_ids):
            raise ValueError(f"{self.event_id}: ad_ids must be unique, got {self.ad_ids!r}")
        if self.shown not in self.ad_ids:
            raise ValueError(f"{self.event_id}: shown ad {self.shown!r} is not a candidate")
        for objective, column in self.scores.items():
            if len(column) != len(self.ad_ids):
                raise ValueError(
                    f"{self.event_id}: {objective!r} scores {len(column)} candidates, "
                    f"not {len(self.ad_ids)}"
                )
        if not 0.0 < self.propensity <= 1.0:  # also rejects NaN
            raise ValueError(
                f"{self.event_id}: propensity must be in (0, 1], got {self.propensity!r}"
            )
        if self.quality is not None and not 0.0 <= self.quality <= 1.0:
            raise ValueError(f"{self.event_id}: quality must be in [0, 1], got {self.quality!r}")


@dataclass(frozen=True, slots=True)
class Estimate:
    """The off-policy estimate for one weight set.

    Attributes
    ----------
    weights
        The weights evaluated.
    n
        Number of logged queries.
    matches
        Logged queries whose shown ad is the one the evaluated policy would show.
    ctr
        IPS estimate of the click-through rate: the mean over all logged queries of
        ``1[top == shown] * clicked / propensity``. Unbiased under the module's assumptions;
        not clipped, so it can exceed 1 on small samples. ``nan`` if ``n`` is 0.
    ctr_se
        Approximate standard error of ``ctr``: the sample standard deviation of the per-query
        terms over ``sqrt(n)``. ``nan`` if ``n < 2``.
    quality
        Self-normalized IPS estimate of the mean rating of the ads the policy would show, over
        rated queries: ``sum(1[top == shown] * quality / propensity)`` divided by
        ``sum(1[top == shown] / propensity)``. Consistent, slightly biased in small samples,
        always within [0, 1]. ``nan`` if no rated query matches.
    rated_matches
        Rated logged queries that match (the quality estimate rests on these).

    """

    weights: Weights
    n: int
    matches: int
    ctr: float
    ctr_se: float
    quality: float
    rated_matches: int


class _Accumulator:
    """Running sums for one weight set; Welford's update for the CTR terms' variance."""

    __slots__ = ("matches", "mean", "n", "q_den", "q_num", "rated_matches", "sq", "weights")

    def __init__(self, weights: Weights) -> None:
        self.weights = weights
        self.n = self.matches = self.rated_matches = 0
        self.mean = self.sq = self.q_num = self.q_den = 0.0

    def add(self, query: LoggedQuery) -> None:
        top = rank(query.ad_ids, combine(query.scores, self.weights))[0]
        match = query.ad_ids[top] == query.shown
        term = (1.0 / query.propensity if query.clicked else 0.0) if match else 0.0
        self.n += 1
        delta = term - self.mean
        self.mean += delta / self.n
        self.sq += delta * (term - self.mean)
        if match:
            self.matches += 1
            if query.quality is not None:
                self.rated_matches += 1
                self.q_num += query.quality / query.propensity
                self.q_den += 1.0 / query.propensity

    def estimate(self) -> Estimate:
        n = self.n
        return Estimate(
            weights=self.weights,
            n=n,
            matches=self.matches,
            ctr=self.mean if n else math.nan,
            ctr_se=math.sqrt(self.sq / (n - 1) / n) if n > 1 else math.nan,
            quality=self.q_num / self.q_den if self.q_den > 0 else math.nan,
            rated_matches=self.rated_matches,
        )


def sweep(logged: Iterable[LoggedQuery], grid: Iterable[Weights]) -> list[Estimate]:
    """Estimates for every weight set of ``grid``, in its order, in one pass over ``logged``.

    ``logged`` may be a one-shot iterator; memory grows with the grid, not the log.

    Raises
    ------
    MissingObjectiveError
        If a logged query lacks the scores of an objective some weight set uses.
    ValueError
        If a logged query's score columns disagree in length.

    """
    accumulators = [_Accumulator(weights) for weights in grid]
    for query in logged:
        for accumulator in accumulators:
            accumulator.add(query)
    return [accumulator.estimate() for accumulator in accumulators]


def evaluate(logged: Iterable[LoggedQuery], weights: Weights) -> Estimate:
    """The off-policy `Estimate` for one weight set; see `sweep`."""
    return sweep(logged, [weights])[0]


def pareto_front(estimates: Sequence[Estimate]) -> list[bool]:
    """Whether each estimate is Pareto-optimal in (CTR, quality), in the input order.

    A point is dominated if another has CTR >= and quality >= with one strictly greater; equal
    points do not dominate each other, so duplicates on the front are all marked. A point with
    a NaN CTR or quality is never on the front and dominates nothing. Quadratic in the number
    of points, which suits weight grids.

    Examples
    --------
    >>> from learners.offpolicy import Estimate, pareto_front
    >>> from learners.combiner import ENGAGEMENT_ONLY
    >>> points = [(0.10, 0.5), (0.08, 0.7), (0.07, 0.6), (0.10, 0.5)]
    >>> pareto_front([Estimate(ENGAGEMENT_ONLY, 1, 1, c, 0.0, q, 1) for c, q in points])
    [True, True, False, True]

    """
    points = [
        (e.ctr, e.quality) if not (math.isnan(e.ctr) or math.isnan(e.quality)) else None
        for e in estimates
    ]
    valid = [p for p in points if p is not None]
    return [
        p is not None
        and not any(c >= p[0] and q >= p[1] and (c > p[0] or q > p[1]) for c, q in valid)
        for p in points
    ]

"""The counters of one simulated run: queries, answers, latencies, clicks, category hits and
the business figures (impressions, CTR, shown quality) per weight version.

:class:`~producers.simulator.Simulator` fills a :class:`SimulationStats` while it runs; the
demo's live view and summary read it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from producers.world import WorldChange

__all__ = ["SimulationStats"]


@dataclasses.dataclass(slots=True)
class _VersionTally:
    """What the traffic ranked under one weight version got: impressions, clicks, quality."""

    alpha: float
    beta: float
    impressions: int = 0
    clicks: int = 0
    quality_sum: float = 0.0


@dataclasses.dataclass(slots=True)
class SimulationStats:
    """Counters of one run; ``latencies_ms`` holds one sample per answered query.

    ``changes_applied`` pairs each applied change with the wall time (ms) it was applied at;
    the queries whose ``ts`` is at least ``started_ms + 1000 * change.at_s`` saw it.
    ``category_hits`` maps (start of a ``category_bucket_ms`` bucket of query time, true leaf)
    to ``[hits, scored]``: of the predictions with a ``category`` map, how many put the true
    leaf first. Its size is bounded by leaves x buckets, whatever the query rate.
    ``timed_out`` counts the queries without a ranking within the front-end's deadline (it
    showed no ad for them), ``late_predictions`` and ``late_rankings`` the answers to them
    that came after it.
    ``explored`` counts the impressions the ``"explore"`` arm chose. Per weight version, see
    :meth:`business`; at most ``business_max_versions`` (the highest) are kept, and shown
    rankings whose ``weights`` lack an integer ``version`` or numeric ``alpha`` and ``beta``
    are counted in ``unversioned_rankings`` instead.
    """

    queries_sent: int = 0
    predictions_received: int = 0
    rankings_received: int = 0
    impressions: int = 0
    clicks: int = 0
    clicks_sent: int = 0
    late_clicks_sent: int = 0
    clicks_pending: int = 0
    bad_messages: int = 0
    unmatched: int = 0
    send_errors: int = 0
    expected_clicks: float = 0.0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    labels_sent: int = 0
    labels_pending: int = 0
    started_ms: int = 0
    changes_applied: list[tuple[WorldChange, int]] = dataclasses.field(default_factory=list)
    category_bucket_ms: int = 1_000
    category_hits: dict[tuple[int, str], list[int]] = dataclasses.field(default_factory=dict)
    explored: int = 0
    ratings_sent: int = 0
    ratings_pending: int = 0
    unversioned_rankings: int = 0
    impressions_lost: int = 0
    misattributed_clicks: int = 0
    timed_out: int = 0
    late_predictions: int = 0
    late_rankings: int = 0
    business_max_versions: int = 64
    _business: dict[int, _VersionTally] = dataclasses.field(default_factory=dict)

    def unanswered(self) -> int:
        """Queries sent that have no prediction (yet)."""
        return self.queries_sent - self.predictions_received

    def latency_ms(self, percentile: float) -> float:
        """A percentile (0-100) of query-to-prediction latency; NaN before any sample."""
        if not self.latencies_ms:
            return math.nan
        return float(np.percentile(self.latencies_ms, percentile))

    def expected_ctr(self) -> float:
        """Mean hidden click probability of the ads shown: the CTR the ranking deserves."""
        return self.expected_clicks / self.impressions if self.impressions else math.nan

    def realized_ctr(self) -> float:
        """Clicks drawn per impression (pending clicks included)."""
        return self.clicks / self.impressions if self.impressions else math.nan

    def record_category(self, ts_ms: int, leaf: str, hit: bool) -> None:
        """Count one scored category prediction for a query of time ``ts_ms``."""
        bucket = ts_ms - ts_ms % self.category_bucket_ms
        counts = self.category_hits.setdefault((bucket, leaf), [0, 0])
        counts[0] += hit
        counts[1] += 1

    def category_accuracy(
        self, *, leaf: str | None = None, since_ms: int | None = None, until_ms: int | None = None
    ) -> float:
        """Share of scored predictions whose best path was the true leaf; NaN if none.

        Restricted to one true ``leaf`` and to buckets starting in ``[since_ms, until_ms)``.
        """
        hits = scored = 0
        for (bucket, true_leaf), (bucket_hits, bucket_scored) in self.category_hits.items():
            if leaf is not None and true_leaf != leaf:
                continue
            if (since_ms is not None and bucket < since_ms) or (
                until_ms is not None and bucket >= until_ms
            ):
                continue
            hits += bucket_hits
            scored += bucket_scored
        return hits / scored if scored else math.nan

    def record_business(
        self, version: int, *, alpha: float, beta: float, clicked: bool, quality: float
    ) -> None:
        """Count one impression shown for a ranking made with weight ``version``.

        A version keeps the ``alpha`` and ``beta`` of its first impression. Beyond
        ``business_max_versions`` versions the lowest (oldest) is forgotten, and an impression
        of a version older than all those kept is not counted.
        """
        tally = self._business.get(version)
        if tally is None:
            if len(self._business) >= self.business_max_versions:
                oldest = min(self._business)
                if version < oldest:
                    return
                del self._business[oldest]
            tally = self._business[version] = _VersionTally(alpha=alpha, beta=beta)
        tally.impressions += 1
        tally.clicks += clicked
        tally.quality_sum += quality

    def business(self) -> dict[int, dict[str, float]]:
        """Per weight version, in version order: ``impressions``, ``ctr`` (clicks drawn per
        impression), ``mean_quality`` (true quality of the shown ads), ``alpha`` and ``beta``."""
        return {
            version: {
                "impressions": tally.impressions,
                "ctr": tally.clicks / tally.impressions,
                "mean_quality": tally.quality_sum / tally.impressions,
                "alpha": tally.alpha,
                "beta": tally.beta,
            }
            for version, tally in sorted(self._business.items())
        }

    def category_by_leaf(self) -> dict[str, tuple[int, int]]:
        """``(hits, scored)`` per true leaf over the whole run."""
        totals: dict[str, list[int]] = {}
        for (_, leaf), (hits, scored) in self.category_hits.items():
            counts = totals.setdefault(leaf, [0, 0])
            counts[0] += hits
            counts[1] += scored
        return {leaf: (hits, scored) for leaf, (hits, scored) in sorted(totals.items())}

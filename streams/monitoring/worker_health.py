"""The health of one worker: its models' figures, its served scores, its inputs, its alerts.

The learner hands every example it learns, with the prediction made before learning, to
:meth:`WorkerHealth.observe_example` (a click or rating model) or :meth:`observe_guess` (the
category model); serve hands the scores it serves to
:meth:`observe_scores`. Each report tick (``metrics_interval_s``) :meth:`tick` samples the
input counters, evaluates the rules of :mod:`streams.monitoring.alerting` and returns the per-model
health records for ``metrics`` and the alert records for ``alerts``. The health is not in the
snapshots: it describes this worker's run, and restarts with it.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from learners.category_health import CategoryGuess, CategoryHealth
from learners.health import ModelHealth
from learners.psi import ScoreDistribution
from streams.monitoring import alerting
from streams.monitoring.alerting import AlertBook, AlertKey, AlertPolicy, Evidence
from streams.monitoring.counters import Counters

if TYPE_CHECKING:
    from streams.wire.settings import Settings

__all__ = ["INPUTS", "WorkerHealth"]

#: Input topics whose rates are watched (counted as ``read.<topic>`` by the agents).
INPUTS = ("queries", "impressions", "clicks", "ratings", "query-labels", "examples")
_RECENT_S = 5.0
_REFERENCE_S = 60.0
_DEAD_LETTER_SPAN_S = 10.0
_Health = TypeVar("_Health", ModelHealth, CategoryHealth)


class WorkerHealth:
    """Per-model :class:`ModelHealth` (:class:`CategoryHealth` for the category model) and
    :class:`ScoreDistribution`, input rates, alerts."""

    def __init__(self, settings: Settings, counters: Counters, worker: str) -> None:
        self.policy = AlertPolicy(
            stale_after_s=settings.stale_after_s, warmup_examples=settings.alert_warmup_examples
        )
        self._counters = counters
        self.models: dict[str, ModelHealth | CategoryHealth] = {}
        self.scores: dict[str, ScoreDistribution] = {}
        self.book = AlertBook(worker)
        self._samples: collections.deque[tuple[float, dict[str, int]]] = collections.deque()

    # ------------------------------------------------------------------ observing

    def observe_example(
        self, name: str, example: dict[str, Any], p: float, weight: float, now_s: float
    ) -> None:
        """One learned example of a model scored in [0, 1], its prediction and population
        weight."""
        self._health(name, ModelHealth).update(
            example["label"],
            p,
            weight,
            at_s=now_s,
            delay_ms=example["ts_label"] - example["ts_event"],
            slices=example.get("slices"),
        )

    def observe_guess(
        self, name: str, example: dict[str, Any], guess: CategoryGuess, now_s: float
    ) -> None:
        """One learned example of a multiclass model (the category model) and its guess."""
        self._health(name, CategoryHealth).update(
            example["label"],
            guess,
            at_s=now_s,
            delay_ms=example["ts_label"] - example["ts_event"],
        )

    def _health(self, name: str, kind: type[_Health]) -> _Health:
        health = self.models.get(name)
        if not isinstance(health, kind):
            health = self.models[name] = kind()
        return health

    def observe_scores(self, name: str, scores: Iterable[float]) -> None:
        """Scores served by a model past its warm-up (callers check the version)."""
        distribution = self.scores.get(name)
        if distribution is None:
            distribution = self.scores[name] = ScoreDistribution()
        distribution.update_many(scores)

    # ------------------------------------------------------------------ reporting

    def _sample(self, now_s: float) -> None:
        counts = {name: self._counters[f"read.{name}"] for name in INPUTS}
        counts["dead_letters"] = self._counters["dead_letters"]
        self._samples.append((now_s, counts))
        while self._samples and self._samples[0][0] < now_s - _REFERENCE_S - _RECENT_S - 1:
            self._samples.popleft()

    def _delta(self, name: str, since_s: float, until_s: float) -> tuple[int, float]:
        """Count of ``name`` between the samples nearest ``since_s`` and ``until_s``."""
        first = next((s for s in self._samples if s[0] >= since_s), None)
        last = next((s for s in reversed(self._samples) if s[0] <= until_s), None)
        if first is None or last is None or last[0] <= first[0]:
            return 0, 0.0
        return last[1][name] - first[1][name], last[0] - first[0]

    def rate(self, name: str, span_s: float, now_s: float, lag_s: float = 0.0) -> float:
        count, elapsed = self._delta(name, now_s - lag_s - span_s, now_s - lag_s)
        return count / elapsed if elapsed else 0.0

    def model_reports(self, now_s: float) -> dict[str, dict[str, Any]]:
        reports = {name: health.report(now_s) for name, health in self.models.items()}
        for name, distribution in self.scores.items():
            reports.setdefault(name, {})["psi"] = distribution.psi
        return reports

    def tick(
        self,
        now_s: float,
        ts_ms: int,
        last_snapshot_s: dict[str, float],
        actions: Mapping[AlertKey, Evidence | None],
    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """Sample the counters, evaluate every rule; the health per model and the alert
        records raised or cleared since the last tick. ``actions`` are the automatic actions
        under way (:meth:`streams.control.responses.Responder.in_effect`), each an alert while
        it is."""
        self._sample(now_s)
        reports = self.model_reports(now_s)
        for name, seconds in last_snapshot_s.items():
            reports.setdefault(name, {})["seconds_since_snapshot"] = seconds
        active, checked = self._conditions(reports, now_s)
        checked.update(actions)
        active.update({key: evidence for key, evidence in actions.items() if evidence is not None})
        records = self.book.update(active, ts_ms, checked)
        return reports, records

    def _conditions(
        self, reports: dict[str, dict[str, Any]], now_s: float
    ) -> tuple[dict[AlertKey, Evidence], set[AlertKey]]:
        policy, book = self.policy, self.book
        active: dict[AlertKey, Evidence] = {}
        checked: set[AlertKey] = set()

        def check(kind: str, subject: str, evidence: Evidence | None) -> None:
            checked.add((kind, subject))
            if evidence is not None:
                active[kind, subject] = evidence

        serving = self.rate("queries", _RECENT_S, now_s) > 0
        for name, health in self.models.items():
            report = reports[name]
            check("loss_drift", name, alerting.loss_drift(report, policy))
            if isinstance(health, ModelHealth):  # a click or rating: a label rate, a residual
                raised = book.is_raised("label_shift", name)
                check("label_shift", name, alerting.label_shift(report, policy, raised))
                raised = book.is_raised("calibration_drift", name)
                check("calibration_drift", name, alerting.calibration_drift(report, policy, raised))
            raised = book.is_raised("no_skill", name)
            check("no_skill", name, alerting.no_skill(report, policy, raised))
            check("stale", name, alerting.stale(report["last_learned_at"], now_s, serving, policy))
        for name, distribution in self.scores.items():
            check(
                "score_shift",
                name,
                alerting.score_shift(distribution.psi, policy, book.is_raised("score_shift", name)),
            )
        if len(self._samples) > 1 and now_s - self._samples[0][0] >= _REFERENCE_S:
            for topic in INPUTS:
                recent = self.rate(topic, _RECENT_S, now_s)
                reference = self.rate(topic, _REFERENCE_S, now_s, lag_s=_RECENT_S)
                check(
                    "input_rate_collapse",
                    topic,
                    alerting.input_rate_collapse(
                        recent, reference, policy, book.evidence("input_rate_collapse", topic)
                    ),
                )
        dead, _ = self._delta("dead_letters", now_s - _DEAD_LETTER_SPAN_S, now_s)
        inputs = sum(self._delta(t, now_s - _DEAD_LETTER_SPAN_S, now_s)[0] for t in INPUTS)
        check("dead_letter_rate", "all", alerting.dead_letter_rate(dead, inputs, policy))
        return active, checked

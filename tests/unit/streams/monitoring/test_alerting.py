"""Alert rules raise on their condition and clear when it stops; the book records both;
the Prometheus view of a health report parses."""

from __future__ import annotations

import random

from prometheus_client.core import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from learners.health import ModelHealth
from streams.monitoring import alerting
from streams.monitoring.alerting import AlertBook, AlertPolicy
from streams.monitoring.prometheus import HealthView, families

POLICY = AlertPolicy()


def _health(calibrated_until: int, n: int, seed: int = 7) -> dict:
    """A model calibrated at a 5 % base rate, then predicting half of it."""
    rng = random.Random(seed)
    health = ModelHealth()
    for i in range(n):
        p = 0.05 if i < calibrated_until else 0.025
        health.update(rng.random() < 0.05, p, at_s=i / 100, delay_ms=rng.uniform(1e3, 9e3))
    return health.report(now_s=n / 100)


def test_a_calibration_break_is_raised_with_its_evidence_and_only_when_off_band():
    assert alerting.calibration_drift(_health(20_000, 20_000), POLICY, raised=False) is None
    assert alerting.calibration_drift(_health(10_000, 15_000), POLICY, raised=False)
    assert (
        alerting.calibration_drift(_health(5_000, 9_000), POLICY, raised=False) is None
    )  # warm-up
    broken = _health(10_000, 15_000)  # as a report tick sees it, soon after the change
    evidence = alerting.calibration_drift(broken, POLICY, raised=False)
    assert evidence is not None and evidence["calibration"] < 0.8
    assert evidence["at_example"] > 10_000


def test_a_detection_during_the_warm_up_does_not_count_after_it():
    """A model that broke at example 5,000 is past its warm-up at 11,000, with its detection
    within the last 5,000 examples; but the detection came while the model was learning from
    scratch."""
    broken = _health(5_000, 11_000)
    assert broken["calibration_drift"]["last"]["n"] < POLICY.warmup_examples
    assert broken["recent"]["calibration"] < 0.8
    assert alerting.calibration_drift(broken, POLICY, raised=False) is None
    late = AlertPolicy(warmup_examples=broken["calibration_drift"]["last"]["n"])
    assert alerting.calibration_drift(broken, late, raised=False) is not None


def test_no_skill_waits_for_the_warm_up_and_has_hysteresis():
    report = {"n": 20_000, "recent": {"ne": 1.01, "n": 5_000}}
    assert alerting.no_skill(report, POLICY, raised=False) is None  # within the NE's noise
    assert alerting.no_skill(report, POLICY, raised=True) is not None  # not yet below 0.99
    assert alerting.no_skill({**report, "recent": {"ne": 1.02, "n": 5_000}}, POLICY, False)
    assert (
        alerting.no_skill({**report, "n": 9_000, "recent": {"ne": 1.5, "n": 5_000}}, POLICY, False)
        is None
    )


def test_no_skill_of_a_click_model_needs_its_ranking_near_chance_too():
    """A weak click model's NE touches 1.02 now and then while it still ranks clicks well;
    labels that no longer belong to their impressions take its AUC to chance as well."""
    unlucky = {"n": 40_000, "recent": {"ne": 1.021, "auc": 0.62, "n": 5_000}}
    assert alerting.no_skill(unlucky, POLICY, raised=False) is None
    corrupted = {**unlucky, "recent": {"ne": 1.03, "auc": 0.5, "n": 5_000}}
    assert alerting.no_skill(corrupted, POLICY, raised=False) == {
        "ne": 1.03,
        "auc": 0.5,
        "window": 5_000,
    }
    recovering = {**unlucky, "recent": {"ne": 1.0, "auc": 0.57, "n": 5_000}}
    assert alerting.no_skill(recovering, POLICY, raised=True) is not None  # both still off
    ranks_again = {**unlucky, "recent": {"ne": 1.0, "auc": 0.59, "n": 5_000}}
    assert alerting.no_skill(ranks_again, POLICY, raised=True) is None


def test_stale_only_while_serving():
    assert alerting.stale(100.0, 200.0, serving=True, policy=POLICY) == {
        "seconds_since_learned": 100.0
    }
    assert alerting.stale(100.0, 200.0, serving=False, policy=POLICY) is None
    assert alerting.stale(100.0, 150.0, serving=True, policy=POLICY) is None


def test_input_rate_collapse_keeps_its_reference_until_the_rate_recovers():
    raised = alerting.input_rate_collapse(5.0, 100.0, POLICY, raised=None)
    assert raised == {"recent_per_s": 5.0, "reference_per_s": 100.0}
    # the reference of the minute before has fallen with the outage: the alert holds
    assert alerting.input_rate_collapse(20.0, 10.0, POLICY, raised=raised) is not None
    assert alerting.input_rate_collapse(60.0, 10.0, POLICY, raised=raised) is None
    assert alerting.input_rate_collapse(0.0, 0.5, POLICY, raised=None) is None  # too quiet


def test_dead_letter_rate_and_score_shift_thresholds():
    assert alerting.dead_letter_rate(9, 10, POLICY) is None  # too few
    assert alerting.dead_letter_rate(20, 1_000, POLICY)["share"] == 0.02
    assert alerting.dead_letter_rate(20, 10_000, POLICY) is None
    assert alerting.score_shift(0.3, POLICY, raised=False) == {"psi": 0.3}
    assert alerting.score_shift(0.2, POLICY, raised=False) is None
    assert alerting.score_shift(0.2, POLICY, raised=True) == {"psi": 0.2}


def test_the_book_raises_once_and_clears_only_what_was_checked():
    book = AlertBook("w1")
    key = ("stale", "click")
    (raised,) = book.update({key: {"seconds_since_learned": 61}}, 1_000, {key})
    assert raised["state"] == "raised" and raised["raised_at"] == 1_000
    assert book.update({key: {"seconds_since_learned": 62}}, 2_000, {key}) == []
    assert book.evidence(*key) == {"seconds_since_learned": 62}
    assert book.update({}, 3_000, set()) == []  # not checked this time: still raised
    (cleared,) = book.update({}, 4_000, {key})
    assert cleared["state"] == "cleared" and cleared["raised_at"] == 1_000
    assert cleared["ts"] == 4_000 and not book.raised


def test_the_prometheus_view_of_a_health_report_parses():
    health = _health(10_000, 20_000)
    health["psi"] = 0.05
    view = HealthView(
        worker="w1",
        models={"click": {"logloss": 0.2, "ne": 0.9, "auc": 0.7, "version": 20_000}},
        health={"click": health},
        counters={"predictions": 5},
        gauges={"rss_bytes": 123_456_789, "join.held": 42},
        alerts=({"kind": "calibration_drift", "model": "click"},),
        now_s=250.0,
    )
    registry = CollectorRegistry(auto_describe=False)

    class Collector:
        def collect(self):
            yield from families(view)

    registry.register(Collector())
    parsed = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert parsed["adstream_model_ne"].samples[0].value == 0.9
    assert parsed["adstream_alert_active"].samples[0].labels["kind"] == "calibration_drift"
    assert parsed["adstream_model_psi"].samples[0].value == 0.05
    gauges = {s.labels["gauge"]: s.value for s in parsed["adstream_gauge"].samples}
    assert gauges == {"rss_bytes": 123_456_789, "join.held": 42}
    assert {s.labels["quantile"] for s in parsed["adstream_model_label_delay_ms"].samples} == {
        "p50",
        "p90",
        "p99",
    }
    assert parsed["adstream_model_seconds_since_learned"].samples[0].value < 51

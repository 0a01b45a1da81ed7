"""Prometheus ``/metrics`` on a loopback port: the figures of the latest report tick.

``ADSTREAM_METRICS_PORT`` (default 9810; 0 turns it off) on 127.0.0.1 only. The HTTP server
runs in a thread of prometheus-client; it reads the :class:`HealthView` the report timer
replaces each tick (a new object each time, never changed in place), so it needs no lock. A
port already in use is logged and the worker runs on without the endpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["HealthView", "MetricsEndpoint", "families"]

log = logging.getLogger(__name__)

#: Progressive metrics of a model's ``kind: model`` report, as gauges.
_MODEL_FIGURES = ("logloss", "ne", "auc", "base_rate", "mean_p", "version", "n")
_RECENT_FIGURES = ("logloss", "ne", "auc", "calibration", "base_rate", "accuracy")


@dataclasses.dataclass(frozen=True, slots=True)
class HealthView:
    """What one report tick published: model reports, health, counters and raised alerts."""

    worker: str = ""
    models: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    health: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    counters: Mapping[str, int] = dataclasses.field(default_factory=dict)
    gauges: Mapping[str, int] = dataclasses.field(default_factory=dict)
    alerts: tuple[Mapping[str, Any], ...] = ()
    now_s: float = 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"adstream_{name}", doc, labels=labels)


def families(view: HealthView) -> list[Metric]:
    """The Prometheus metric families of one view (gauges; NaN figures are left out)."""
    w = view.worker
    out: dict[str, GaugeMetricFamily] = {}

    def add(name: str, doc: str, labels: dict[str, str], value: Any) -> None:
        number = _number(value)
        if number is None:
            return
        family = out.get(name)
        if family is None:
            family = out[name] = _gauge(name, doc, ["worker", *labels])
        family.add_metric([w, *labels.values()], number)

    for model, report in view.models.items():
        for figure in _MODEL_FIGURES:
            add(
                f"model_{figure}",
                f"progressive {figure} of the model",
                {"model": model},
                report.get(figure),
            )
    for model, health in view.health.items():
        labels = {"model": model}
        for figure in _RECENT_FIGURES:
            add(
                f"model_recent_{figure}",
                f"{figure} over the recent window",
                labels,
                health.get("recent", {}).get(figure),
            )
        add(
            "model_calibration",
            "mean predicted over observed rate since the start",
            labels,
            health.get("calibration"),
        )
        for key, figures in health.get("calibration_by_slice", {}).items():
            add(
                "model_slice_calibration",
                "calibration per slice",
                {**labels, "slice": key},
                figures["calibration"],
            )
        for quantile, value in health.get("label_delay_ms", {}).items():
            add(
                "model_label_delay_ms",
                "label delay quantiles (ms)",
                {**labels, "quantile": quantile},
                value,
            )
        add(
            "model_examples_per_second",
            "examples learned per second",
            labels,
            health.get("examples_per_s"),
        )
        last = health.get("last_learned_at")
        if last is not None:
            add(
                "model_seconds_since_learned",
                "staleness: seconds since the last example",
                labels,
                view.now_s - last,
            )
        add(
            "model_seconds_since_snapshot",
            "seconds since the last snapshot",
            labels,
            health.get("seconds_since_snapshot"),
        )
        add(
            "model_psi",
            "PSI of the served scores, window against the window before",
            labels,
            health.get("psi"),
        )
        shift = health.get("label_shift", {})
        for figure in ("recent_rate", "reference_rate", "z"):
            add(
                f"model_label_shift_{figure}",
                f"label shift: {figure.replace('_', ' ')} (recent span against the one before)",
                labels,
                shift.get(figure),
            )
        for stream in ("loss", "calibration"):
            drift = health.get(f"{stream}_drift")
            if drift is not None:
                add(
                    "model_drift_detections",
                    "changes seen by the drift detector",
                    {**labels, "stream": stream},
                    drift["detections"],
                )
        challenger = health.get("challenger")
        for figure in ("logloss", "champion_logloss", "examples") if challenger else ():
            add(
                f"challenger_{figure}",
                f"the running challenger's {figure} (on the examples it and its champion saw)",
                labels,
                challenger[figure],
            )
    for counter, value in sorted(view.counters.items()):
        add("counter", "the worker's cumulative counters", {"counter": counter}, value)
    for gauge, value in sorted(view.gauges.items()):
        add(
            "gauge",
            "what the worker holds now (rss_bytes: its resident memory)",
            {"gauge": gauge},
            value,
        )
    for alert in view.alerts:
        add(
            "alert_active",
            "1 while an alert is raised",
            {"kind": alert["kind"], "subject": alert["model"]},
            1,
        )
    return list(out.values())


class _Collector(Collector):
    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self._endpoint = endpoint

    def collect(self) -> Iterator[Metric]:
        yield from families(self._endpoint.view)


class MetricsEndpoint:
    """Serves the latest :class:`HealthView` on ``http://127.0.0.1:<port>/metrics``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.view = HealthView()
        self._server: Any = None

    def start(self) -> None:
        if not self.port:
            return
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        try:
            self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=registry)
        except OSError as error:
            log.warning("no /metrics endpoint: port %s: %s", self.port, error)
            return
        log.info("Prometheus metrics on http://127.0.0.1:%s/metrics", self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

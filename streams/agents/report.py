"""report: every ``metrics_interval_s``, the worker's counters, each model's metrics and
health on ``metrics``, the alerts raised and cleared on ``alerts``, and the same figures on
the Prometheus endpoint. A learner that drains a backlog asks for a report sooner, every
:data:`~streams.agents.learn.EXAMPLES_PER_REPORT` examples (the ``requested`` event):
alerts, and the responses to them, then come as many examples after a change however fast
the examples arrive."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from streams.agents.io import AgentIO
from streams.control.responses import Responder
from streams.kafka.outbox import now_ms
from streams.models.learner import Learner
from streams.models.registry import ModelRegistry
from streams.monitoring.counters import Counters
from streams.monitoring.prometheus import HealthView, MetricsEndpoint
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.view import Serving
from streams.wire import contracts

__all__ = ["model_metrics", "register", "resident_bytes", "worker_metrics"]


def resident_bytes() -> int | None:
    """This process's resident memory (RSS) now, in bytes; ``None`` without ``/proc``.

    >>> resident_bytes() > 10_000_000  # an interpreter with numpy and River loaded
    True
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def worker_metrics(
    worker: str,
    ts: int,
    counters: Counters,
    gauges: dict[str, int],
    serving: Serving,
    names: list[str],
) -> dict:
    """The worker's cumulative counters, what it holds now (its gauges and resident memory),
    and the versions it serves (and pins) of the models called ``names``."""
    rss = resident_bytes()
    return {
        "v": contracts.SCHEMA_VERSION,
        "kind": "worker",
        "worker": worker,
        "ts": ts,
        "counters": dict(counters),
        "gauges": {**gauges, **({} if rss is None else {"rss_bytes": rss})},
        "serving": {name: serving.version(name) for name in names},
        "pins": {name: pin.version for name, pin in serving.pins.items()},
    }


def model_metrics(worker: str, ts: int, models: ModelRegistry) -> list[dict]:
    """Progressive metrics of every model this worker has learned."""
    return [
        {
            "v": contracts.SCHEMA_VERSION,
            "kind": "model",
            "worker": worker,
            "ts": ts,
            **model.report(),
        }
        for model in (*models.values(), models.category)
        if model.n_learned
    ]


def health_records(worker: str, ts: int, reports: dict[str, dict[str, Any]]) -> list[dict]:
    """One ``kind: health`` record per model this worker learns or serves."""
    return [
        {
            "v": contracts.SCHEMA_VERSION,
            "kind": "health",
            "worker": worker,
            "ts": ts,
            "model": name,
            **report,
        }
        for name, report in reports.items()
    ]


def register(
    io: AgentIO,
    *,
    worker: str,
    models: ModelRegistry,
    serving: Serving,
    learner: Learner,
    health: WorkerHealth,
    responder: Responder,
    requested: asyncio.Event,
) -> None:
    """Report every ``metrics_interval_s``, or as soon as ``requested`` is set; the alerts
    raised or cleared go to the ``responder``."""
    metrics = io.topic_name("metrics")
    alerts = io.topic_name("alerts")
    endpoint = MetricsEndpoint(io.settings.metrics_port)

    @io.app.task
    async def report_every_interval() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(requested.wait(), io.settings.metrics_interval_s)
            if io.app.should_stop:  # a stopping app stops its producer before its tasks:
                return  # a report sent now would crash the worker (exit 1 on SIGTERM)
            requested.clear()
            await report()

    async def report() -> None:
        ts = now_ms()
        now_s = time.time()
        reports, raised_or_cleared = health.tick(
            now_s, ts, learner.seconds_since_snapshot(), responder.in_effect()
        )
        responder.annotate(reports)
        versions = {name: model.version for name, model in models.items()}
        learned = model_metrics(worker, ts, models)
        outbox = io.outbox()
        figures = worker_metrics(worker, ts, io.counters, io.gauges, serving, models.names())
        for record in (figures, *learned):
            outbox.add(metrics, record.get("model", worker), contracts.encode(record))
        for record in health_records(worker, ts, reports):
            outbox.add(metrics, f"health:{record['model']}", contracts.encode(record))
        for alert in raised_or_cleared:
            record = {"v": contracts.SCHEMA_VERSION, **alert}
            outbox.add(alerts, f"{alert['kind']}:{alert['model']}", contracts.encode(record))
        await outbox.flush()
        await responder.respond(raised_or_cleared, versions)
        endpoint.view = HealthView(
            worker=worker,
            models={record["model"]: record for record in learned},
            health=reports,
            counters=dict(io.counters),
            gauges=figures["gauges"],
            alerts=tuple(health.book.raised),
            now_s=now_s,
        )

    async def start_endpoint() -> None:
        endpoint.start()

    io.app.startup_hooks.append(start_endpoint)

    @io.app.on_before_shutdown.connect
    async def stop_endpoint(app: Any, **kwargs: Any) -> None:
        endpoint.stop()

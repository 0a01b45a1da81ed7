"""report: every ``metrics_interval_s``, the worker's counters, each model's metrics and
health on ``metrics``, the alerts raised and cleared on ``alerts``, and the same figures on
the Prometheus endpoint. A learner that drains a backlog asks for a report sooner, every
:data:`~streams.agents.learn.EXAMPLES_PER_REPORT` examples (``WorkerContext.report_requested``):
alerts, and the responses to them, then come as many examples after a change however fast
the examples arrive."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

from streams.kafka.outbox import now_ms
from streams.monitoring.prometheus import HealthView, MetricsEndpoint
from streams.wire import contracts

if TYPE_CHECKING:
    from streams.worker.compose import WorkerContext

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


def worker_metrics(ctx: WorkerContext, ts: int) -> dict:
    """The worker's cumulative counters, what it holds now (its gauges and resident memory),
    and the model versions it serves (and pins)."""
    serving = ctx.serving
    rss = resident_bytes()
    return {
        "v": contracts.SCHEMA_VERSION,
        "kind": "worker",
        "worker": ctx.worker_id,
        "ts": ts,
        "counters": dict(ctx.counters),
        "gauges": {**ctx.gauges, **({} if rss is None else {"rss_bytes": rss})},
        "serving": {name: serving.version(name) for name in (*ctx.models, ctx.category.name)},
        "pins": {name: pin.version for name, pin in serving.pins.items()},
    }


def model_metrics(ctx: WorkerContext, ts: int) -> list[dict]:
    """Progressive metrics of every model this worker has learned."""
    return [
        {
            "v": contracts.SCHEMA_VERSION,
            "kind": "model",
            "worker": ctx.worker_id,
            "ts": ts,
            **model.report(),
        }
        for model in (*ctx.models.values(), ctx.category)
        if model.n_learned
    ]


def health_records(ctx: WorkerContext, ts: int, reports: dict[str, dict[str, Any]]) -> list[dict]:
    """One ``kind: health`` record per model this worker learns or serves."""
    return [
        {
            "v": contracts.SCHEMA_VERSION,
            "kind": "health",
            "worker": ctx.worker_id,
            "ts": ts,
            "model": name,
            **report,
        }
        for name, report in reports.items()
    ]


def register(ctx: WorkerContext) -> None:
    metrics = ctx.topic_name("metrics")
    alerts = ctx.topic_name("alerts")
    endpoint = MetricsEndpoint(ctx.settings.metrics_port)

    @ctx.app.task
    async def report_every_interval() -> None:
        requested = ctx.report_requested
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(requested.wait(), ctx.settings.metrics_interval_s)
            requested.clear()
            await report()

    async def report() -> None:
        ts = now_ms()
        now_s = time.time()
        reports, raised_or_cleared = ctx.health.tick(
            now_s, ts, ctx.learner.seconds_since_snapshot(), ctx.responder.in_effect()
        )
        ctx.responder.annotate(reports)
        versions = {name: model.version for name, model in ctx.models.items()}
        models = model_metrics(ctx, ts)
        outbox = ctx.outbox()
        worker = worker_metrics(ctx, ts)
        for record in (worker, *models):
            outbox.add(metrics, record.get("model", ctx.worker_id), contracts.encode(record))
        for record in health_records(ctx, ts, reports):
            outbox.add(metrics, f"health:{record['model']}", contracts.encode(record))
        for alert in raised_or_cleared:
            record = {"v": contracts.SCHEMA_VERSION, **alert}
            outbox.add(alerts, f"{alert['kind']}:{alert['model']}", contracts.encode(record))
        await outbox.flush()
        await ctx.responder.respond(raised_or_cleared, versions)
        endpoint.view = HealthView(
            worker=ctx.worker_id,
            models={record["model"]: record for record in models},
            health=reports,
            counters=dict(ctx.counters),
            gauges=worker["gauges"],
            alerts=tuple(ctx.health.book.raised),
            now_s=now_s,
        )

    async def start_endpoint() -> None:
        endpoint.start()

    ctx.app.startup_hooks.append(start_endpoint)

    @ctx.app.on_before_shutdown.connect
    async def stop_endpoint(app: Any, **kwargs: Any) -> None:
        endpoint.stop()

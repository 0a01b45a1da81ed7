"""report: every ``metrics_interval_s``, the worker's counters and each model's health."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams import contracts
from streams.emit import now_ms

if TYPE_CHECKING:
    from streams.app import WorkerContext

__all__ = ["model_metrics", "register", "worker_metrics"]


def worker_metrics(ctx: WorkerContext, ts: int) -> dict:
    """The worker's cumulative counters, and the model versions it serves (and pins)."""
    serving = ctx.serving
    return {
        "v": contracts.SCHEMA_VERSION,
        "kind": "worker",
        "worker": ctx.worker_id,
        "ts": ts,
        "counters": dict(ctx.counters),
        "serving": {name: serving.version(name) for name in (*ctx.models, ctx.category.name)},
        "pins": dict(serving.pins),
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


def register(ctx: WorkerContext) -> None:
    metrics = ctx.topic_name("metrics")

    @ctx.app.timer(ctx.settings.metrics_interval_s, name="report")
    async def report() -> None:
        ts = now_ms()
        outbox = ctx.outbox()
        for record in (worker_metrics(ctx, ts), *model_metrics(ctx, ts)):
            outbox.add(metrics, record.get("model", ctx.worker_id), contracts.encode(record))
        await outbox.flush()

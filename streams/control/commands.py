"""The control plane: commands that change every worker's models and weights without a restart.

Commands travel on the one-partition ``control`` topic, keyed by their sequence number (so
compaction never drops one). Every worker follows the whole topic from the beginning with its
own reader (no consumer group): each replays the same commands in the same order and reaches
the same state, and a new worker catches up by replaying. Validation is a pure function of the
command (shape, known model, well-formed path, never the root), so every replica reaches the
same verdict; the ``control`` agent, consumed by exactly one worker of the group, writes the
dead letters of rejected commands once. Adding a class that exists or removing one that does
not is accepted and changes nothing (commands are idempotent).

Each worker publishes ``{"kind": "control", "seq", "cmd", "args", "worker", "issued_at",
"applied_at"}`` on ``metrics`` when it applies a command: its effect time on that worker (and,
for ``snapshot``, a ``note``: ``requested``, or why this worker writes none).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer

from learners import Weights
from streams.kafka.outbox import now_ms
from streams.kafka.readers import assigned_from_start, consumer_options
from streams.wire import contracts

if TYPE_CHECKING:
    from streams.worker.compose import WorkerContext

__all__ = ["CommandRejected", "apply", "check", "register"]

log = logging.getLogger(__name__)


class CommandRejected(contracts.InvalidEvent):
    """A well-formed command that cannot apply to this system (e.g. an unknown model)."""


def check(ctx: WorkerContext, command: dict[str, Any]) -> None:
    """Raise :class:`CommandRejected` unless the (decoded) command can apply."""
    model = command["args"].get("model", "")
    if command["cmd"] in ("add_class", "remove_class") and model != ctx.category.name:
        raise CommandRejected(f"unknown model for {command['cmd']}: {model[:64]}")
    if command["cmd"] in ("snapshot", "promote", "rollback") and not ctx.learner.knows(model):
        raise CommandRejected(f"unknown model for {command['cmd']}: {model[:64]}")


def apply(ctx: WorkerContext, command: dict[str, Any], at_ms: int) -> str | None:
    """Apply a checked command to this worker's state; returns a note of its outcome here
    where the command alone does not tell it (``snapshot``: requested, or why not)."""
    args = command["args"]
    if command["cmd"] in ("add_class", "remove_class"):  # learned and served alike
        served = ctx.serving.category
        for category in (ctx.category, *([served] if served is not ctx.category else [])):
            change = getattr(category, command["cmd"])
            change(args["path"], seq=command["seq"], at_ms=at_ms)
    elif command["cmd"] == "snapshot":  # written by the worker that learns the model
        return ctx.learner.request(args["model"])
    elif command["cmd"] in ("promote", "rollback"):  # the serving version, on every worker
        ctx.follower.pin(args["model"], args["version"], command["issued_by"])
    elif command["cmd"] == "set_weights":  # versioned by the command's sequence number
        ctx.weights = Weights(alpha=args["alpha"], beta=args["beta"], version=command["seq"])
    return None


def _decode_checked(ctx: WorkerContext, value: bytes) -> dict[str, Any]:
    command = contracts.decode_command(value)
    check(ctx, command)
    return command


def register(ctx: WorkerContext) -> None:
    """The replica reader (every worker) and the dead-letter agent (one worker)."""
    topic = ctx.topic_name("control")
    metrics = ctx.topic_name("metrics")

    @ctx.app.task
    async def follow_control() -> None:
        consumer = AIOKafkaConsumer(**consumer_options(ctx.settings))
        await consumer.start()
        try:
            await assigned_from_start(consumer, [topic])
            applied = -1
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                outbox = ctx.outbox()
                for records in batches.values():
                    for record in records:
                        try:
                            command = _decode_checked(ctx, record.value)
                        except contracts.InvalidEvent:
                            continue  # the control agent dead-letters it, once
                        if command["seq"] <= applied:
                            ctx.counters["control_replayed_or_stale"] += 1
                            continue
                        at = now_ms()
                        note = apply(ctx, command, at)
                        applied = command["seq"]
                        ctx.counters["control_applied"] += 1
                        log.info("applied control command %s %s", command["seq"], command["cmd"])
                        effect = {
                            "v": contracts.SCHEMA_VERSION,
                            "kind": "control",
                            "worker": ctx.worker_id,
                            "ts": at,
                            "applied_at": at,
                            "issued_at": command["ts"],
                            **{k: command[k] for k in ("seq", "cmd", "args")},
                            **({"note": note} if note else {}),
                        }
                        outbox.add(metrics, "control", contracts.encode(effect))
                await outbox.flush()
        finally:
            await consumer.stop()

    if "serve" not in ctx.settings.roles:
        return  # the dead letters of commands are written by the serving group, once
    size, within = ctx.batch

    @ctx.app.agent(ctx.topics["control"], name="control")
    async def control(stream: Any) -> None:
        async for events in stream.take_events(size, within):
            outbox = ctx.outbox()
            for event in events:
                try:
                    _decode_checked(ctx, event.value)
                except contracts.InvalidEvent as error:
                    ctx.dead_letters.reject(outbox, event.message, error.reason)
            await outbox.flush()

"""learn: examples -> live models. Every example is predicted before it is learned; signed
snapshots of the models go to ``models`` when due (:mod:`streams.snapshotting`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams import contracts

if TYPE_CHECKING:
    from streams.app import WorkerContext

__all__ = ["register"]


def register(ctx: WorkerContext) -> None:
    size, within = ctx.batch

    @ctx.app.agent(ctx.topics["examples"], name="learn")
    async def learn(stream: Any) -> None:
        async for events in stream.take_events(size, within):
            outbox = ctx.outbox()
            for event in events:
                try:
                    example = contracts.decode_example(event.value)
                except contracts.InvalidEvent as error:
                    ctx.dead_letters.reject(outbox, event.message, error.reason)
                    continue
                name, label = example["model"], example["label"]
                model = ctx.models.get(name)
                if name == ctx.category.name and isinstance(label, str):
                    ctx.category.learn(example["features"], label)
                elif model is not None and not isinstance(label, str):
                    model.learn(example["features"], label, example["weight"])
                else:
                    ctx.dead_letters.reject(outbox, event.message, f"unknown model: {name}")
                    continue
                ctx.counters[f"learned.{name}"] += 1
                message = event.message
                position = f"{message.topic}:{message.partition}"
                ctx.snapshots.applied(outbox, name, position, message.offset)
            ctx.snapshots.write_due(outbox)
            await outbox.flush()

    @ctx.app.timer(1.0, name="snapshot-clock")
    async def snapshot_when_due() -> None:  # time-based and requested snapshots, when idle
        outbox = ctx.outbox()
        ctx.snapshots.write_due(outbox)
        await outbox.flush()

"""learn: examples -> live models, exactly once (:class:`streams.learning.Learner`). Every
example is predicted before it is learned; signed snapshots go to ``models`` when due, and an
example is acknowledged only once a snapshot containing it has been delivered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams import contracts

if TYPE_CHECKING:
    from streams.app import WorkerContext

__all__ = ["register"]


def register(ctx: WorkerContext) -> None:
    size, within = ctx.batch
    learner = ctx.learner

    @ctx.app.agent(ctx.topics["examples"], name="learn")
    async def learn(stream: Any) -> None:
        async for events in stream.take_events(size, within):
            outbox = ctx.outbox()
            ctx.counters["read.examples"] += len(events)
            for event in events:
                try:
                    example = contracts.decode_example(event.value)
                except contracts.InvalidEvent as error:
                    ctx.dead_letters.reject(outbox, event.message, error.reason)
                    continue
                if not learner.apply(outbox, event, example):
                    ctx.dead_letters.reject(
                        outbox, event.message, f"unknown model: {example['model'][:64]}"
                    )
            learner.write_due(outbox)
            await outbox.flush()

    examples = ctx.topic_name("examples")

    def positions(partitions: Any) -> set[str]:
        return {f"{tp.topic}:{tp.partition}" for tp in partitions if tp.topic == examples}

    @ctx.app.on_partitions_assigned.connect
    async def restore_arrived(app: Any, assigned: Any, **kwargs: Any) -> None:
        await learner.on_assigned(positions(assigned))

    @ctx.app.on_partitions_revoked.connect
    async def forget_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        learner.on_revoked(positions(revoked))

    @ctx.app.timer(1.0, name="snapshot-clock")
    async def snapshot_when_due() -> None:  # time-based and requested snapshots, when idle
        outbox = ctx.outbox()
        learner.write_due(outbox)
        await outbox.flush()

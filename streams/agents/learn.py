"""learn: examples -> live models. Every example is predicted before it is learned."""

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
                if name == ctx.category.name and isinstance(label, str):
                    ctx.category.learn(example["features"], label)
                    ctx.counters["category_examples_learned"] += 1
                    continue
                model = ctx.models.get(name)
                if model is None or isinstance(label, str):
                    ctx.dead_letters.reject(outbox, event.message, f"unknown model: {name}")
                    continue
                model.learn(example["features"], label >= 0.5, example["weight"])
                ctx.counters["examples_learned"] += 1
            await outbox.flush()

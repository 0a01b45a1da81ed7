"""labels: query-labels -> category examples, keyed by model name so one learner owns the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learners import query_text_features
from streams.wire import contracts

if TYPE_CHECKING:
    from streams.worker.compose import WorkerContext

__all__ = ["example_for_label", "register"]


def example_for_label(
    label: dict[str, Any], model: str, n_bits: int, source: dict[str, int]
) -> dict[str, Any]:
    """The category-model example of one validated query label."""
    return contracts.example(
        example_id=f"label:{label['event_id']}",
        model=model,
        features=query_text_features(label, n_bits),
        label=label["path"],
        weight=1.0,
        sampling_rate=1.0,
        ts_event=label["ts"],
        ts_label=label["ts"],
        source=source,
    )


def register(ctx: WorkerContext) -> None:
    examples = ctx.topic_name("examples")
    model = ctx.category.name
    size, within = ctx.batch

    @ctx.app.agent(ctx.topics["query-labels"], name="labels")
    async def labels(stream: Any) -> None:
        async for events in stream.take_events(size, within):
            outbox = ctx.outbox()
            ctx.counters["read.query-labels"] += len(events)
            for event in events:
                try:
                    label = contracts.decode_query_label(event.value)
                except contracts.InvalidEvent as error:
                    ctx.dead_letters.reject(outbox, event.message, error.reason)
                    continue
                source = {f"{event.message.topic}:{event.message.partition}": event.message.offset}
                example = example_for_label(label, model, ctx.settings.n_bits, source)
                outbox.add(examples, model, contracts.encode(example))
                ctx.counters[f"examples.{model}"] += 1
            await outbox.flush()

"""labels: query-labels -> category examples, keyed by model name so one learner owns the model."""

from __future__ import annotations

from typing import Any

from learners import query_text_features
from streams.agents.io import AgentIO, batch_agent
from streams.kafka.outbox import Sink
from streams.wire import contracts

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


def register(io: AgentIO, model: str) -> None:
    """Turn every query label into an example of the category model called ``model``."""
    examples = io.topic_name("examples")
    n_bits = io.settings.n_bits

    def handle(event: Any, out: Sink) -> None:
        io.counters["read.query-labels"] += 1
        label = contracts.decode_query_label(event.value)
        source = {f"{event.message.topic}:{event.message.partition}": event.message.offset}
        example = example_for_label(label, model, n_bits, source)
        out.add(examples, model, contracts.encode(example))
        io.counters[f"examples.{model}"] += 1

    batch_agent(io, "query-labels", "labels", handle)

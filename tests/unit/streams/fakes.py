"""A producer, faked for the loops' unit tests (no I/O), and the click examples they consume
(as librdkafka messages: ``confluent_kafka.Message``, built without a broker)."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.wire import contracts

TS = 1_700_000_000_000


def click_example(
    i: int, features: dict[int, float], label: float, origin_offset: int | None = None
) -> dict[str, Any]:
    """The click example of impression ``i``, decoded as the learner receives it (its origin
    offset is ``i`` unless given: the join emits a label again under its first origin)."""
    event = contracts.example(
        example_id=f"imp-{i}",
        model="click",
        features=features,
        label=label,
        weight=1.0,
        sampling_rate=1.0,
        ts_event=TS + i,
        ts_label=TS + i,
        source={"impressions:0": i if origin_offset is None else origin_offset},
    )
    return contracts.decode_example(contracts.encode(event))


class DeliveringProducer:
    """Records what is sent; every delivery succeeds at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> Any:
        self.sent.append((topic, value))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

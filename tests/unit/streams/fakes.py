"""Faust events and a producer, faked for the learner's unit tests (no I/O), and the click
examples they carry."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from streams import contracts

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


@dataclasses.dataclass
class FakeMessage:
    """A Faust message delivered to one stream: acknowledged when its refcount reaches 0."""

    topic: str
    partition: int
    offset: int
    refcount: int = 1
    acked: bool = False

    def incref(self) -> None:
        self.refcount += 1


@dataclasses.dataclass
class FakeEvent:
    message: FakeMessage

    def ack(self) -> None:
        self.message.refcount -= 1
        self.message.acked = self.message.refcount == 0


class DeliveringProducer:
    """Records what is sent; every delivery succeeds at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> Any:
        self.sent.append((topic, value))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

"""Faust events and a producer, faked for the learner's unit tests (no I/O)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any


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

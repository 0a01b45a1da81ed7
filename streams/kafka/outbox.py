"""Batched output: what an agent emits for one batch of input, sent without a round trip each.

Agents collect their outputs for a whole input batch in an :class:`Outbox` and flush it once:
every record goes to the producer's accumulator and the batch waits for all deliveries together,
before its inputs are acknowledged (at-least-once: an input is never acked before its output is
on the broker). Rejected inputs go through :class:`DeadLetters`, which writes the reason and the
source position and counts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from streams.monitoring.counters import Counters
from streams.wire import contracts

__all__ = ["DeadLetters", "Outbox", "Producer", "Sink", "now_ms"]

log = logging.getLogger(__name__)


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class Producer(Protocol):
    """What an outbox needs of a producer (Faust's transport producer has it)."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[Any]: ...


class Sink(Protocol):
    """Where outputs go: records added one by one, delivered together by ``flush``."""

    def add(self, topic: str, key: bytes | str | None, value: bytes) -> None: ...

    async def flush(self) -> None: ...


class Outbox:
    """Records to send for one input batch; :meth:`flush` sends them all, awaits delivery, then
    acknowledges the input events whose effect those records make durable (:meth:`ack_after`)."""

    __slots__ = ("_acks", "_producer", "_records")

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._records: list[tuple[str, bytes | None, bytes]] = []
        self._acks: list[Any] = []

    def add(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        if isinstance(key, str):
            key = key.encode()
        self._records.append((topic, key, value))

    def ack_after(self, events: list[Any]) -> None:
        """Acknowledge these (held) Faust events once this outbox has been delivered."""
        self._acks.extend(events)

    def __len__(self) -> int:
        return len(self._records)

    async def flush(self) -> None:
        records, self._records = self._records, []
        acks, self._acks = self._acks, []
        send = self._producer.send
        deliveries = [
            await send(topic, key, value, None, None, None) for topic, key, value in records
        ]
        if deliveries:
            await asyncio.gather(*deliveries)
        for event in acks:
            event.ack()


class DeadLetters:
    """Sends rejected inputs to the dead-letter topic with their reason, and counts them."""

    __slots__ = ("counters", "topic")

    def __init__(self, topic: str, counters: Counters) -> None:
        self.topic = topic
        self.counters = counters

    def reject(self, outbox: Sink, message: Any, reason: str) -> None:
        """Dead-letter one Faust message (with ``topic``, ``partition``, ``offset``, ``value``)."""
        payload = message.value if isinstance(message.value, bytes) else None
        self.reject_at(outbox, reason, message.topic, message.partition, message.offset, payload)

    def reject_at(
        self,
        outbox: Sink,
        reason: str,
        topic: str,
        partition: int,
        offset: int,
        payload: bytes | None,
    ) -> None:
        """Dead-letter an input known by its position."""
        self.counters["dead_letters"] += 1
        self.counters[f"dead_letters.{topic}"] += 1
        log.debug("dead letter from %s[%s]@%s: %s", topic, partition, offset, reason)
        record = contracts.dead_letter(
            reason=reason,
            topic=topic,
            partition=partition,
            offset=offset,
            ts=now_ms(),
            payload=payload,
        )
        outbox.add(self.topic, topic, contracts.encode(record))

"""Faust's aiokafka transport with the consumer's fetch wait under our control.

faust-streaming 0.15 hard-codes ``fetch_max_wait_ms=1500`` for worker consumers and no setting
changes it. Tansu answers a fetch only when that wait runs out, so output would arrive in bursts
every 1.5 s. :class:`Transport` is the stock driver with a consumer thread that applies
``Settings.fetch_max_wait_ms`` before the consumer starts.

Its consumer also ignores the acknowledgement of a message fetched before the last rebalance.
Faust skips such a message and acknowledges it, but after the rebalance the partition is read
again from its committed offset, so the same offset arrives again and is learned (or joined)
and held: counting the stale acknowledgement would let a commit pass it before the snapshot
that contains it.

And it never commits past a message still in flight. faust-streaming 0.15 commits the first
run of acknowledged offsets when the message at the committed offset is the only one missing
(faust-streaming#606: its guard lets a gap of one through), and any run before the first
commit. The learner holds each example unacknowledged until a snapshot contains it, so a model
holding the head of a partition while another model's snapshot acknowledged what follows would
lose that one example in a crash. :meth:`_Consumer._new_offset` withholds the commit until the
head message is acknowledged.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["Transport", "fetch_wait_transport"]


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: int = 10

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # aiokafka renamed it: fail loudly
            raise RuntimeError("aiokafka consumer has no _fetch_max_wait_ms to override")
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    thread_class: type[_ConsumerThread] = _ConsumerThread
    _first_read: dict[TP, int]  # per partition, the lowest offset delivered since assignment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._first_read = {}
        super().__init__(*args, **kwargs)

    def _new_consumer_thread(self) -> _ConsumerThread:
        return self.thread_class(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Any) -> bool:
        """Mark a message safe to commit, unless it was fetched before the last rebalance."""
        generation = message.generation_id
        if generation is not None and generation != self.app.consumer_generation_id:
            return False  # it is read again from the committed offset
        return super().ack(message)

    def track_message(self, message: Any) -> None:
        super().track_message(message)
        if message.generation_id == self.app.consumer_generation_id:
            tp, offset = message.tp, message.offset
            self._first_read[tp] = min(offset, self._first_read.get(tp, offset))

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        for tp in revoked:
            self._first_read.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit: ``None`` while the message at the head of ``tp`` (its
        committed offset, or the first offset read if none is committed) is in flight."""
        head = self._committed_offset[tp]
        if head is None:
            head = self._first_read.get(tp)
        in_flight = head is not None and head not in self._acked_index[tp]
        if in_flight and not self._gap[tp].overlaps(head):  # a gap has no message to wait for
            return None
        return super()._new_offset(tp)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer waits ``fetch_max_wait_ms`` per fetch."""

    Consumer = _Consumer


def fetch_wait_transport(fetch_max_wait_ms: int) -> type[Transport]:
    """A transport class whose worker consumers use the given fetch wait."""
    thread = type("ConsumerThread", (_ConsumerThread,), {"fetch_max_wait_ms": fetch_max_wait_ms})
    consumer = type("Consumer", (_Consumer,), {"thread_class": thread})
    return type("Transport", (Transport,), {"Consumer": consumer})

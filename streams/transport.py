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
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

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

    def _new_consumer_thread(self) -> _ConsumerThread:
        return self.thread_class(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Any) -> bool:
        """Mark a message safe to commit, unless it was fetched before the last rebalance."""
        generation = message.generation_id
        if generation is not None and generation != self.app.consumer_generation_id:
            return False  # it is read again from the committed offset
        return super().ack(message)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer waits ``fetch_max_wait_ms`` per fetch."""

    Consumer = _Consumer


def fetch_wait_transport(fetch_max_wait_ms: int) -> type[Transport]:
    """A transport class whose worker consumers use the given fetch wait."""
    thread = type("ConsumerThread", (_ConsumerThread,), {"fetch_max_wait_ms": fetch_max_wait_ms})
    consumer = type("Consumer", (_Consumer,), {"thread_class": thread})
    return type("Transport", (Transport,), {"Consumer": consumer})

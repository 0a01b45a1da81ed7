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

And it commits by one rule (:class:`streams.kafka.commits.InFlight`): each partition up to the
lowest offset an agent still holds, whatever was acknowledged after it. faust-streaming 0.15
commits the first run of acknowledged offsets instead, guarded by gap bookkeeping that lets a
gap of one through (faust-streaming#606) and any run before the first commit: a malformed
impression, dead-lettered and acknowledged at once, carried the join's commit past the valid
impressions it held in open windows, and a crash lost them. Every message handed to an agent
is reported read by a sensor (Faust's stream loop tracks messages inline, never through the
consumer), every acknowledgement done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Set
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.kafka.commits import InFlight

__all__ = ["Transport", "fetch_wait_transport"]


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: int = 10

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # aiokafka renamed it: fail loudly
            raise RuntimeError("aiokafka consumer has no _fetch_max_wait_ms to override")
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class _ReadTracker(faust.Sensor):
    """Reports every message handed to an agent as in flight."""

    def __init__(self, in_flight: InFlight, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._in_flight = in_flight

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        self._in_flight.read(tp, offset)


class _Consumer(faust_aiokafka.Consumer):
    thread_class: type[_ConsumerThread] = _ConsumerThread
    in_flight: InFlight  # what the agents hold: the commit never passes it
    #: awaited before every commit of offsets (an agent notes what it has handled so far)
    before_commit: list[Callable[[], Awaitable[None]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.in_flight = InFlight()
        self.before_commit = []
        super().__init__(*args, **kwargs)
        self.app.sensors.add(_ReadTracker(self.in_flight))

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        for hook in self.before_commit:
            await hook()
        return await super()._commit_offsets(offsets, start_new_transaction)

    def _new_consumer_thread(self) -> _ConsumerThread:
        return self.thread_class(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Any) -> bool:
        """Mark a message done, unless it was fetched before the last rebalance."""
        generation = message.generation_id
        if generation is not None and generation != self.app.consumer_generation_id:
            return False  # it is read again from the committed offset
        self.in_flight.done(message.tp, message.offset)
        return super().ack(message)

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        await super().on_partitions_revoked(revoked)
        self.in_flight.forget(revoked)

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp``: the lowest offset in flight, else one past the
        last read. Faust's own lists of acknowledged offsets are not used: emptied here."""
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        return self.in_flight.committable(tp)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer waits ``fetch_max_wait_ms`` per fetch."""

    Consumer = _Consumer


def fetch_wait_transport(fetch_max_wait_ms: int) -> type[Transport]:
    """A transport class whose worker consumers use the given fetch wait."""
    thread = type("ConsumerThread", (_ConsumerThread,), {"fetch_max_wait_ms": fetch_max_wait_ms})
    consumer = type("Consumer", (_Consumer,), {"thread_class": thread})
    return type("Transport", (Transport,), {"Consumer": consumer})

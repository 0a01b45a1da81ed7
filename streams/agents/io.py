"""What every agent of a worker reads from and writes to, and the batch loop they share.

An agent takes a batch of events (``stream.take_events(batch_max, within=batch_within_ms)``),
handles each in its own ``try``, collects its outputs in an :class:`~streams.kafka.outbox.Outbox`
and flushes it once per batch. A bad input becomes a dead-letter record with its reason and
position, and is counted; it never escapes the agent (Faust would ack it and lose it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from streams.kafka.faust_app import AdstreamApp
from streams.kafka.outbox import DeadLetters, Outbox, Sink
from streams.monitoring.counters import Counters
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["AgentIO", "batch_agent"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentIO:
    """The worker's Faust ``app`` (its topics in ``app.raw_topics``), its ``counters``, its
    ``gauges`` (what it holds now, set rather than counted) and its ``dead_letters``."""

    app: AdstreamApp
    settings: Settings
    counters: Counters
    dead_letters: DeadLetters
    gauges: dict[str, int]

    def outbox(self) -> Outbox:
        """A fresh outbox on the app's producer, for one batch."""
        return Outbox(self.app.producer)

    def topic_name(self, logical: str) -> str:
        return self.settings.topic(logical)

    @property
    def batch(self) -> tuple[int, float]:
        """``stream.take_events`` arguments: max events and the wait in seconds."""
        return self.settings.batch_max, self.settings.batch_within_ms / 1000.0


def batch_agent(io: AgentIO, source: str, name: str, handle: Callable[[Any, Sink], None]) -> None:
    """Attach the agent ``name`` to the ``source`` topic (logical name): ``handle(event, out)``
    is called for each event of a batch, and an event it rejects by raising ``ValueError``
    (:class:`~streams.wire.contracts.InvalidEvent` and its reason, or another message) is
    dead-lettered; the batch's outputs are flushed together before its events are acked."""

    @io.app.agent(io.app.raw_topics[source], name=name)
    async def agent(stream: Any) -> None:
        async for events in stream.take_events(*io.batch):
            outbox = io.outbox()
            for event in events:
                try:
                    handle(event, outbox)
                except ValueError as error:
                    reason = error.reason if isinstance(error, contracts.InvalidEvent) else None
                    io.dead_letters.reject(outbox, event.message, reason or str(error))
            await outbox.flush()

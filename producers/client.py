"""A small synchronous client for your own front-end: queries, impressions, clicks, labels,
quality ratings.

Every event is checked before it leaves: encoded, then decoded with the contract decoder, so
a malformed event raises :class:`~streams.wire.contracts.InvalidEvent` at the caller instead of
becoming a dead-letter record downstream. Keys follow the design: queries by ``user_id``,
impressions, clicks and ratings by ``impression_id``, query labels by ``event_id``. Built on
librdkafka (confluent-kafka), the client of every blocking producer here; it is meant for a
front-end's trickle, one call per event (use :mod:`producers.simulator` for load).

Usage (with a broker running)::

    with EventClient(settings) as client:
        client.send_query(event)
        client.send_impression(
            impression_id="imp-1", event_id="q-1", ad_id="ad-7", arm="explore", propensity=0.05
        )
        client.send_click("imp-1")
        client.send_rating("imp-1", 0.8)
        client.send_query_label("q-1", "vuril ligetek", "travel/flights/domestic")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import confluent_kafka

from streams.kafka.bootstrap import BrokerUnreachable, reached
from streams.kafka.rdkafka import DeliveryFailed, client_config
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["BrokerUnreachable", "Delivery", "DeliveryFailed", "EventClient", "RecordMetadata"]

log = logging.getLogger(__name__)


class RecordMetadata(NamedTuple):
    """Where a delivered event landed."""

    topic: str
    partition: int
    offset: int


class Delivery:
    """What became of one event sent: :meth:`get` waits for the broker's answer."""

    __slots__ = ("_error", "_metadata", "_poll")

    def __init__(self, poll: Callable[[float], Any]) -> None:
        self._poll = poll  # the producer's: serves delivery reports
        self._error: str | None = None
        self._metadata: RecordMetadata | None = None

    def _delivered(self, error: Any, message: Any) -> None:
        """librdkafka's delivery report of this event."""
        if error is not None:
            self._error = f"{message.topic()}: {error.str()}"
        else:
            self._metadata = RecordMetadata(message.topic(), message.partition(), message.offset())

    def done(self) -> bool:
        """Whether the broker answered (delivered or refused)."""
        return self._error is not None or self._metadata is not None

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """Wait for delivery (at most ``timeout`` seconds if given); where the event landed.

        Raises
        ------
        DeliveryFailed
            If the event was refused, or not delivered within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            wait_s = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if wait_s <= 0:
                raise DeliveryFailed(f"not delivered within {timeout} s")
            self._poll(wait_s)
        if self._error is not None:
            raise DeliveryFailed(self._error)
        assert self._metadata is not None
        return self._metadata


def _validated(event: dict[str, Any], decode: contracts.Decoder) -> bytes:
    """The event's wire bytes, once the contract decoder accepts them."""
    try:
        payload = contracts.encode(event)
    except (TypeError, ValueError, OverflowError) as error:
        raise contracts.InvalidEvent(f"not encodable: {error}") from None
    decode(payload)
    return payload


class EventClient:
    """Synchronous producer of front-end events (librdkafka, ``acks=1``, ``linger_ms=5``).

    Each ``send_*`` validates the event, queues it and returns its :class:`Delivery`
    (``.get(timeout=...)`` waits for the broker); :meth:`flush` waits for all of them.

    Parameters
    ----------
    settings
        Broker address, topic prefix and security; ``settings.kafka`` must not be empty.
    clock
        Seconds since the epoch, for events sent without a timestamp.
    bootstrap_timeout_s
        How long the constructor tries to reach the brokers before it raises
        :class:`~streams.kafka.bootstrap.BrokerUnreachable` (a broker that refuses the
        connection, its TLS or its login is retried until then; the error quotes librdkafka's
        reasons, and its log lines go to this module's logger).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        bootstrap_timeout_s: float = 30.0,
    ) -> None:
        if not settings.kafka:
            raise ValueError(
                "settings.kafka is empty: start a broker (streams.kafka.broker.broker_for)"
            )
        self.settings = settings
        self.clock = clock
        self._closed = False
        self._producer = reached(
            confluent_kafka.Producer,
            client_config(settings)
            | {
                "client.id": f"{settings.app_id}-client",
                "acks": 1,
                "linger.ms": 5,
                "enable.idempotence": False,  # Tansu lacks it (DESIGN §6)
                "partitioner": "murmur2_random",  # Java's: keys land where the workers' do
                "logger": log,
            },
            bootstrap_timeout_s,
        )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _send(self, name: str, key: str, payload: bytes) -> Delivery:
        if self._closed:
            raise RuntimeError("this EventClient is closed")
        delivery = Delivery(self._producer.poll)
        record = {"value": payload, "key": key.encode(), "on_delivery": delivery._delivered}
        try:
            self._producer.produce(self.settings.topic(name), **record)
        except BufferError:  # the local queue is full: deliver what it holds, then queue
            self._producer.flush(30)
            self._producer.produce(self.settings.topic(name), **record)
        self._producer.poll(0)  # serves the delivery reports that are in
        return delivery

    def send_query(self, event: dict[str, Any]) -> Delivery:
        """Send a query event built with :func:`streams.wire.contracts.query` (key ``user_id``)."""
        payload = _validated(event, contracts.decode_query)
        return self._send("queries", event["user_id"], payload)

    def send_impression(
        self,
        *,
        impression_id: str,
        event_id: str,
        ad_id: str,
        arm: str,
        position: int = 0,
        ts: int | None = None,
        propensity: float = 1.0,
    ) -> Delivery:
        """Record that an ad was shown (key ``impression_id``); ``ts`` defaults to now.

        ``propensity`` is the probability with which the front-end chose this ad (1.0 when it
        always shows the top-ranked one; see :mod:`producers.exploration`).
        """
        event = contracts.impression(
            impression_id=impression_id,
            event_id=event_id,
            ad_id=ad_id,
            position=position,
            ts=self._now_ms() if ts is None else ts,
            arm=arm,
            propensity=propensity,
        )
        return self._send(
            "impressions", impression_id, _validated(event, contracts.decode_impression)
        )

    def send_click(self, impression_id: str, ts: int | None = None) -> Delivery:
        """Record a click on a shown ad (key ``impression_id``); ``ts`` defaults to now."""
        event = contracts.click(
            impression_id=impression_id, ts=self._now_ms() if ts is None else ts
        )
        return self._send("clicks", impression_id, _validated(event, contracts.decode_click))

    def send_rating(self, impression_id: str, quality: float, ts: int | None = None) -> Delivery:
        """Record a quality rating in [0, 1] of a shown ad (key ``impression_id``); ``ts``
        defaults to now."""
        event = contracts.rating(
            impression_id=impression_id, quality=quality, ts=self._now_ms() if ts is None else ts
        )
        return self._send("ratings", impression_id, _validated(event, contracts.decode_rating))

    def send_query_label(
        self, event_id: str, query: str, path: str, ts: int | None = None
    ) -> Delivery:
        """Record a query's true category ``path`` (key ``event_id``); ``ts`` defaults to now."""
        event = contracts.query_label(
            event_id=event_id, query=query, path=path, ts=self._now_ms() if ts is None else ts
        )
        return self._send("query-labels", event_id, _validated(event, contracts.decode_query_label))

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every event sent so far is delivered.

        Raises
        ------
        DeliveryFailed
            If some are still undelivered after ``timeout_s`` (no limit when None).
        """
        left = self._producer.flush(-1 if timeout_s is None else timeout_s)
        if left:
            raise DeliveryFailed(f"{left} events not delivered within {timeout_s} s")

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is buffered (for up to ``timeout_s``), then refuse further events."""
        if self._closed:
            return
        self._closed = True
        left = self._producer.flush(-1 if timeout_s is None else timeout_s)
        if left:
            log.warning("EventClient closed with %d events undelivered", left)

    def __enter__(self) -> EventClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

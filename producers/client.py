"""A small synchronous client for your own front-end: queries, impressions, clicks, labels,
quality ratings.

Every event is checked before it leaves: encoded, then decoded with the contract decoder, so
a malformed event raises :class:`~streams.wire.contracts.InvalidEvent` at the caller instead of
becoming a dead-letter record downstream. Keys follow the design: queries by ``user_id``,
impressions, clicks and ratings by ``impression_id``, query labels by ``event_id``. Built on
kafka-python, which is fine for a front-end's trickle but slow for bulk traffic (use
:mod:`producers.simulator` for load).

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

import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["EventClient"]


def _validated(event: dict[str, Any], decode: contracts.Decoder) -> bytes:
    """The event's wire bytes, once the contract decoder accepts them."""
    try:
        payload = contracts.encode(event)
    except (TypeError, ValueError, OverflowError) as error:
        raise contracts.InvalidEvent(f"not encodable: {error}") from None
    decode(payload)
    return payload


class EventClient:
    """Synchronous producer of front-end events (kafka-python, ``acks=1``, ``linger_ms=5``).

    Parameters
    ----------
    settings
        Broker address, topic prefix and security; ``settings.kafka`` must not be empty.
    clock
        Seconds since the epoch, for events sent without a timestamp.
    bootstrap_timeout_s
        How long the constructor tries to reach the brokers before it raises
        ``kafka.errors.KafkaTimeoutError`` (a broker that refuses the connection, its TLS or
        its login is retried until then; kafka-python's log says why).
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
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka,
            client_id=f"{settings.app_id}-client",
            acks=1,
            linger_ms=5,
            bootstrap_timeout_ms=round(bootstrap_timeout_s * 1000),
            **settings.client_security(),
        )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _send(self, name: str, key: str, payload: bytes) -> FutureRecordMetadata:
        return self._producer.send(self.settings.topic(name), value=payload, key=key.encode())

    def send_query(self, event: dict[str, Any]) -> FutureRecordMetadata:
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
    ) -> FutureRecordMetadata:
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

    def send_click(self, impression_id: str, ts: int | None = None) -> FutureRecordMetadata:
        """Record a click on a shown ad (key ``impression_id``); ``ts`` defaults to now."""
        event = contracts.click(
            impression_id=impression_id, ts=self._now_ms() if ts is None else ts
        )
        return self._send("clicks", impression_id, _validated(event, contracts.decode_click))

    def send_rating(
        self, impression_id: str, quality: float, ts: int | None = None
    ) -> FutureRecordMetadata:
        """Record a quality rating in [0, 1] of a shown ad (key ``impression_id``); ``ts``
        defaults to now."""
        event = contracts.rating(
            impression_id=impression_id, quality=quality, ts=self._now_ms() if ts is None else ts
        )
        return self._send("ratings", impression_id, _validated(event, contracts.decode_rating))

    def send_query_label(
        self, event_id: str, query: str, path: str, ts: int | None = None
    ) -> FutureRecordMetadata:
        """Record a query's true category ``path`` (key ``event_id``); ``ts`` defaults to now."""
        event = contracts.query_label(
            event_id=event_id, query=query, path=path, ts=self._now_ms() if ts is None else ts
        )
        return self._send("query-labels", event_id, _validated(event, contracts.decode_query_label))

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every event sent so far is delivered (or ``timeout_s`` passes)."""
        self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is buffered, then release the connection."""
        self._producer.close(timeout=timeout_s)

    def __enter__(self) -> EventClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

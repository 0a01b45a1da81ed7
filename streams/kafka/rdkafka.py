"""librdkafka clients (confluent-kafka) for the serving and learning loops, awaited from asyncio.

aiokafka encodes and decodes the Kafka protocol in Python on the event loop's thread: about
40 µs per prediction sent and 10 µs per query fetched in a busy serving worker here, a third
of all its time. librdkafka does that work in C, in threads of its own that run beside the
interpreter (on the second core), so the loop only hands it bytes. Both clients are
called through one worker thread each, never from the event loop, so that a blocking call
(a fetch that waits, a flush that waits for delivery) only awaits.

Settings follow DESIGN §6: no idempotent producer (Tansu lacks it), Java's murmur2 partitioner
(keys land where aiokafka and Java clients put them), the fetch wait of every other consumer
here, the group session of every other consumer here unless told (a learner's is
``learn_session_timeout_ms``: how soon a dead learner's partitions move), and the same
security settings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import confluent_kafka

from learners.errors import AdstreamError
from streams.wire.settings import Settings
from streams.wire.topics import MAX_MESSAGE_BYTES

__all__ = [
    "BatchConsumer",
    "BatchProducer",
    "Bookmark",
    "DeliveryFailed",
    "Partitions",
    "client_config",
]

log = logging.getLogger(__name__)


class DeliveryFailed(AdstreamError):
    """Records produced since the last flush were not all delivered."""


def client_config(settings: Settings) -> dict[str, Any]:
    """The librdkafka settings every client here shares: servers and security (librdkafka
    verifies the broker's certificate and host name by default; ``ssl_cafile`` becomes
    ``ssl.ca.location``, else it trusts the system's authorities).

    >>> config = client_config(Settings(kafka="h:9092", security_protocol="SASL_SSL",
    ...     sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password="p"))
    >>> config["security.protocol"], config["sasl.mechanism"], "ssl.ca.location" in config
    ('sasl_ssl', 'SCRAM-SHA-512', False)
    """
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka,
        "security.protocol": settings.security_protocol.lower(),
    }
    if settings.ssl_cafile:
        config["ssl.ca.location"] = settings.ssl_cafile
    if settings.sasl_mechanism:
        config |= {
            "sasl.mechanism": settings.sasl_mechanism,
            "sasl.username": settings.sasl_username,
            "sasl.password": settings.sasl_password,
        }
    return config


Partitions = list[tuple[str, int]]  # (topic, partition)
Positions = dict[tuple[str, int], int]  # (topic, partition) -> the next offset to read


def _position(topic: str, partition: int, offset: int) -> confluent_kafka.TopicPartition:
    return confluent_kafka.TopicPartition(topic, partition, offset)


def _offsets(positions: Positions) -> list[confluent_kafka.TopicPartition]:
    return [_position(topic, partition, offset) for (topic, partition), offset in positions.items()]


def _partitions(partitions: list[confluent_kafka.TopicPartition]) -> Partitions:
    return [(tp.topic, tp.partition) for tp in partitions]


class _Blocking:
    """Runs a client's blocking calls in one thread of their own, one call at a time."""

    def __init__(self, name: str) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)

    async def __call__(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def close(self) -> None:
        self._thread.shutdown(wait=True)


class BatchConsumer:
    """A group consumer of one topic that returns whatever a fetch brought, up to a batch.

    A group rebalance can be followed with two coroutines, run on the event loop while the
    client waits for them (librdkafka calls them during a fetch, never during a batch's work):
    ``on_assign`` with every partition now assigned, before any of their records is returned;
    ``on_revoke`` with the partitions taken away, before another member can read them. What
    ``on_revoke`` returns is committed then, synchronously.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        group_id: str,
        *,
        on_assign: Callable[[Partitions], Coroutine[Any, Any, None]] | None = None,
        on_revoke: Callable[[Partitions], Coroutine[Any, Any, Positions]] | None = None,
        session_timeout_ms: int = 6_000,
    ) -> None:
        self._consumer = confluent_kafka.Consumer(
            client_config(settings)
            | {
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": settings.fetch_max_wait_ms,
                "session.timeout.ms": session_timeout_ms,
                # librdkafka heartbeats from a thread of its own, whatever the loop is doing
                "heartbeat.interval.ms": min(1_000, session_timeout_ms // 4),
                "logger": log,
            }
        )
        self._loop = asyncio.get_running_loop()
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._consumer.subscribe(
            [topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._call = _Blocking("adstream-consumer")

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the event loop from the client's thread, and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _assigned(self, consumer: Any, partitions: list[confluent_kafka.TopicPartition]) -> None:
        if self._on_assign is not None:
            self._on_loop(self._on_assign(_partitions(partitions)))

    def _revoked(self, consumer: Any, partitions: list[confluent_kafka.TopicPartition]) -> None:
        if self._on_revoke is not None:
            positions = self._on_loop(self._on_revoke(_partitions(partitions)))
            if positions:
                self._commit(_offsets(positions), True)

    async def next_batch(self, max_records: int, wait_s: float) -> list[Any]:
        """The messages on hand, up to ``max_records``; when none are, waits up to ``wait_s``
        for the first and returns it with whatever came with it (a batch never waits to fill:
        latency stays low at low rates)."""
        return await self._call(self._next_batch, max_records, wait_s)

    def _next_batch(self, max_records: int, wait_s: float) -> list[Any]:
        consume = self._consumer.consume
        messages = consume(max_records, 0)
        if not messages:
            messages = consume(1, wait_s)
            if messages:
                messages += consume(max_records - 1, 0)
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            else:
                log.warning("consumer error on %s: %s", message.topic(), error)
        return good

    async def rewind(self, messages: Sequence[Any]) -> None:
        """Read ``messages`` again: each partition goes back to the first of them."""
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (message.topic(), message.partition())
            first[key] = min(first.get(key, message.offset()), message.offset())
        for (topic, partition), offset in first.items():
            await self._call(self._consumer.seek, _position(topic, partition, offset))

    async def commit(self, positions: Positions, *, wait: bool = False) -> None:
        """Commit the next offset to read of each (topic, partition); a commit lost to a
        rebalance only means those records are read again."""
        await self._call(self._commit, _offsets(positions), wait)

    def _commit(self, offsets: list[confluent_kafka.TopicPartition], wait: bool) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=not wait)
        except confluent_kafka.KafkaException as error:
            log.warning("position not committed (%s); those records will be read again", error)

    async def close(self) -> None:
        """Leave the group (its partitions go to the other workers at once)."""
        await self._call(self._consumer.close)
        self._call.close()


class Bookmark:
    """Positions kept as the committed offsets of a consumer group that no client joins: a
    durable note, on any broker, of how far something got (committed offsets are core
    protocol; Tansu keeps no commit metadata, so the group itself is the note)."""

    def __init__(self, settings: Settings, group_id: str) -> None:
        self._consumer = confluent_kafka.Consumer(
            client_config(settings)
            | {"group.id": group_id, "enable.auto.commit": False, "logger": log}
        )
        self._call = _Blocking("adstream-bookmark")

    async def save(self, positions: Positions) -> None:
        """Write the positions (each the next offset to read of a topic partition)."""
        if positions:
            await self._call(self._save, _offsets(positions))

    def _save(self, offsets: list[confluent_kafka.TopicPartition]) -> None:
        self._consumer.commit(offsets=offsets, asynchronous=False)

    async def load(self, partitions: Partitions, timeout_s: float = 10.0) -> Positions:
        """The saved positions of ``partitions`` (those never saved are left out)."""
        asked = [_position(topic, partition, 0) for topic, partition in partitions]
        if not asked:
            return {}
        found = await self._call(self._consumer.committed, asked, timeout_s)
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    async def close(self) -> None:
        await self._call(self._consumer.close)
        self._call.close()


class BatchProducer:
    """Records handed to librdkafka one by one (:meth:`add`, as an outbox takes them) and
    delivered together (:meth:`flush`)."""

    def __init__(self, settings: Settings) -> None:
        self._errors: list[str] = []
        self._queued = 0  # records added since the last flush
        self._producer = confluent_kafka.Producer(
            client_config(settings)
            | {
                "linger.ms": 1,
                "message.max.bytes": MAX_MESSAGE_BYTES,  # snapshots
                "enable.idempotence": False,
                "partitioner": "murmur2_random",  # Java's: keys land where aiokafka puts them
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
                "logger": log,
            }
        )
        self._call = _Blocking("adstream-producer")

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}: {error}")

    def add(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        """Queue one record for delivery."""
        self._queued += 1
        try:
            self._producer.produce(topic, value, key)
        except BufferError:  # the local queue is full: deliver what it holds, then queue
            self._producer.flush()
            self._producer.produce(topic, value, key)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every record queued so far is delivered.

        Raises
        ------
        DeliveryFailed
            If any was not (the broker refused it, or ``timeout_s`` ran out).
        """
        if not self._queued:
            return  # no hop to the client's thread for nothing
        self._queued = 0
        left = await self._call(self._producer.flush, timeout_s)
        errors, self._errors = self._errors, []
        if left or errors:
            raise DeliveryFailed(f"{left} records undelivered; errors: {errors[:3]}")

    async def close(self) -> None:
        await self._call(self._producer.flush, 10.0)
        self._call.close()

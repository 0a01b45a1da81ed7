"""Topic readers without a consumer group: read a topic to its end, fetch one record, follow
topics until something is seen.

Every reader assigns partitions and reads from the beginning (no group, no end offsets: see
DESIGN §6). They are aiokafka consumers, awaited in the asyncio code that uses them: the
worker's followers of ``models`` and ``control``, the command client and the operations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from learners.errors import AdstreamError
from streams.wire.settings import Settings

__all__ = ["assigned_from_start", "consumer_options", "fetch_at", "follow_until", "read_topic"]

log = logging.getLogger(__name__)


def consumer_options(settings: Settings) -> dict[str, Any]:
    """aiokafka consumer options for a latency-sensitive reader without a group."""
    return {
        "bootstrap_servers": settings.kafka,
        "enable_auto_commit": False,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        **settings.client_security(),
    }


async def assigned_from_start(consumer: AIOKafkaConsumer, topics: list[str]) -> None:
    """Assign every partition of ``topics`` and seek to the beginning."""
    partitions = []
    for topic in topics:
        found = None
        for _ in range(50):
            found = consumer.partitions_for_topic(topic)
            if found:
                break
            await consumer.topics()  # refreshes the cluster metadata
        if not found:
            raise AdstreamError(f"topic {topic} not found")
        partitions += [TopicPartition(topic, p) for p in sorted(found)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)


async def read_topic(settings: Settings, logical: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record of a topic, from the beginning to its end: the end of each partition is
    the high watermark its fetch responses carry (ListOffsets is wrong on Tansu, and silence
    proves nothing on a loaded broker)."""
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    await consumer.start()
    try:
        await assigned_from_start(consumer, [settings.topic(logical)])
        partitions = consumer.assignment()
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while True:
            for batch in (await consumer.getmany(timeout_ms=100)).values():
                records.extend(batch)
            if await _at_end(consumer, partitions):
                return records
            if time.monotonic() > deadline:
                raise AdstreamError(f"{logical}: not read to its end within {timeout_s} s")
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> bool:
    for partition in partitions:
        end = consumer.highwater(partition)
        if end is None or await consumer.position(partition) < end:
            return False
    return True


async def fetch_at(settings: Settings, logical: str, offset: int, timeout_s: float = 30.0) -> bytes:
    """The value of the record at ``offset`` of a one-partition topic."""
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    await consumer.start()
    try:
        partition = TopicPartition(settings.topic(logical), 0)
        consumer.assign([partition])
        consumer.seek(partition, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in (await consumer.getmany(partition, timeout_ms=200)).get(partition, []):
                if record.offset == offset:
                    return record.value
        raise AdstreamError(f"no record at {logical} offset {offset} within {timeout_s} s")
    finally:
        await consumer.stop()


async def follow_until(
    settings: Settings,
    logicals: Sequence[str],
    on_record: Callable[[ConsumerRecord], bool],
    timeout_s: float,
) -> bool:
    """Hand every record of ``logicals``, from the beginning, to ``on_record``, until it says
    the caller has what it waits for; True then, False if ``timeout_s`` passes first.

    ``on_record`` returns whether the records handed so far, all of them, hold what the caller
    waits for. Its answer to the last record of a fetch decides, so every record that arrived
    together is seen (every worker's answer to a command, say). Partitions come in fetch
    order, each in offset order.
    """
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    await consumer.start()
    try:
        await assigned_from_start(consumer, [settings.topic(logical) for logical in logicals])
        deadline = time.monotonic() + timeout_s
        done = False
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    done = on_record(record)
            if done:
                return True
        return False
    finally:
        await consumer.stop()

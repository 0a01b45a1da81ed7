"""Following topics from the beginning until the caller has what it waits for
(``follow_until``, under the command client's and the operations' waits)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import confluent_kafka
import pytest
from aiokafka import ConsumerRecord

from streams.kafka.readers import follow_until
from streams.wire.settings import Settings

pytestmark = pytest.mark.broker

Produce = Callable[[str, bytes | None, bytes], None]


def test_follows_every_topic_from_the_start_until_the_caller_is_done(
    settings: Settings, produce: Produce
) -> None:
    for n in range(3):
        produce("metrics", b"m", str(n).encode())
    produce("alerts", b"a", b"wanted")
    seen: list[tuple[str, bytes]] = []

    def until_wanted(record: ConsumerRecord) -> bool:
        seen.append((record.topic, record.value))
        return (settings.topic("alerts"), b"wanted") in seen

    assert asyncio.run(follow_until(settings, ["metrics", "alerts"], until_wanted, 30.0))
    metrics = [value for topic, value in seen if topic == settings.topic("metrics")]
    assert metrics[:3] == [b"0", b"1", b"2"]  # from the beginning, in order


def test_gives_up_after_the_timeout(settings: Settings, produce: Produce) -> None:
    produce("metrics", b"m", b"not it")
    seen: list[bytes] = []

    def never(record: ConsumerRecord) -> bool:
        seen.append(record.value)
        return False

    started = time.monotonic()
    assert not asyncio.run(follow_until(settings, ["metrics"], never, 1.0))
    took_s = time.monotonic() - started
    assert seen == [b"not it"]  # what there was, once
    assert 1.0 <= took_s < 10


def test_the_answer_to_the_last_record_of_a_fetch_decides(settings: Settings) -> None:
    """A caller's answer is its state: a True taken back by a later record of the same fetch
    does not end the follow. Both records are on the broker before the follow starts, so its
    first fetch brings both."""
    producer = confluent_kafka.Producer({"bootstrap.servers": settings.kafka})
    for value in (b"yes", b"no"):
        producer.produce(settings.topic("metrics"), value)
    assert producer.flush(10) == 0
    answers: list[bool] = []

    def last_said_yes(record: ConsumerRecord) -> bool:
        answers.append(record.value == b"yes")
        return answers[-1]

    assert not asyncio.run(follow_until(settings, ["metrics"], last_said_yes, 1.0))
    assert answers == [True, False]

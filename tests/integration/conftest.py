"""Integration fixtures: one embedded broker per session, a fresh topic prefix and consumer
group per test, real worker processes, and an independent client (confluent-kafka) to see what
is really on a topic."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from streams.kafka.broker import EmbeddedBroker, create_topics
from streams.kafka.broker import free_port as unused_port
from streams.operations.process import WorkerProcess
from streams.operations.watch import wait_until_serving
from streams.wire.settings import Settings
from streams.wire.topics import topic_specs


def _running(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The embedded broker; after the session, nothing it or the workers started may remain."""
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    embedded = EmbeddedBroker(log_path=log_path).start()
    yield embedded
    embedded.stop()
    leftovers = _running(f"tansu.*:{embedded.port}")
    assert not leftovers, f"broker processes left running: {leftovers}"


@pytest.fixture
def new_settings(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Settings]:
    """Settings of a system of its own: a fresh topic prefix and consumer group, a state
    directory of its own (so no two systems share a snapshot key file), topics created
    (keyword arguments override the test defaults)."""

    def make(**overrides: Any) -> Settings:
        run = uuid.uuid4().hex[:10]
        defaults: dict[str, Any] = {
            "kafka": broker.bootstrap,
            "topic_prefix": f"t{run}.",
            "app_id": f"adstream-{run}",
            "partitions": 2,
            "attribution_window_s": 2.0,
            "join_grace_s": 0.5,
            "metrics_interval_s": 0.5,
            "metrics_port": 0,  # tests that read /metrics choose a free port
            # no serving deadline: a test of anything but overload must not shed the queries
            # a busy machine delays (test_streams_shedding sets its own)
            "serve_deadline_ms": 0,
            "state_dir": str(tmp_path_factory.mktemp("state")),
        }
        fresh = Settings(**{**defaults, **overrides})
        create_topics(fresh.kafka, list(topic_specs(fresh).values()), fresh)
        return fresh

    return make


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    return unused_port()


@pytest.fixture
def settings(new_settings: Callable[..., Settings]) -> Settings:
    """Settings for one test: its own topic prefix and consumer group, topics created."""
    return new_settings()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers for a test (serving when returned, unless ``serving=False``); all are
    stopped after it."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, *, serving: bool = True) -> WorkerProcess:
        worker = WorkerProcess(settings, log_path=tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        if serving:
            asyncio.run(wait_until_serving(settings, timeout_s=60))
        return worker

    yield start
    for worker in started:
        worker.stop()
    assert not [worker.pid for worker in started if worker.alive()], "workers left running"


class TopicReader:
    """Reads a whole topic from the beginning with confluent-kafka (librdkafka)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def read(
        self,
        logical: str,
        until: Callable[[list[Any]], bool],
        timeout_s: float = 30.0,
    ) -> list[Any]:
        """Poll ``logical`` until ``until(messages)`` holds; returns the messages read."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
            }
        )
        topic = self.settings.topic(logical)
        try:
            metadata = consumer.list_topics(topic, timeout=10)
            partitions = metadata.topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            messages: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while not until(messages) and time.monotonic() < deadline:
                message = consumer.poll(0.1)
                if message is not None and message.error() is None:
                    messages.append(message)
            return messages
        finally:
            consumer.close()


@pytest.fixture
def reader(settings: Settings) -> TopicReader:
    return TopicReader(settings)


@pytest.fixture
def reader_for() -> Callable[[Settings], TopicReader]:
    """A topic reader for another system than the test's ``settings``."""
    return TopicReader


@pytest.fixture
def produce(settings: Settings) -> Iterator[Callable[[str, bytes | None, bytes], None]]:
    """Produce raw records with confluent-kafka (Java-compatible murmur2 partitioning)."""
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka,
            "partitioner": "murmur2_random",
            "linger.ms": 2,
            "message.max.bytes": 4 * 1024 * 1024,
        }
    )

    def send(logical: str, key: bytes | None, value: bytes, to: Settings = settings) -> None:
        """Produce to a topic of the test's system (or of the system ``to``)."""
        producer.produce(to.topic(logical), key=key, value=value)
        producer.poll(0)

    yield send
    assert producer.flush(10) == 0, "records not delivered"

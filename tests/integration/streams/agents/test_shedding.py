"""Overload with a bound, on the broker: a worker sheds the queries that reach it later than
its serving deadline (no prediction, no dead letter, counted as ``shed`` in its report on
``metrics``, their position committed like a served query's) and serves the fresh ones."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from producers.world import World
from streams.kafka.outbox import now_ms
from streams.wire import contracts
from tests.integration.conditions import worker_counted, worker_reports

pytestmark = pytest.mark.broker

DEADLINE_MS = 2_000  # short, yet far above what a busy machine delays a fresh query by
STALE_BY_MS = 60_000  # the stale queries' age when sent: far past the deadline


def _committed(settings, group: str, partitions: list[int]) -> dict[int, int]:
    """The offsets ``group`` has committed on ``queries``, by partition."""
    topic = settings.topic("queries")
    consumer = Consumer({"bootstrap.servers": settings.kafka, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def test_queries_past_the_deadline_are_shed_counted_and_committed(
    new_settings, start_worker, reader_for
):
    settings = new_settings(serve_deadline_ms=DEADLINE_MS, agents="serve")
    start_worker(settings)  # serving: a readiness probe was answered
    reader = reader_for(settings)
    ready_ms = now_ms()
    # the probes sent while the worker joined its group were shed: count from a report after
    reports = worker_reports(
        reader.read("metrics", lambda ms: any(r["ts"] >= ready_ms for r in worker_reports(ms)))
    )
    before = next(r["counters"] for r in reports if r["ts"] >= ready_ms)
    assert before["shed"] >= 0 and before.get("dead_letters", 0) == 0

    world = World(seed=4)
    delivered: dict[int, int] = {}  # partition -> the highest offset of ours

    def on_delivery(error, message) -> None:
        assert error is None, error
        partition = message.partition()
        delivered[partition] = max(delivered.get(partition, -1), message.offset())

    producer = Producer({"bootstrap.servers": settings.kafka, "partitioner": "murmur2_random"})
    stale_ms = now_ms() - STALE_BY_MS
    stale = [world.next_query(stale_ms + i)[0] for i in range(40)]
    for query in stale:  # as a front-end that stamps its records with the query's time
        producer.produce(
            settings.topic("queries"),
            contracts.encode(query),
            query["user_id"].encode(),
            timestamp=query["ts"],
            on_delivery=on_delivery,
        )
    fresh = [world.next_query(now_ms())[0] for _ in range(20)]
    for query in fresh:  # stamped by the client when sent
        producer.produce(
            settings.topic("queries"),
            contracts.encode(query),
            query["user_id"].encode(),
            on_delivery=on_delivery,
        )
    assert producer.flush(10) == 0

    counted = worker_counted(
        lambda c: (
            c["read.queries"] - before["read.queries"] >= len(stale) + len(fresh)
            and c["shed"] - before["shed"] >= len(stale)
        )
    )
    after = worker_reports(reader.read("metrics", counted))[-1]["counters"]
    assert after["shed"] - before["shed"] == len(stale)
    assert after.get("dead_letters", 0) == 0

    wanted = {query["event_id"] for query in fresh}
    predictions = {
        m.key().decode()
        for m in reader.read("predictions", lambda ms: wanted <= {m.key().decode() for m in ms})
    }
    assert wanted <= predictions, "a fresh query went unanswered"
    assert not predictions & {query["event_id"] for query in stale}, "a stale query was served"

    # a shed query's position is committed like a served one's (every commit_interval_s)
    group = f"{settings.group_id}.serve"
    deadline = time.monotonic() + 30
    committed = _committed(settings, group, list(delivered))
    while any(committed[p] <= last for p, last in delivered.items()):
        assert time.monotonic() < deadline, f"committed {committed}, delivered up to {delivered}"
        time.sleep(0.2)  # polling, with a deadline
        committed = _committed(settings, group, list(delivered))

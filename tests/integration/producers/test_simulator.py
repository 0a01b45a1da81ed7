"""The Simulator against the embedded broker, answered by a tiny echo responder."""

import asyncio
import contextlib
import math
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from producers import SimulationStats, Simulator, World
from streams import contracts

pytestmark = pytest.mark.broker


async def answer(query: dict, producer: AIOKafkaProducer, settings) -> None:
    """A prediction and a ranking for one query, candidates kept in their given order."""
    ad_ids = [ad["ad_id"] for ad in query["candidates"]]
    scores = [0.5] * len(ad_ids)
    key = query["event_id"].encode()
    predicted = contracts.prediction(
        event_id=query["event_id"],
        ts_event=query["ts"],
        ts_scored=int(time.time() * 1000),
        ad_ids=ad_ids,
        scores={"engagement": scores},
        versions={"click": 1},
    )
    ranked = contracts.ranking(
        event_id=query["event_id"],
        ts_event=query["ts"],
        ad_ids=ad_ids,
        combined=scores,
        weights={"alpha": 0.0, "beta": 1.0, "version": 1},
        arm="echo",
        ts_ranked=1_700_000_000_000,
    )
    await producer.send(settings.topic("predictions"), contracts.encode(predicted), key=key)
    await producer.send(settings.topic("rankings"), contracts.encode(ranked), key=key)


async def echo(settings) -> None:
    """Answer every query on the topic, from the beginning, until cancelled."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, fetch_max_wait_ms=10)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        await consumer.topics()
        topic = settings.topic("queries")
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await producer.send(settings.topic("predictions"), b"\xc1 not msgpack", key=b"junk")
        while True:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    await answer(contracts.decode_query(record.value), producer, settings)
    finally:
        await producer.stop()
        await consumer.stop()


@contextlib.asynccontextmanager
async def responder(settings, simulator: Simulator):
    """Run the echo responder; if it fails, the simulator stops and its error is raised."""
    task = asyncio.create_task(echo(settings))
    task.add_done_callback(lambda _: simulator.stop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_every_query_is_answered_and_every_ranking_shown(settings):
    ticks: list[int] = []
    simulator = Simulator(settings=settings, world=World(seed=1), rate_per_s=200, duration_s=3)
    async with responder(settings, simulator):
        stats = await simulator.run(on_tick=lambda live: ticks.append(live.queries_sent))

    assert stats.queries_sent == 600
    assert stats.unanswered() == 0
    assert stats.predictions_received == stats.rankings_received == 600
    assert stats.impressions == stats.rankings_received
    assert stats.bad_messages == 1 and stats.unmatched == 0 and stats.send_errors == 0
    assert stats.clicks == stats.clicks_sent + stats.clicks_pending
    assert stats.late_clicks_sent <= stats.clicks_sent
    assert len(stats.latencies_ms) == 600
    assert 0 < stats.latency_ms(50) <= stats.latency_ms(99) < 5_000
    assert 0.005 < stats.expected_ctr() < 0.05 and math.isfinite(stats.realized_ctr())
    assert len(ticks) >= 4 and ticks == sorted(ticks)


@pytest.mark.asyncio
async def test_stop_ends_the_run_early(settings):
    simulator = Simulator(settings=settings, world=World(seed=2), rate_per_s=100, duration_s=60)

    def stop_at_first_tick(stats: SimulationStats) -> None:
        simulator.stop()

    started = time.monotonic()
    stats = await simulator.run(on_tick=stop_at_first_tick)
    assert time.monotonic() - started < 5
    assert 0 < stats.queries_sent < 6_000

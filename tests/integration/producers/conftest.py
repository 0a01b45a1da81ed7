"""The echo responder shared by the Simulator's integration tests: an aiokafka consumer of the
queries topic that answers every query with a prediction and a ranking."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from producers import Simulator
from streams.kafka.readers import assigned_from_start
from streams.wire import contracts

#: The ranking's weights unless the test's ``answer`` names others.
ECHO_WEIGHTS = {"alpha": 0.0, "beta": 1.0, "version": 1}
#: A fixed ranking time unless the test's ``answer`` names one.
ECHO_TS_RANKED = 1_700_000_000_000

Answer = Callable[[dict], dict[str, Any] | None]


def in_given_order(query: dict) -> dict[str, Any]:
    """The default answer: the candidates in their given order, the default weights."""
    return {}


async def send_answer(query: dict, answer: Answer, producer: AIOKafkaProducer, settings) -> None:
    """A prediction and a ranking for one query, as ``answer(query)`` says. Its keys, all
    optional: ``ad_ids`` (display order; default: the given order), ``weights`` (default:
    ``ECHO_WEIGHTS``), ``category`` (leaf -> probability; default: none) and ``ts_ranked``
    (default: ``ECHO_TS_RANKED``). Every score is 0.5. ``None``: no answer at all (a query a
    worker shed)."""
    said = answer(query)
    if said is None:
        return
    ad_ids = said.get("ad_ids", [ad["ad_id"] for ad in query["candidates"]])
    scores = [0.5] * len(ad_ids)
    key = query["event_id"].encode()
    predicted = contracts.prediction(
        event_id=query["event_id"],
        ts_event=query["ts"],
        ts_scored=int(time.time() * 1000),
        ad_ids=ad_ids,
        scores={"engagement": scores},
        versions={"click": 1},
        category=said.get("category"),
    )
    ranked = contracts.ranking(
        event_id=query["event_id"],
        ts_event=query["ts"],
        ad_ids=ad_ids,
        combined=scores,
        weights=said.get("weights", ECHO_WEIGHTS),
        arm="echo",
        ts_ranked=said.get("ts_ranked", ECHO_TS_RANKED),
    )
    await producer.send(settings.topic("predictions"), contracts.encode(predicted), key=key)
    await producer.send(settings.topic("rankings"), contracts.encode(ranked), key=key)


async def echo(settings, answer: Answer, poison: bool) -> None:
    """Answer every query on the topic, from the beginning, until cancelled; with ``poison``,
    first send one undecodable record to the predictions topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka, fetch_max_wait_ms=10)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        await assigned_from_start(consumer, [settings.topic("queries")])
        if poison:
            await producer.send(settings.topic("predictions"), b"\xc1 not msgpack", key=b"junk")
        while True:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    query = contracts.decode_query(record.value)
                    await send_answer(query, answer, producer, settings)
    finally:
        await producer.stop()
        await consumer.stop()


@contextlib.asynccontextmanager
async def run_responder(
    settings, simulator: Simulator, answer: Answer = in_given_order, poison: bool = False
) -> AsyncIterator[None]:
    """Run the echo responder; if it fails, the simulator stops and its error is raised."""
    task = asyncio.create_task(echo(settings, answer, poison))
    task.add_done_callback(lambda _: simulator.stop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def responder() -> Callable[..., contextlib.AbstractAsyncContextManager[None]]:
    """``async with responder(settings, simulator, answer=..., poison=...):`` runs the echo
    responder around a simulator run (see ``send_answer`` for what ``answer`` returns)."""
    return run_responder

"""Fuzzing every input topic: nothing crashes the worker, nothing poisons a model."""

from __future__ import annotations

import asyncio
import collections
import math
import random
from collections.abc import Iterator

import msgpack
import pytest

from producers.world import World
from streams import snapshots
from streams.control.client import send_command, wait_applied
from streams.kafka.readers import read_topic
from streams.operations.rebuild import model_state
from streams.wire import contracts
from tests.integration.conditions import model_reported

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000
DECODERS = {
    "queries": contracts.decode_query,
    "impressions": contracts.decode_impression,
    "clicks": contracts.decode_click,
    "ratings": contracts.decode_rating,
    "query-labels": contracts.decode_query_label,
    "control": contracts.decode_command,
}
HUGE = [math.nan, math.inf, -math.inf, 1e308, -1e308, 2**63, -(2**63), "x" * 5000, b"\x00" * 10]


def _mutations(event: dict, rng: random.Random):
    """Bad variants of a valid event: every field replaced by something hostile in turn."""
    raw = contracts.encode(event)
    yield rng.randbytes(rng.randint(0, 200))
    yield raw[: rng.randint(1, len(raw) - 1)]  # truncated msgpack
    yield msgpack.packb([event.get("ts"), "not", "a", "map"])
    for field in event:
        if field != "v":
            yield contracts.encode({**event, field: rng.choice(HUGE)})
    yield contracts.encode({**event, "ts": T0 + 200 * 365 * 86_400_000})  # far future
    yield contracts.encode({**event, "ts": 1})  # far past


def test_fuzzed_inputs_never_crash_the_worker_nor_poison_a_model(
    settings, start_worker, produce, reader
):
    settings = settings.replace(snapshot_key="fuzz", snapshot_every_examples=10**9)
    worker = start_worker(settings)
    world, rng = World(seed=13), random.Random(13)
    valid: list[str] = []
    rejected: collections.Counter[tuple[str, bytes]] = collections.Counter()
    for i in range(200):
        ts = T0 + 100 * i
        query, truth = world.next_query(ts)
        ad = query["candidates"][0]["ad_id"]
        events = {
            "queries": query,
            "impressions": contracts.impression(
                impression_id=f"i{i}",
                event_id=query["event_id"],
                ad_id=ad,
                position=0,
                ts=ts + 10,
                arm="exploit",
            ),
            "clicks": contracts.click(impression_id=f"i{i}", ts=ts + 500),
            "ratings": contracts.rating(impression_id=f"i{i}", quality=0.7, ts=ts + 600),
            "query-labels": contracts.query_label(
                event_id=query["event_id"], query=query["query"], path=truth.leaf, ts=ts
            ),
        }
        for topic, event in events.items():
            produce(topic, b"k", contracts.encode(event))
            if i % 2 == 0:  # duplicates are handled (counted), not learned twice
                produce(topic, b"k", contracts.encode(event))
            if i % 20 == 0:
                for bad in _mutations(event, rng):
                    produce(topic, b"fuzz", bad)
                    if _refused(topic, bad):
                        rejected[settings.topic(topic), bad] += 1
        produce("clicks", b"k", contracts.encode(contracts.click(impression_id="nobody", ts=ts)))
        if i % 20 == 0:
            command = contracts.command(
                seq=i, cmd="set_weights", args={"alpha": 1, "beta": 1}, issued_by="fuzz", ts=ts
            )
            for bad in _mutations(command, rng):
                produce("control", b"fuzz", bad)
                if _refused("control", bad):
                    rejected[settings.topic("control"), bad] += 1
        valid.append(query["event_id"])

    wanted = set(valid)
    answered = reader.read("predictions", lambda ms: wanted <= {m.key().decode() for m in ms}, 60)
    assert wanted <= {m.key().decode() for m in answered}, "a valid query went unanswered"
    assert worker.alive(), "the worker crashed"

    # Every accepted event was processed: each impression, rating and label learned once,
    # duplicates (counted by the join, skipped by id in the learner) not again.
    for name in ("click", "quality", "category"):
        reports = reader.read("metrics", model_reported(name, 200), 60)
        assert model_reported(name, 200)(reports), f"{name} did not learn its 200 examples"
        seq = asyncio.run(send_command(settings, "snapshot", {"model": name}, issued_by="t"))
        assert asyncio.run(wait_applied(settings, seq))
    reader.read("models", lambda ms: {m.key() for m in ms} >= {b"click", b"quality", b"category"})
    latest = {}
    for record in asyncio.run(read_topic(settings, "models")):
        meta, model = snapshots.load(record.value, key=b"fuzz")
        latest[meta["model"]] = model
    for name, model in latest.items():
        assert model.n_learned == 200, f"{name} learned {model.n_learned} examples, not 200"
        numbers = list(_numbers(model_state(model.estimator)))
        assert numbers and all(math.isfinite(v) for v in numbers), f"{name} has NaN or inf"
    letters = [
        contracts.decode_dead_letter(m.value())
        for m in reader.read("dead-letter", lambda ms: False, 3)
    ]
    assert letters and all(letter["reason"] and letter["offset"] >= 0 for letter in letters)
    # Every input its contract refuses is on dead-letter exactly once, with its bytes.
    written = collections.Counter((letter["topic"], letter["payload"]) for letter in letters)
    assert {key: written[key] for key in rejected} == dict(rejected)


def _refused(topic: str, raw: bytes) -> bool:
    """Whether the contract of ``topic`` refuses ``raw`` (what the worker must dead-letter)."""
    try:
        DECODERS[topic](raw)
    except contracts.InvalidEvent:
        return True
    return False


def _numbers(state) -> Iterator[float]:
    """Every number in a model's state (see :func:`streams.operations.rebuild.model_state`)."""
    if isinstance(state, dict):
        for key, value in state.items():
            yield from _numbers(key)
            yield from _numbers(value)
    elif isinstance(state, list | tuple | frozenset):
        for value in state:
            yield from _numbers(value)
    elif isinstance(state, int | float) and not isinstance(state, bool):
        yield float(state)

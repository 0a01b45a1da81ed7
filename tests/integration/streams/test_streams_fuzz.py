"""Fuzzing every input topic: nothing crashes the worker, nothing poisons a model."""

from __future__ import annotations

import asyncio
import math
import random

import msgpack
import pytest

from producers.world import World
from streams import contracts, snapshots
from streams.control import send_command, wait_applied
from streams.observe import read_topic

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000
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
        produce("clicks", b"k", contracts.encode(contracts.click(impression_id="nobody", ts=ts)))
        if i % 20 == 0:
            command = contracts.command(
                seq=i, cmd="set_weights", args={"alpha": 1, "beta": 1}, issued_by="fuzz", ts=ts
            )
            for bad in _mutations(command, rng):
                produce("control", b"fuzz", bad)
        valid.append(query["event_id"])

    wanted = set(valid)
    answered = reader.read("predictions", lambda ms: wanted <= {m.key().decode() for m in ms}, 60)
    assert wanted <= {m.key().decode() for m in answered}, "a valid query went unanswered"
    assert worker.alive(), "the worker crashed"

    seq = asyncio.run(send_command(settings, "snapshot", {"model": "click"}, issued_by="t"))
    assert asyncio.run(wait_applied(settings, seq))
    for name in ("click", "quality", "category"):
        asyncio.run(send_command(settings, "snapshot", {"model": name}, issued_by="t"))
    reader.read("models", lambda ms: {m.key() for m in ms} >= {b"click", b"quality", b"category"})
    latest = {}
    for record in asyncio.run(read_topic(settings, "models")):
        meta, model = snapshots.load(record.value, key=b"fuzz")
        latest[meta["model"]] = model
    for name in ("click", "quality"):
        estimator = latest[name].estimator
        assert latest[name].n_learned > 0
        state = [*estimator._z.values(), *estimator._n.values()]
        assert state and all(math.isfinite(v) for v in state), f"{name} has NaN or inf"
    letters = [
        contracts.decode_dead_letter(m.value())
        for m in reader.read("dead-letter", lambda ms: False, 3)
    ]
    assert letters and all(letter["reason"] and letter["offset"] >= 0 for letter in letters)

"""ServeLoop.serve: a batch of query messages -> predictions and dead letters, no I/O."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from confluent_kafka import Message

from streams import contracts
from streams.agents.serve import ServeLoop
from streams.category import CategoryModel
from streams.emit import Counters, DeadLetters, Outbox
from streams.models import default_models
from tests.unit.streams.fakes import DeliveringProducer
from tests.unit.streams.test_streams_pure_agents import make_query


class _Unscorable:
    def predict_proba_one(self, x: Any) -> dict[bool, float]:
        raise RuntimeError("model fault")


def _loop(models: Any) -> tuple[ServeLoop, Outbox, DeliveringProducer, Counters]:
    producer, counters = DeliveringProducer(), Counters()
    serving = types.SimpleNamespace(
        settings=types.SimpleNamespace(n_bits=18), models=models, category=CategoryModel(18)
    )
    ctx = types.SimpleNamespace(
        settings=types.SimpleNamespace(alert_warmup_examples=10),
        serving=serving,
        counters=counters,
        dead_letters=DeadLetters("dead-letter", counters),
        health=types.SimpleNamespace(observe_scores=lambda name, scores: None),
        topic_name=lambda name: name,
    )
    return ServeLoop(ctx), Outbox(producer), producer, counters


def _messages(*values: bytes) -> list[Message]:
    return [
        Message(topic="queries", partition=0, offset=offset, value=value)
        for offset, value in enumerate(values)
    ]


def test_valid_queries_are_predicted_and_bad_ones_dead_lettered() -> None:
    loop, out, producer, counters = _loop(default_models())
    good = contracts.encode(make_query(3))
    asyncio.run(loop.serve(_messages(good, b"\xc1", good), out))
    topics = [topic for topic, _ in producer.sent]
    assert sorted(topics) == ["dead-letter", "predictions", "predictions"]
    assert counters["predictions"] == 2 and counters["dead_letters"] == 1
    assert counters["read.queries"] == 3


def test_a_model_fault_dead_letters_the_batch_and_serving_goes_on() -> None:
    models = default_models()
    next(iter(models.values())).estimator = _Unscorable()
    loop, out, producer, counters = _loop(models)
    asyncio.run(loop.serve(_messages(contracts.encode(make_query(2)), b"\xc1"), out))
    letters = [contracts.decode_dead_letter(value) for topic, value in producer.sent]
    assert [letter["reason"].split(":")[0] for letter in letters] == [
        "not msgpack",
        "serving failed",
    ]
    assert counters["predictions"] == 0 and counters["dead_letters"] == 2

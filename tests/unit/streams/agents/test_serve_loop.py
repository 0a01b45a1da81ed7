"""ServeLoop.serve: a batch of query messages -> predictions, dead letters and shed queries,
no I/O."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Message

from streams.agents.serve import DEADLINE_CHECK_EVERY, ServeLoop, past_deadline, timely
from streams.kafka.outbox import DeadLetters, Outbox, now_ms
from streams.models.category import CategoryModel
from streams.models.registry import ModelRegistry, default_models
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.view import Serving
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.unit.streams.agents.test_pure_agents import make_query
from tests.unit.streams.fakes import DeliveringProducer


class _Unscorable:
    def predict_proba_one(self, x: Any) -> dict[bool, float]:
        raise RuntimeError("model fault")


def _loop(
    models: Any, deadline_ms: int = 0
) -> tuple[ServeLoop, Outbox, DeliveringProducer, Counters]:
    producer, counters = DeliveringProducer(), Counters()
    settings = Settings(
        kafka="127.0.0.1:9", topic_prefix="", serve_deadline_ms=deadline_ms, n_bits=18
    )
    loop = ServeLoop(
        settings=settings,
        serving=Serving(ModelRegistry(models, category=CategoryModel(n_bits=18))),
        counters=counters,
        dead_letters=DeadLetters("dead-letter", counters),
        health=WorkerHealth(settings, counters, "w1"),
    )
    return loop, Outbox(producer), producer, counters


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


# --------------------------------------------------------------------------- the deadline


@pytest.mark.parametrize(
    ("age_ms", "deadline_ms", "shed"),
    [
        (0, 200, False),
        (200, 200, False),  # at the deadline: still served
        (201, 200, True),
        (60_000, 200, True),
        (-5_000, 200, False),  # a producer's clock ahead of the worker's
        (60_000, 0, False),  # 0: no deadline
        (10**12, 0, False),
    ],
)
def test_a_query_is_shed_only_when_older_than_a_deadline(age_ms, deadline_ms, shed) -> None:
    assert past_deadline(age_ms, deadline_ms) is shed


def _query_at(i: int, timestamp: tuple[int, int] | None) -> Message:
    query = contracts.encode({**make_query(3), "event_id": f"e-{i}"})
    stamp = {} if timestamp is None else {"timestamp": timestamp}
    return Message(topic="queries", partition=0, offset=i, value=query, **stamp)


def test_the_batch_keeps_exactly_the_messages_within_the_deadline() -> None:
    now = 1_700_000_000_000
    ages = [0, 199, 200, 201, 5_000, -300]
    messages = [_query_at(i, (TIMESTAMP_CREATE_TIME, now - age)) for i, age in enumerate(ages)]
    kept = timely(messages, now, 200)
    assert [m.offset() for m in kept] == [
        i for i, age in enumerate(ages) if not past_deadline(age, 200)
    ]
    assert [m.offset() for m in kept] == [0, 1, 2, 5]
    assert timely(messages, now, 0) is messages
    unstamped = [_query_at(0, None)]  # TIMESTAMP_NOT_AVAILABLE: never shed
    assert timely(unstamped, now, 200) is unstamped
    appended = [_query_at(0, (TIMESTAMP_LOG_APPEND_TIME, now - 201))]  # the broker's clock
    assert timely(appended, now, 200) == []


def test_late_queries_are_shed_counted_and_never_dead_lettered() -> None:
    loop, out, producer, counters = _loop(default_models(), deadline_ms=1_000)
    now = now_ms()
    late = [_query_at(i, (TIMESTAMP_CREATE_TIME, now - 60_000)) for i in range(3)]
    fresh = [_query_at(i, (TIMESTAMP_CREATE_TIME, now)) for i in range(3, 5)]
    asyncio.run(loop.serve([late[0], fresh[0], late[1], late[2], fresh[1]], out))
    answered = {contracts.decode_prediction(value)["event_id"] for _, value in producer.sent}
    assert answered == {"e-3", "e-4"}
    assert [topic for topic, _ in producer.sent] == ["predictions", "predictions"]
    assert counters["shed"] == 3 and counters["predictions"] == 2
    assert counters["read.queries"] == 5 and counters["dead_letters"] == 0


def test_a_batch_of_late_queries_publishes_nothing_and_a_late_bad_one_is_not_read() -> None:
    loop, out, producer, counters = _loop(default_models(), deadline_ms=200)
    old = now_ms() - 10_000
    bad = Message(topic="queries", partition=0, offset=9, value=b"\xc1", timestamp=(1, old))
    asyncio.run(loop.serve([_query_at(0, (TIMESTAMP_CREATE_TIME, old)), bad], out))
    assert producer.sent == [] and counters["shed"] == 2 and counters["dead_letters"] == 0


def test_a_large_batch_is_checked_against_the_clock_slice_by_slice(monkeypatch) -> None:
    """The clock moves while a batch is scored: a later slice is judged when its turn comes."""
    loop, out, producer, counters = _loop(default_models(), deadline_ms=200)
    sent_at = 1_700_000_000_000
    turns = iter([sent_at + 150, sent_at + 250, sent_at + 250])
    monkeypatch.setattr("streams.agents.serve.now_ms", lambda: next(turns))
    n = DEADLINE_CHECK_EVERY + 50
    batch = [_query_at(i, (TIMESTAMP_CREATE_TIME, sent_at)) for i in range(n)]
    asyncio.run(loop.serve(batch, out))
    assert counters["predictions"] == DEADLINE_CHECK_EVERY and counters["shed"] == 50
    assert len(producer.sent) == DEADLINE_CHECK_EVERY


def test_without_a_deadline_every_query_is_served_however_old() -> None:
    loop, out, _, counters = _loop(default_models(), deadline_ms=0)
    ancient = [_query_at(i, (TIMESTAMP_CREATE_TIME, 1_000_000_000_000)) for i in range(3)]
    asyncio.run(loop.serve(ancient, out))
    assert counters["predictions"] == 3 and counters["shed"] == 0 and "shed" in counters


def test_the_deadline_is_a_setting_validated_when_built() -> None:
    assert Settings().serve_deadline_ms == 200
    assert Settings.from_env({"ADSTREAM_SERVE_DEADLINE_MS": "0"}).serve_deadline_ms == 0
    with pytest.raises(ValueError, match="serve_deadline_ms must be >= 0"):
        Settings.from_env({"ADSTREAM_SERVE_DEADLINE_MS": "-1"})

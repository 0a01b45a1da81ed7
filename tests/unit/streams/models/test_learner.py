"""The learning loop commits an example's offset only once a delivered snapshot holds it, learns
each example once, skips replays and duplicates, and dead-letters what it cannot learn
(consumed messages and the producer faked: no I/O; the learner and its loop are built as the
composition root builds them, without a Faust app)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from confluent_kafka import Message

from streams import snapshots
from streams.agents.learn import LearnLoop
from streams.kafka.outbox import DeadLetters, Outbox
from streams.models.learner import Learner
from streams.models.ledger import id_digest
from streams.models.registry import ModelRegistry, default_models
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.unit.streams.fakes import DeliveringProducer, click_example

P0, P1 = ("examples", 0), ("examples", 1)


def _example(i: int, origin_offset: int | None = None) -> dict[str, Any]:
    return click_example(i, {i % 7: 1.0, 100: 1.0}, float(i % 3 == 0), origin_offset)


def _messages(items: list[tuple[int, Any]], partition: int = 0) -> list[Message]:
    """Messages of ``examples`` at (offset, example or raw bytes)."""
    return [
        Message(
            topic="examples",
            partition=partition,
            offset=offset,
            value=raw if isinstance(raw, bytes) else contracts.encode(raw),
        )
        for offset, raw in items
    ]


@dataclasses.dataclass
class Learning:
    """A learner, its loop and what they count in."""

    models: ModelRegistry
    counters: Counters
    health: WorkerHealth
    learner: Learner
    loop: LearnLoop


def _learning(settings: Settings) -> Learning:
    models, counters = default_models(), Counters()
    health = WorkerHealth(settings, counters, "w1")
    learner = Learner(
        settings=settings, models=models, counters=counters, health=health, worker="w1"
    )
    loop = LearnLoop(
        settings=settings,
        learner=learner,
        counters=counters,
        dead_letters=DeadLetters(settings.topic("dead-letter"), counters),
        request_report=lambda: None,
    )
    return Learning(models, counters, health, learner, loop)


@pytest.fixture
def ctx() -> Learning:
    return _learning(Settings(kafka="127.0.0.1:9", snapshot_key="k", snapshot_every_examples=3))


@pytest.fixture
def loop(ctx) -> LearnLoop:
    return ctx.loop


def _batch(loop: LearnLoop, producer: DeliveringProducer, messages: list[Message]) -> None:
    """One batch, as the loop runs it: learned, snapshots due written, all delivered."""
    outbox = Outbox(producer)
    loop.learn(messages, outbox)
    asyncio.run(outbox.flush())
    loop.delivered(messages)


def _snapshots(producer: DeliveringProducer) -> list[dict[str, Any]]:
    return [snapshots.verify(raw, key=b"k") for topic, raw in producer.sent if "models" in topic]


def test_examples_are_committed_only_once_a_delivered_snapshot_holds_them(loop) -> None:
    producer = DeliveringProducer()
    _batch(loop, producer, _messages([(0, _example(0)), (1, _example(1))]))
    assert loop.committable() == {P0: 0}, "committed before any snapshot"
    assert producer.sent == []
    _batch(loop, producer, _messages([(2, _example(2)), (3, _example(3))]))
    (meta,) = _snapshots(producer)
    assert meta["n_examples"] == 3 and meta["offsets"] == {"examples:0": 2}
    assert meta["origins"] == {"impressions:0": 2}
    assert meta["ids_digest"] == id_digest(["imp-0", "imp-1", "imp-2"])
    assert loop.committable() == {P0: 3}, "the snapshot holds offsets 0-2, not 3"


def test_an_undelivered_snapshot_saves_nothing_and_is_written_again(ctx, loop) -> None:
    producer = DeliveringProducer()
    outbox = Outbox(producer)
    messages = _messages([(i, _example(i)) for i in range(4)])
    loop.learn(messages, outbox)  # a snapshot of offsets 0-2 is written; its delivery fails:
    ctx.learner.undelivered()
    assert loop.committable({P0: 4}) == {P0: 0}
    ctx.learner.write_due(outbox)  # written again at once
    asyncio.run(outbox.flush())
    loop.delivered(messages)
    _, again = _snapshots(producer)
    assert again["offsets"] == {"examples:0": 3} and again["n_examples"] == 4
    assert loop.committable() == {P0: 4}
    _batch(loop, producer, messages)  # the batch read again
    assert ctx.counters["replayed.click"] == 4 and ctx.models["click"].n_learned == 4


def test_replays_and_duplicates_are_skipped_not_learned(ctx, loop) -> None:
    producer = DeliveringProducer()
    _batch(loop, producer, _messages([(i, _example(i)) for i in range(3)]))
    _batch(loop, producer, _messages([(1, _example(1))]))  # read again after a restart
    _batch(loop, producer, _messages([(3, _example(2, origin_offset=2))]))  # the join re-emitted it
    assert ctx.models["click"].n_learned == 3
    assert ctx.counters["replayed.click"] == 1 and ctx.counters["duplicate.click"] == 1
    ledger = ctx.learner.ledger("click")
    assert ledger.offsets == {"examples:0": 3} and ledger.n_learned == 3
    assert loop.committable() == {P0: 3}, "a skipped example is saved by the next snapshot"


def test_what_cannot_be_learned_is_dead_lettered_and_holds_no_commit(ctx, loop) -> None:
    producer = DeliveringProducer()
    unknown = {**_example(0), "model": "nope"}
    category_label_for_click = {**_example(1), "label": "a/b/c"}
    _batch(loop, producer, _messages([(0, unknown), (1, category_label_for_click), (2, b"\xc1")]))
    letters = [contracts.decode_dead_letter(value) for _, value in producer.sent]
    assert [letter["reason"] for letter in letters[:2]] == [
        "unknown model: nope",
        "label of the wrong kind for click",
    ]
    assert letters[2]["reason"].startswith("not msgpack") and letters[2]["offset"] == 2
    assert ctx.counters["dead_letters"] == 3 and ctx.models["click"].n_learned == 0
    assert loop.committable() == {P0: 3}


def test_a_revoked_partition_is_committed_up_to_its_snapshot_and_let_go(ctx, loop) -> None:
    producer = DeliveringProducer()
    _batch(loop, producer, _messages([(0, _example(0)), (1, _example(1))], partition=0))
    _batch(loop, producer, _messages([(0, _example(2)), (1, _example(3))], partition=1))
    assert loop.committable() == {P0: 2, P1: 1}, "the snapshot of 3 examples ends at P1's 0"
    assert asyncio.run(loop.on_revoke([P1])) == {P1: 1}
    assert loop.committable() == {P0: 2}
    assert ctx.learner.unsaved() == {}, "P1's example at offset 1 is no longer ours to save"


@pytest.mark.parametrize("batch_size", [7, 500])
def test_batching_changes_no_prediction_no_metric_and_no_snapshot(batch_size) -> None:
    """The same examples learned one message at a time and in batches: the same model, the
    same progressive metrics and health, the same snapshots (versions and offsets)."""
    rng = random.Random(11)
    messages = _messages(
        [  # features that differ from one example to the next; a dead letter now and then
            (i, click_example(i, {rng.randrange(50): 1.0, 100: 1.0}, float(rng.random() < 0.2)))
            if i % 97
            else (i, b"\xc1")
            for i in range(1_500)
        ]
    )
    runs = []
    for size in (1, batch_size):
        settings = Settings(
            kafka="127.0.0.1:9", snapshot_key="k", snapshot_every_examples=200, snapshot_every_s=1e9
        )
        ctx = _learning(settings)
        loop, producer = ctx.loop, DeliveringProducer()
        for start in range(0, len(messages), size):
            _batch(loop, producer, messages[start : start + size])
        model = ctx.models["click"]
        health = ctx.health.models["click"]
        saved = [(meta["version"], meta["offsets"]) for meta in _snapshots(producer)]
        runs.append(
            (
                model.estimator._z,
                model.estimator._n,
                model.report(),
                health.recent(),
                health.label_shift(),
                health.recent_auc(),
                saved,
                ctx.counters["dead_letters"],
            )
        )
    assert runs[0] == runs[1]
    assert runs[0][-2], "snapshots were written"

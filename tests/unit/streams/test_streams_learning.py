"""The learner acknowledges an example only once a snapshot containing it has been delivered,
learns each example once, and skips replays and duplicates (Faust events faked: no I/O)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams import snapshots
from streams.app import create_app
from streams.emit import Outbox
from streams.ledger import id_digest
from streams.settings import Settings
from tests.unit.streams.fakes import DeliveringProducer, FakeEvent, FakeMessage, click_example


def _example(i: int, origin_offset: int | None = None) -> dict[str, Any]:
    return click_example(i, {i % 7: 1.0, 100: 1.0}, float(i % 3 == 0), origin_offset)


@pytest.fixture
def learner_ctx():
    settings = Settings(kafka="127.0.0.1:9", snapshot_key="k", snapshot_every_examples=3)
    return create_app(settings)


def _batch(ctx, producer, items: list[tuple[int, dict[str, Any]]]) -> list[FakeEvent]:
    """One agent batch: apply each (offset, example), flush, then the agent's own acks."""
    outbox = Outbox(producer)
    events = [FakeEvent(FakeMessage("examples", 0, offset)) for offset, _ in items]
    for event, (_, example) in zip(events, items, strict=True):
        assert ctx.learner.apply(outbox, event, example)
    asyncio.run(outbox.flush())
    for event in events:
        event.ack()
    return events


def test_examples_are_acknowledged_only_once_a_snapshot_holds_them(learner_ctx) -> None:
    producer = DeliveringProducer()
    first = _batch(learner_ctx, producer, [(0, _example(0)), (1, _example(1))])
    assert not any(event.message.acked for event in first), "acked before any snapshot"
    assert producer.sent == []
    third = _batch(learner_ctx, producer, [(2, _example(2))])
    (topic, raw), *_ = producer.sent
    meta = snapshots.verify(raw, key=b"k")
    assert topic.endswith("models") and meta["n_examples"] == 3
    assert meta["offsets"] == {"examples:0": 2} and meta["origins"] == {"impressions:0": 2}
    assert meta["ids_digest"] == id_digest(["imp-0", "imp-1", "imp-2"])
    assert all(event.message.acked for event in first + third)


def test_replays_and_duplicates_are_skipped_not_learned(learner_ctx) -> None:
    producer = DeliveringProducer()
    _batch(learner_ctx, producer, [(0, _example(0)), (1, _example(1)), (2, _example(2))])
    replayed = _batch(learner_ctx, producer, [(1, _example(1))])  # re-delivered by Faust
    assert all(event.message.acked for event in replayed), "covered by the snapshot: acked"
    _batch(learner_ctx, producer, [(3, _example(2, origin_offset=2))])  # the join re-emitted it
    assert learner_ctx.models["click"].n_learned == 3
    assert learner_ctx.counters["replayed.click"] == 1
    assert learner_ctx.counters["duplicate.click"] == 1
    ledger = learner_ctx.learner.ledger("click")
    assert ledger.offsets == {"examples:0": 3} and ledger.n_learned == 3


def test_an_example_of_an_unknown_model_is_refused(learner_ctx) -> None:
    outbox = Outbox(DeliveringProducer())
    example = {**_example(0), "model": "nope"}
    assert not learner_ctx.learner.apply(outbox, FakeEvent(FakeMessage("examples", 0, 0)), example)
    category_label_for_click = {**_example(1), "label": "a/b/c"}
    event = FakeEvent(FakeMessage("examples", 0, 1))
    assert not learner_ctx.learner.apply(outbox, event, category_label_for_click)

"""The worker consumer's commits: never past a message still in flight (faust-streaming#606),
and not counting the acknowledgement of a message fetched before the last rebalance (that
offset is read again from the committed offset and held anew)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import faust
import pytest
from faust.types import TP
from faust.types.tuples import Message

from streams.transport import Transport, _Consumer

EXAMPLES = TP("examples", 0)


class _App(faust.App):
    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


@pytest.fixture
def consumer() -> Iterator[_Consumer]:
    """A worker consumer of an app that acknowledges ``examples`` (never connected)."""
    app = _App("transport-test", broker="kafka://127.0.0.1:1")
    app.topics._acking_topics.add(EXAMPLES.topic)  # what subscribing an agent to it does
    yield app.consumer
    app.loop.close()


def _read(consumer: _Consumer, offsets: range) -> list[Message]:
    """Messages at ``offsets`` of ``examples``, delivered to the streams."""
    generation = consumer.app.consumer_generation_id
    topic, partition = EXAMPLES
    messages = [
        Message(topic, partition, offset, 0.0, 0, None, b"k", b"v", None, generation_id=generation)
        for offset in offsets
    ]
    for message in messages:
        consumer.track_message(message)
    return messages


def test_no_commit_passes_the_one_message_in_flight_at_the_committed_offset(consumer) -> None:
    consumer._committed_offset[EXAMPLES] = 10
    head, *rest = _read(consumer, range(10, 14))
    for message in rest:  # another model's snapshot acknowledged what follows the head
        consumer.ack(message)
    assert consumer._new_offset(EXAMPLES) is None  # stock faust-streaming 0.15 says 14
    consumer.ack(head)
    assert consumer._new_offset(EXAMPLES) == 14


def test_before_the_first_commit_the_first_message_read_is_the_head(consumer) -> None:
    head, *rest = _read(consumer, range(0, 5))
    for message in rest:
        consumer.ack(message)
    assert consumer._new_offset(EXAMPLES) is None
    consumer.ack(head)
    assert consumer._new_offset(EXAMPLES) == 5


def test_a_gap_at_the_head_has_nothing_to_wait_for(consumer) -> None:
    consumer._committed_offset[EXAMPLES] = 10
    consumer._gap[EXAMPLES].addi(10, 12)  # offsets 10 and 11 hold no message (compacted)
    for message in _read(consumer, range(12, 14)):
        consumer.ack(message)
    assert consumer._new_offset(EXAMPLES) == 14


def test_a_stale_generation_acknowledgement_does_not_count() -> None:
    consumer = types.SimpleNamespace(app=types.SimpleNamespace(consumer_generation_id=7))
    stale = types.SimpleNamespace(generation_id=6, acked=False)
    assert _Consumer.ack(consumer, stale) is False  # type: ignore[arg-type]
    assert stale.acked is False

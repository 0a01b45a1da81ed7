"""The worker consumer's commits: never past a message an agent still holds, whatever was
acknowledged after it (faust-streaming#606; a dead-lettered impression behind held ones), and
not counting the acknowledgement of a message fetched before the last rebalance (that offset
is read again from the committed offset and held anew)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import faust
import pytest
from faust.types import TP
from faust.types.tuples import Message

from streams.kafka.faust_transport import Transport, _Consumer

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
    """Messages at ``offsets`` of ``examples``, handed to the agents as a Faust stream does
    (it reports each to the sensors, inline)."""
    generation = consumer.app.consumer_generation_id
    topic, partition = EXAMPLES
    messages = [
        Message(topic, partition, offset, 0.0, 0, None, b"k", b"v", None, generation_id=generation)
        for offset in offsets
    ]
    for message in messages:
        consumer.app.sensors.on_message_in(message.tp, message.offset, message)
    return messages


def _committed_next(consumer: _Consumer) -> int | None:
    """The offset of ``examples`` committed after the consumer's next commit."""
    offsets = consumer._filter_committable_offsets([EXAMPLES])
    return offsets.get(EXAMPLES, consumer._committed_offset[EXAMPLES])


@pytest.mark.parametrize("committed", [None, 10], ids=["fresh-group", "committed"])
def test_a_dead_letter_acknowledged_at_once_does_not_carry_the_commit_past_held_inputs(
    consumer, committed
) -> None:
    consumer._committed_offset[EXAMPLES] = committed
    held, more_held, malformed, valid = _read(consumer, range(10, 14))
    consumer.ack(malformed)  # dead-lettered at once, while 10 and 11 wait in open windows
    consumer.ack(valid)
    assert _committed_next(consumer) == 10  # stock faust-streaming 0.15: 14 in a fresh group
    consumer.ack(more_held)
    assert _committed_next(consumer) == 10
    consumer.ack(held)
    assert _committed_next(consumer) == 14


def test_the_commit_moves_up_to_the_lowest_input_still_held(consumer) -> None:
    first, second, third, *rest = _read(consumer, range(0, 6))
    for message in (first, third, *rest):
        consumer.ack(message)
    assert _committed_next(consumer) == 1  # before any commit, too
    consumer._committed_offset[EXAMPLES] = 1
    consumer.ack(second)
    assert _committed_next(consumer) == 6


def test_offsets_never_delivered_hold_nothing_back(consumer) -> None:
    consumer._committed_offset[EXAMPLES] = 10  # 10 and 11 hold no message (compacted)
    for message in _read(consumer, range(12, 14)):
        consumer.ack(message)
    assert _committed_next(consumer) == 14


def test_a_stale_generation_acknowledgement_does_not_count() -> None:
    consumer = types.SimpleNamespace(app=types.SimpleNamespace(consumer_generation_id=7))
    stale = types.SimpleNamespace(generation_id=6, acked=False)
    assert _Consumer.ack(consumer, stale) is False  # type: ignore[arg-type]
    assert stale.acked is False

"""The worker consumer does not count the acknowledgement of a message fetched before the last
rebalance (that offset is read again from the committed offset and held anew)."""

from __future__ import annotations

import types

from streams.transport import _Consumer


def test_a_stale_generation_acknowledgement_does_not_count() -> None:
    consumer = types.SimpleNamespace(app=types.SimpleNamespace(consumer_generation_id=7))
    stale = types.SimpleNamespace(generation_id=6, acked=False)
    assert _Consumer.ack(consumer, stale) is False  # type: ignore[arg-type]
    assert stale.acked is False

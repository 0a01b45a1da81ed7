"""Conditions on the messages a :class:`TopicReader` has read (``reader.read(topic, until)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams import snapshots
from streams.wire import contracts

Condition = Callable[[list[Any]], bool]


def model_reported(model: str, version: int) -> Condition:
    """On ``metrics``: a report of ``model`` at ``version`` or later."""
    key = model.encode()
    return lambda messages: any(
        m.key() == key and contracts.decode_map(m.value())["version"] >= version for m in messages
    )


def worker_reports(messages: list[Any]) -> list[dict[str, Any]]:
    """On ``metrics``: the ``kind: worker`` reports, in the order read."""
    records = (contracts.decode_map(m.value()) for m in messages)
    return [record for record in records if record.get("kind") == "worker"]


def worker_counted(where: Callable[[dict[str, int]], bool]) -> Condition:
    """On ``metrics``: a worker report whose counters satisfy ``where``."""
    return lambda messages: any(where(r["counters"]) for r in worker_reports(messages))


def snapshot_at(model: str, version: int) -> Condition:
    """On ``models``: a snapshot of ``model`` at ``version`` or later."""
    key = model.encode()
    return lambda messages: any(
        m.key() == key and snapshots.read_metadata(m.value())["version"] >= version
        for m in messages
    )

"""Signed snapshots on the models topic: every N examples, on demand, verified when read."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from producers.world import World
from streams.cli import main
from streams.control.client import send_command, wait_applied
from streams.snapshots.catalog import snapshot_catalog
from streams.wire import contracts

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000


def test_snapshots_every_n_examples_and_on_demand(
    settings, start_worker, produce, reader, monkeypatch, capsys
):
    settings = settings.replace(
        snapshot_key="test-key", snapshot_every_examples=20, snapshot_every_s=3600.0
    )
    start_worker(settings)
    world = World(seed=6)
    for i in range(50):
        query, truth = world.next_query(T0 + i)
        label = contracts.query_label(
            event_id=query["event_id"], query=query["query"], path=truth.leaf, ts=T0 + i
        )
        produce("query-labels", query["event_id"].encode(), contracts.encode(label))
    reader.read("models", lambda ms: len(ms) >= 2)  # at 20 and 40 examples

    seq = asyncio.run(send_command(settings, "snapshot", {"model": "category"}, issued_by="t"))
    assert asyncio.run(wait_applied(settings, seq))
    reader.read("models", lambda ms: len(ms) >= 3)
    unsigned = {"model": "category", "version": 51, "payload": b"x"}
    produce("models", b"category", msgpack.packb(unsigned, use_bin_type=True))

    rows = asyncio.run(snapshot_catalog(settings))
    verified = [row for row in rows if row.get("verified")]
    assert [(r["version"], r["parent"]) for r in verified] == [(20, None), (40, 20), (50, 40)]
    assert all(r["model"] == "category" and r["spec"]["factory"] for r in verified)
    assert sum(verified[-1]["offsets"].values()) + len(verified[-1]["offsets"]) == 50
    (refused,) = [row for row in rows if "refused" in row]
    assert refused["refused"] == "unsigned snapshot"
    alerts = reader.read("alerts", lambda ms: len(ms) >= 1, 30)
    (alert,) = [contracts.decode_map(m.value()) for m in alerts]
    assert alert["kind"] == "snapshot_refused" and alert["model"] == "category"
    assert alert["evidence"] == {"reason": "unsigned snapshot", "offset": refused["offset"]}

    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)
    assert main(["models", "list", "category"]) == 0
    out = capsys.readouterr().out
    assert "version 50  parent 40" in out and "REFUSED" in out

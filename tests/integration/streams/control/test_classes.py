"""Query categories change at runtime through the control topic, on the embedded broker."""

from __future__ import annotations

import asyncio
import time

import msgpack
import pytest

from producers.world import World
from streams.cli import main
from streams.control.client import send_command, wait_applied
from streams.wire import contracts

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000


def _reports(messages, kind):
    records = (msgpack.unpackb(m.value(), strict_map_key=False) for m in messages)
    return [r for r in records if r.get("kind") == kind]


def test_classes_change_through_control_while_queries_are_served(
    settings, start_worker, produce, reader
):
    worker = start_worker(settings)
    world = World(seed=4)
    sent: list[str] = []

    def serve_queries(n: int, start: int) -> None:
        for i in range(start, start + n):
            query, truth = world.next_query(T0 + 100 * i)
            produce("queries", query["user_id"].encode(), contracts.encode(query))
            label = contracts.query_label(
                event_id=query["event_id"], query=query["query"], path=truth.leaf, ts=T0 + 100 * i
            )
            produce("query-labels", query["event_id"].encode(), contracts.encode(label))
            sent.append(query["event_id"])

    serve_queries(300, 0)
    learned = reader.read(
        "metrics",
        lambda ms: any(r["n"] >= 300 for r in _reports(ms, "model") if r["model"] == "category"),
    )
    classes = max(
        (r for r in _reports(learned, "model") if r["model"] == "category"), key=lambda r: r["n"]
    )["classes"]
    retired = classes[0]
    health = max(  # the category model's own health record, as a click model's
        (
            r
            for r in _reports(
                reader.read(
                    "metrics",
                    lambda ms: any(
                        r["model"] == "category" and r["n"] >= 300 for r in _reports(ms, "health")
                    ),
                ),
                "health",
            )
            if r["model"] == "category"
        ),
        key=lambda r: r["n"],
    )
    recent = health["recent"]
    assert recent["n"] == health["n"] >= 300 and recent["classes"] == len(classes)
    assert 0 < recent["accuracy"] < 1 and 0 < recent["ne"] < 1.5 and recent["calibration"] > 0
    assert health["examples_per_s"] > 0 and health["last_learned_at"] > T0 / 1000
    assert health["loss_drift"]["detections"] == 0 and "label_shift" not in health

    add = asyncio.run(
        send_command(
            settings,
            "add_class",
            {"model": "category", "path": "new/shiny/thing"},
            issued_by="test",
        )
    )
    remove = asyncio.run(
        send_command(
            settings, "remove_class", {"model": "category", "path": retired}, issued_by="test"
        )
    )
    bad = asyncio.run(
        send_command(settings, "add_class", {"model": "nope", "path": "a/b"}, issued_by="test")
    )
    assert asyncio.run(wait_applied(settings, remove))
    serve_queries(300, 300)

    wanted = set(sent)
    predictions = [
        contracts.decode_prediction(m.value())
        for m in reader.read("predictions", lambda ms: wanted <= {m.key().decode() for m in ms})
    ]
    assert wanted <= {p["event_id"] for p in predictions}, "a query went unanswered"
    assert worker.alive(), "the worker restarted or died"

    effects = {
        r["seq"]: r for r in _reports(reader.read("metrics", lambda ms: False, 2), "control")
    }
    assert {add, remove} <= effects.keys() and bad not in effects
    for seq in (add, remove):
        assert effects[seq]["applied_at"] - effects[seq]["issued_at"] <= 1000, effects[seq]
    after = set(sent[300:])
    late = [p for p in predictions if p["event_id"] in after and p["category"]]
    assert late and all(retired not in p["category"] for p in late)

    letters = [
        contracts.decode_dead_letter(m.value())
        for m in reader.read("dead-letter", lambda ms: len(ms) >= 1)
    ]
    assert [letter["reason"] for letter in letters] == ["unknown model for add_class: nope"]


def test_classes_cli_against_a_running_system(
    settings, start_worker, produce, reader, monkeypatch, capsys
):
    start_worker(settings)
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)
    label = contracts.query_label(event_id="e1", query="red shoes", path="fashion/shoes/red", ts=T0)
    produce("query-labels", b"e1", contracts.encode(label))
    reader.read("metrics", lambda ms: any(r["model"] == "category" for r in _reports(ms, "model")))

    assert main(["classes", "add", "fashion/shoes/blue"]) == 0
    assert "applied by 1 worker(s)" in capsys.readouterr().out
    assert main(["classes", "remove", "fashion/shoes/red"]) == 0
    assert main(["classes", "add", "Not A Path"]) != 0
    capsys.readouterr()

    def listed() -> str:
        main(["classes", "list"])
        return capsys.readouterr().out

    deadline = time.monotonic() + 10
    while "fashion/shoes/red (retired)" not in (out := listed()) and time.monotonic() < deadline:
        pass
    assert "fashion/shoes/blue" in out.splitlines() and "fashion/shoes/red (retired)" in out

"""Objective weights change live through the control topic, on the embedded broker."""

from __future__ import annotations

import asyncio

import pytest

from producers.world import World
from streams.cli import main
from streams.control.client import send_command, wait_applied
from streams.wire import contracts

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000


def test_weights_change_while_queries_flow(settings, start_worker, produce, reader):
    """Half the queries are queued before the command and half after it took effect: the
    worker is still ranking the first half when the command lands."""
    start_worker(settings)
    world = World(seed=8)
    queries = [world.next_query(T0 + i)[0] for i in range(3_000)]
    for query in queries[:1_500]:
        produce("queries", query["user_id"].encode(), contracts.encode(query))
    seq = asyncio.run(
        send_command(settings, "set_weights", {"alpha": 1.0, "beta": 2.0}, issued_by="test")
    )
    (effect,) = asyncio.run(wait_applied(settings, seq))
    for query in queries[1_500:]:
        produce("queries", query["user_id"].encode(), contracts.encode(query))

    wanted = {query["event_id"] for query in queries}
    rankings = [
        contracts.decode_ranking(m.value())
        for m in reader.read("rankings", lambda ms: wanted <= {m.key().decode() for m in ms}, 60)
    ]
    assert wanted <= {r["event_id"] for r in rankings}, "a query went unanswered"
    before = [r for r in rankings if r["ts_ranked"] < effect["applied_at"]]
    after = [r for r in rankings if r["ts_ranked"] > effect["applied_at"]]
    assert before and after, "the command must land while queries flow"
    assert all(r["weights"] == {"alpha": 0.0, "beta": 1.0, "version": 0} for r in before)
    assert all(r["weights"] == {"alpha": 1.0, "beta": 2.0, "version": seq} for r in after)


def test_invalid_weights_are_dead_lettered_and_the_previous_weights_stay(
    settings, start_worker, produce, reader
):
    start_worker(settings)
    good = asyncio.run(
        send_command(settings, "set_weights", {"alpha": 0.5, "beta": 0.5}, issued_by="test")
    )
    assert good == 1, "the first command of a system is number 1"
    assert asyncio.run(wait_applied(settings, good))
    bad = contracts.command(
        seq=good + 1, cmd="set_weights", args={"alpha": -1.0, "beta": 0.0}, issued_by="t", ts=T0
    )
    produce("control", str(good + 1).encode(), contracts.encode(bad))
    zero = {**bad, "seq": good + 2, "args": {"alpha": 0, "beta": 0}}
    produce("control", str(good + 2).encode(), contracts.encode(zero))

    letters = [
        contracts.decode_dead_letter(m.value())
        for m in reader.read("dead-letter", lambda ms: len(ms) >= 2)
    ]
    assert sorted(letter["reason"] for letter in letters) == [
        "invalid weights: alpha and beta are both 0",
        "invalid weights: alpha=-1.0 not in 0..1e+06",
    ]
    query = World(seed=2).next_query(T0)[0]
    produce("queries", b"u", contracts.encode(query))
    key = query["event_id"].encode()
    rankings = reader.read("rankings", lambda ms: any(m.key() == key for m in ms))
    (ranking,) = [m for m in rankings if m.key() == key]  # not the readiness probe's
    weights = contracts.decode_ranking(ranking.value())["weights"]
    assert weights == {"alpha": 0.5, "beta": 0.5, "version": good}


def test_weights_cli_sets_and_shows(settings, start_worker, monkeypatch, capsys):
    start_worker(settings)
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)
    assert main(["weights", "show"]) == 0
    assert "alpha=0 beta=1 version=0" in capsys.readouterr().out
    assert main(["weights", "set", "--alpha", "2", "--beta", "0.5"]) == 0
    assert "applied by 1 worker(s)" in capsys.readouterr().out
    assert main(["weights", "set", "--alpha", "0", "--beta", "0"]) == 2
    assert "not sent: invalid weights" in capsys.readouterr().err
    assert main(["weights", "show"]) == 0
    assert "alpha=2 beta=0.5 version=1" in capsys.readouterr().out

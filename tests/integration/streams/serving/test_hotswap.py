"""Hot swap across processes, and promote / rollback under load, on the embedded broker."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from producers.world import World
from streams import snapshots
from streams.cli import main
from streams.wire import contracts
from tests.integration.conditions import snapshot_at

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000


def _click_examples(first: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(first)
    return [
        contracts.example(
            example_id=f"c-{i}",
            model="click",
            features={rng.randrange(1_000): 1.0 for _ in range(5)},
            label=float(rng.random() < 0.2),
            weight=1.0,
            sampling_rate=1.0,
            ts_event=T0 + i,
            ts_label=T0 + i,
            source={"impressions:0": i},
        )
        for i in range(first, first + n)
    ]


def _snapshot_versions(messages: list[Any], model: str = "click") -> list[int]:
    return [
        snapshots.read_metadata(m.value())["version"] for m in messages if m.key() == model.encode()
    ]


def _predictions_at(event_ids: set[str]) -> Callable[[list[Any]], bool]:
    return lambda messages: event_ids <= {m.key().decode() for m in messages}


def test_a_serving_worker_hot_swaps_every_new_snapshot(
    new_settings, start_worker, produce, reader_for
):
    """serve and rank in one worker, join and learn in another: serving follows the
    learner's snapshots within a second, never a version that was not snapshotted."""
    base = new_settings(snapshot_key="swap", snapshot_every_examples=100, snapshot_every_s=3600.0)
    learner = base.replace(agents="join,labels,learn")
    server = base.replace(agents="serve,rank")
    start_worker(learner, serving=False)
    start_worker(server)
    world = World(seed=4)
    served: list[int] = []
    for k in range(4):
        for example in _click_examples(100 * k, 100):
            produce("examples", b"click", contracts.encode(example), base)
        written = reader_for(base).read("models", snapshot_at("click", 100 * (k + 1)), 60)
        assert snapshot_at("click", 100 * (k + 1))(written), "the learner did not snapshot"
        swaps = reader_for(base).read("metrics", _swapped_to(100 * (k + 1)), 30)
        assert _swapped_to(100 * (k + 1))(swaps), f"version {100 * (k + 1)} never served"
        queries = [world.next_query(T0 + 10 * k + i)[0] for i in range(20)]
        for query in queries:
            produce("queries", query["user_id"].encode(), contracts.encode(query), base)
        wanted = {query["event_id"] for query in queries}
        predictions = reader_for(base).read("predictions", _predictions_at(wanted), 30)
        for message in predictions:
            if message.key().decode() in wanted:
                served.append(contracts.decode_prediction(message.value())["versions"]["click"])
    assert served == sorted(served) and set(served) == {100, 200, 300, 400}
    records = [contracts.decode_map(m.value()) for m in reader_for(base).read("metrics", _no, 3)]
    freshness = [r["freshness_ms"] for r in records if r.get("kind") == "serving"]
    assert freshness and all(0 <= ms < 10_000 for ms in freshness)


def _swapped_to(version: int) -> Callable[[list[Any]], bool]:
    def found(messages: list[Any]) -> bool:
        for message in messages:
            if message.key() == b"serving":
                swap = contracts.decode_map(message.value())
                if swap["model"] == "click" and swap["version"] == version:
                    return True
        return False

    return found


def _no(messages: list[Any]) -> bool:
    return False


class QueryLoad:
    """Queries at a steady rate from a thread, until stopped: the load under which versions
    are switched."""

    def __init__(self, produce: Callable[..., None], every_s: float = 0.005) -> None:
        self.sent: list[str] = []
        self._produce, self._every_s = produce, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        world = World(seed=9)
        i = 0
        while not self._stop.wait(self._every_s):  # pacing of the load, not a wait for a result
            query = world.next_query(T0 + i)[0]
            self._produce("queries", query["user_id"].encode(), contracts.encode(query))
            self.sent.append(query["event_id"])
            i += 1

    def wait_for_more(self, n: int, timeout_s: float) -> bool:
        """Whether ``n`` more queries were sent within ``timeout_s``."""
        target, deadline = len(self.sent) + n, time.monotonic() + timeout_s
        while len(self.sent) < target and time.monotonic() < deadline:
            self._stop.wait(0.01)
        return len(self.sent) >= target

    def __enter__(self) -> QueryLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def test_promote_and_rollback_under_load_leave_no_query_unanswered(
    settings, start_worker, produce, reader, monkeypatch, capsys
):
    settings = settings.replace(
        snapshot_key="pin", snapshot_every_examples=100, snapshot_every_s=3600.0
    )
    start_worker(settings)
    for example in _click_examples(0, 300):
        produce("examples", b"click", contracts.encode(example))
    written = reader.read("models", snapshot_at("click", 300), 60)
    assert {100, 200, 300} <= set(_snapshot_versions(written))
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)

    with QueryLoad(produce) as load:
        assert main(["models", "promote", "click", "200"]) == 0
        assert main(["models", "rollback", "click"]) == 0  # the snapshot before 200
        assert main(["models", "promote", "click", "latest"]) == 0
        assert load.wait_for_more(100, timeout_s=30), "the load stalled"
    out = capsys.readouterr().out
    assert "serving click" in out and "version 100" in out

    wanted = set(load.sent)
    assert len(wanted) > 100, "the load was too light to mean anything"
    answered = reader.read("predictions", _predictions_at(wanted), 60)
    unanswered = wanted - {m.key().decode() for m in answered}
    assert not unanswered, f"{len(unanswered)} queries unanswered"
    for partition in {m.partition() for m in answered}:  # in the order they were served
        versions = [
            contracts.decode_prediction(m.value())["versions"]["click"]
            for m in answered
            if m.partition() == partition and m.key().decode() in wanted
        ]
        changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
        assert changes == [300, 200, 100, 300], (partition, changes)

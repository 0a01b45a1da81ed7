"""Models chosen by configuration, each through real workers on the embedded broker: served,
learned, snapshotted, hot-swapped to a serving replica, restored after a restart and rebuilt
exactly from the log (``configs/*.toml``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from producers.world import World
from streams import snapshots
from streams.cli import main
from streams.config import build_registry, load_config
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.integration.conditions import snapshot_at, worker_counted, worker_reports

pytestmark = pytest.mark.broker

CONFIGS = Path(__file__).resolve().parents[4] / "configs"
T0 = 1_750_000_000_000
QUERIES = 200  # a chunk's queries, 20 ms of event time apart
CHUNK_GAP_MS = 60_000  # a chunk closes the windows of the one before
SNAPSHOT_EVERY = 100

#: configuration file -> the models it configures otherwise than the default one
CASES = {
    "river-logistic": ("click",),
    "pipeline-numeric": ("click",),
    "hoeffding-tree": ("click",),
    "arf": ("click",),
    "regressor-quality": ("quality", "category"),
}


def _chunk(world: World, rng: random.Random, k: int) -> Iterator[tuple[int, str, str, dict]]:
    """``(ts, topic, key, event)`` of chunk ``k`` in event-time order: each query shows one of
    its candidates, clicked as often as the world says (thrice, for more positives), rated
    and its category labelled a third of the time, all within the 2 s window."""
    events = []
    for i in range(k * QUERIES, (k + 1) * QUERIES):
        ts = T0 + k * CHUNK_GAP_MS + (i % QUERIES) * 20
        query, truth = world.next_query(ts)
        events.append((ts, "queries", query["user_id"], query))
        ad = rng.choice(query["candidates"])
        shown = f"imp-{i}"
        events.append(
            (
                ts + 5,
                "impressions",
                shown,
                contracts.impression(
                    impression_id=shown,
                    event_id=query["event_id"],
                    ad_id=ad["ad_id"],
                    position=0,
                    ts=ts + 5,
                    arm="main",
                ),
            )
        )
        later = ts + 5 + rng.randint(50, 1_400)
        if rng.random() < 3 * world.click_probability(truth, world.ad(ad["ad_id"]), 0):
            events.append((later, "clicks", shown, contracts.click(impression_id=shown, ts=later)))
        if rng.random() < 1 / 3:
            quality = world.quality(truth, world.ad(ad["ad_id"]))
            rating = contracts.rating(impression_id=shown, quality=quality, ts=later)
            events.append((later, "ratings", shown, rating))
        if rng.random() < 1 / 3:
            label = contracts.query_label(
                event_id=query["event_id"], query=query["query"], path=truth.leaf, ts=later
            )
            events.append((later, "query-labels", query["event_id"], label))
    events.sort(key=lambda event: event[0])
    yield from events


def _send(chunk: Iterator[tuple], produce: Callable[..., None], to: Settings) -> list[str]:
    """Produce a chunk; returns the event ids of its queries."""
    queries = []
    for _, topic, key, event in chunk:
        produce(topic, key.encode(), contracts.encode(event), to)
        if topic == "queries":
            queries.append(event["event_id"])
    return queries


def _snapshots(messages: list[Any], model: str) -> list[dict[str, Any]]:
    return [snapshots.read_metadata(m.value()) for m in messages if m.key() == model.encode()]


def _swapped_to(model: str, version: int) -> Callable[[list[Any]], bool]:
    """On ``metrics``: a serving replica reported serving ``model`` at ``version`` or later."""

    def found(messages: list[Any]) -> bool:
        records = (contracts.decode_map(m.value()) for m in messages if m.key() == b"serving")
        return any(r["model"] == model and r["version"] >= version for r in records)

    return found


def _answered(event_ids: set[str]) -> Callable[[list[Any]], bool]:
    return lambda messages: event_ids <= {m.key().decode() for m in messages}


@pytest.mark.parametrize("config", list(CASES))
def test_a_configured_model_is_served_learned_swapped_restored_and_rebuilt(
    config, new_settings, start_worker, produce, reader_for, monkeypatch, capsys
):
    base = new_settings(
        config=str(CONFIGS / f"{config}.toml"),
        snapshot_key="configured",
        snapshot_every_examples=SNAPSHOT_EVERY,
        snapshot_every_s=3600.0,
    )
    learner = base.replace(agents="join,labels,learn")
    learning = start_worker(learner, serving=False)
    start_worker(base.replace(agents="serve,rank"))  # the serving replica
    reader = reader_for(base)
    world, rng = World(seed=11, extra_attributes=True), random.Random(11)
    models = CASES[config]

    sent = [event_id for k in range(3) for event_id in _send(_chunk(world, rng, k), produce, base)]
    configured = build_registry(load_config(base.config), base)
    for model in models:  # learned, snapshotted, and the replica serves the snapshot
        written = reader.read("models", snapshot_at(model, SNAPSHOT_EVERY), 90)
        assert snapshot_at(model, SNAPSHOT_EVERY)(written), f"{model}: no snapshot"
        built = snapshots.factories(snapshots.spec_of(configured.model(model)))
        assert all(
            snapshots.factories(meta["spec"]) == built for meta in _snapshots(written, model)
        )
        first = max(meta["version"] for meta in _snapshots(written, model))
        swapped = reader.read("metrics", _swapped_to(model, first), 60)
        assert _swapped_to(model, first)(swapped), f"{model} {first} never served by the replica"
    served = _send(_chunk(world, rng, 3), produce, base)
    answered = reader.read("predictions", _answered(set(served)), 60)
    for message in answered:
        if message.key().decode() in served:
            versions = contracts.decode_prediction(message.value())["versions"]
            assert all(versions[model] >= SNAPSHOT_EVERY for model in models), versions

    assert learning.stop(timeout_s=30) == 0, "no clean shutdown"
    written = reader.read("models", lambda messages: False, 3)
    before = {model: max(m["version"] for m in _snapshots(written, model)) for model in models}
    start_worker(learner, serving=False)  # restores each model from its latest snapshot
    sent += served + [
        event_id for k in range(4, 6) for event_id in _send(_chunk(world, rng, k), produce, base)
    ]
    for model in models:
        grown = snapshot_at(model, before[model] + 1)
        assert grown(reader.read("models", grown, 90)), f"{model}: not learned after the restart"
    written = reader.read("models", lambda messages: False, 3)
    for model in models:
        after = [m for m in _snapshots(written, model) if m["version"] > before[model]]
        assert after[0]["parent"] == before[model], "learning went on from the restored version"

    answered = reader.read("predictions", _answered(set(sent)), 60)
    assert not set(sent) - {m.key().decode() for m in answered}, "queries unanswered"
    reports = worker_reports(reader.read("metrics", lambda messages: False, 3))
    for model in models:  # restored as configured: nothing reported unlike the configuration
        assert any(r["counters"].get(f"restored.{model}") for r in reports), "never restored"
        assert not any(r["counters"].get(f"restored_unlike_config.{model}") for r in reports)

    for name, value in base.env().items():
        monkeypatch.setenv(name, value)
    for model in models:
        version = max(m["version"] for m in _snapshots(written, model))
        assert main(["models", "rebuild", model, str(version)]) == 0
        assert "REPRODUCED" in capsys.readouterr().out.splitlines()[-1]


def test_a_learned_model_restores_as_learned_and_says_the_configuration_differs(
    new_settings, start_worker, produce, reader_for
):
    """A configuration naming another estimator for a model already learned does not throw
    its learning away: the snapshot is restored as it was learned, and the worker says so."""
    base = new_settings(
        snapshot_key="configured", snapshot_every_examples=SNAPSHOT_EVERY, snapshot_every_s=3600.0
    )
    learning = start_worker(base)
    world, rng = World(seed=12), random.Random(12)
    for k in range(2):
        _send(_chunk(world, rng, k), produce, base)
    reader = reader_for(base)
    learned = snapshot_at("click", SNAPSHOT_EVERY)
    assert learned(reader.read("models", learned, 90)), "click: no snapshot"
    assert learning.stop(timeout_s=30) == 0
    start_worker(base.replace(config=str(CONFIGS / "river-logistic.toml")))
    said = worker_counted(lambda counters: counters.get("restored_unlike_config.click") == 1)
    assert said(reader.read("metrics", said, 60)), "the difference went unreported"
    written = reader.read("models", lambda messages: False, 3)
    assert {m["spec"]["factory"] for m in _snapshots(written, "click")} == {
        "learners.ftrl:FTRLLogisticRegression"
    }

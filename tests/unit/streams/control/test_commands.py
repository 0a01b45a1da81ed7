"""Control commands applied to a worker's state: weights change rankings and nothing else
(the commands' target built as the composition root builds it, without a Faust app)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from learners import ENGAGEMENT_ONLY, Weights
from producers.world import World
from streams.agents.serve import predict
from streams.control.commands import CommandRejected, Commands
from streams.kafka.outbox import Outbox
from streams.models.learner import Learner
from streams.models.registry import ModelRegistry, default_models
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.follower import ModelFollower
from streams.serving.view import Serving
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.unit.streams.fakes import DeliveringProducer

TS = 1_750_000_000_000


@dataclasses.dataclass
class Worker:
    models: ModelRegistry
    serving: Serving
    commands: Commands


def _worker(models: ModelRegistry) -> Worker:
    settings, counters = Settings(kafka="127.0.0.1:9", snapshot_key="k"), Counters()
    serving = Serving(models)
    learner = Learner(
        settings=settings,
        models=models,
        counters=counters,
        health=WorkerHealth(settings, counters, "w1"),
        worker="w1",
    )
    follower = ModelFollower(
        settings=settings,
        serving=serving,
        learns=learner.learns,
        counters=counters,
        outbox=lambda: Outbox(DeliveringProducer()),
        worker="w1",
    )
    commands = Commands(models=models, serving=serving, snapshots=learner, pins=follower)
    return Worker(models, serving, commands)


def make_ctx() -> Worker:
    ctx = _worker(default_models(n_bits=18))  # serves what it learns
    world, category = World(seed=3), ctx.models.category
    for i in range(200):  # some learned state, so that "unchanged" means something
        query, truth = world.next_query(TS + i)
        category.learn(category.features(query), truth.leaf)
        prediction = predict(ctx.serving, query, TS)
        for model in ctx.models.values():
            model.learn({1: 1.0, i: 1.0}, float(i % 7 == 0))
        assert prediction["scores"]
    return ctx


def command(cmd: str, seq: int = 5, **args) -> dict:
    raw = contracts.encode(contracts.command(seq=seq, cmd=cmd, args=args, issued_by="test", ts=TS))
    return contracts.decode_command(raw)


def test_set_weights_changes_the_weights_and_nothing_else() -> None:
    ctx = make_ctx()
    models_before = pickle.dumps((dict(ctx.models), ctx.models.category))
    versions_before = {name: model.version for name, model in ctx.models.items()}
    weights = command("set_weights", seq=9, alpha=1.5, beta=0.5)
    ctx.commands.check(weights)
    ctx.commands.apply(weights, TS)
    assert ctx.commands.weights == Weights(alpha=1.5, beta=0.5, version=9)
    assert pickle.dumps((dict(ctx.models), ctx.models.category)) == models_before
    assert {name: model.version for name, model in ctx.models.items()} == versions_before


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"alpha": -0.1, "beta": 1.0}, "invalid weights: alpha=-0.1"),
        ({"alpha": 0, "beta": 0}, "invalid weights: alpha and beta are both 0"),
        ({"alpha": float("nan"), "beta": 1.0}, "invalid weights: alpha must be a finite"),
        ({"alpha": "1", "beta": 1.0}, "invalid weights: alpha must be a finite"),
        ({"alpha": 1.0}, "missing argument: beta"),
    ],
)
def test_invalid_weights_are_rejected_with_a_reason(args: dict, reason: str) -> None:
    raw = contracts.encode(
        contracts.command(seq=1, cmd="set_weights", args=args, issued_by="t", ts=TS)
    )
    with pytest.raises(contracts.InvalidEvent, match=reason.replace("(", r"\(")):
        contracts.decode_command(raw)


def test_class_commands_for_an_unknown_model_are_rejected() -> None:
    with pytest.raises(CommandRejected, match="unknown model for add_class: click"):
        make_ctx().commands.check(command("add_class", model="click", path="a/b"))


def test_class_commands_change_only_the_category_model() -> None:
    ctx = make_ctx()
    models_before = pickle.dumps(dict(ctx.models))
    apply = ctx.commands.apply
    apply(command("add_class", seq=3, model="category", path="new/shiny/thing"), TS)
    apply(command("remove_class", seq=4, model="category", path="new/shiny/thing"), TS + 1)
    assert pickle.dumps(dict(ctx.models)) == models_before
    assert ctx.commands.weights == ENGAGEMENT_ONLY
    changes = [(c.seq, c.cmd) for c in ctx.models.category.changes]
    assert changes == [(3, "add_class"), (4, "remove_class")]


@pytest.mark.parametrize(
    ("cmd", "args", "reason"),
    [
        ("promote", {"model": "click"}, "missing argument: version"),
        ("promote", {"model": "click", "version": "7"}, "version must be an integer"),
        ("promote", {"model": "click", "version": -2}, "version must be an integer"),
        ("rollback", {"model": "click", "version": -1}, "version must be an integer"),
    ],
)
def test_malformed_version_commands_are_rejected(cmd: str, args: dict, reason: str) -> None:
    raw = contracts.encode(contracts.command(seq=1, cmd=cmd, args=args, issued_by="t", ts=TS))
    with pytest.raises(contracts.InvalidEvent, match=reason):
        contracts.decode_command(raw)


def test_promote_and_rollback_pin_the_serving_version_and_latest_unpins() -> None:
    ctx = _worker(default_models())
    with pytest.raises(CommandRejected, match="unknown model for promote: nope"):
        ctx.commands.check(command("promote", model="nope", version=3))
    apply = ctx.commands.apply
    apply(command("promote", seq=1, model="click", version=300), TS)
    apply(command("rollback", seq=2, model="click", version=200), TS)
    assert ctx.serving.pins == {"click": (200, "test")}
    apply(command("promote", seq=3, model="click", version=-1), TS)
    assert ctx.serving.pins == {}
    assert ctx.serving.models["click"] is ctx.models["click"], "still the live model"

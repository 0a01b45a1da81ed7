"""The responses to a model's alerts: a challenger trained on the examples since the change,
learning alongside its champion and retired after its run, or promoted if it won (and rebuilt
exactly from the log and its lineage); the rollback target (the newest snapshot before the
change); actions under way as alerts; configuration per model. The responder and the learner
are built as the composition root builds them, without a Faust app; the commands it sends are
recorded."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from typing import Any

import pytest

from streams import snapshots
from streams.control import responses
from streams.control.responses import Responder, ResponsePolicy
from streams.kafka.outbox import Outbox
from streams.models.learner import Learner
from streams.models.registry import ModelRegistry, default_models
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.operations.rebuild import fresh_model, model_state, replay
from streams.serving.view import Pin, Serving
from streams.wire import contracts
from streams.wire.settings import Settings, parse_responses
from tests.unit.streams.fakes import DeliveringProducer, click_example

Example = Callable[[int, random.Random], dict[str, Any]]


def _example(i: int, rng: random.Random) -> dict[str, Any]:
    feature = rng.randrange(20)
    return click_example(i, {feature: 1.0, 100: 1.0}, float(rng.random() < 0.05 + feature / 40))


def _reversed(i: int, rng: random.Random) -> dict[str, Any]:
    """After a change: the features' click propensities reversed."""
    feature = rng.randrange(20)
    return click_example(i, {feature: 1.0, 100: 1.0}, float(rng.random() < 0.525 - feature / 40))


@dataclasses.dataclass
class Responding:
    """A learner and its responder, the snapshot versions on hand per model, and the
    commands sent as ``(cmd, model, version)``."""

    models: ModelRegistry
    counters: Counters
    learner: Learner
    serving: Serving
    responder: Responder
    versions: dict[str, list[int]]
    sent: list[tuple[str, str, int]]


def _responding(**settings: Any) -> Responding:
    config = Settings(kafka="127.0.0.1:9", snapshots="off", **settings)
    models, counters = default_models(), Counters()
    policy = ResponsePolicy(config.responses)
    learner = Learner(
        settings=config,
        models=models,
        counters=counters,
        health=WorkerHealth(config, counters, "w1"),
        worker="w1",
        promotes=lambda name: policy.enabled(name, "promote"),
    )
    serving = Serving(models)
    versions: dict[str, list[int]] = {}
    sent: list[tuple[str, str, int]] = []

    async def send(cmd: str, args: dict[str, Any], *, issued_by: str) -> int:
        assert issued_by == responses.AUTO_ROLLBACK
        sent.append((cmd, args["model"], args["version"]))
        return len(sent)

    responder = Responder(
        policy=policy,
        models=models,
        learner=learner,
        serving=serving,
        versions=lambda name: sorted(versions.get(name, [])),
        send=send,
        counters=counters,
    )
    learner.subscribe(responder.challenge_ended)
    return Responding(models, counters, learner, serving, responder, versions, sent)


def _learn(
    ctx: Responding, first: int, n: int, rng: random.Random, example: Example = _example
) -> list[tuple[str, int, dict[str, Any]]]:
    """Learn examples ``first`` to ``first + n`` (offsets of ``examples:0``); returns them as
    rebuild reads them."""
    outbox = Outbox(DeliveringProducer())
    rows = []
    for i in range(first, first + n):
        row = ("examples:0", i, example(i, rng))
        assert ctx.learner.apply(outbox, *row, contracts.encode(row[2]))
        rows.append(row)
    return rows


def _drift(since_change: int, kind: str = "loss_drift") -> dict[str, Any]:
    evidence = {"at_example": 1, "before": 0.2, "after": 0.3, "examples_since_change": since_change}
    return {"kind": kind, "model": "click", "state": "raised", "evidence": evidence}


@pytest.fixture
def ctx() -> Responding:
    return _responding()


def test_a_loss_drift_starts_a_challenger_trained_on_the_examples_since_the_change(ctx) -> None:
    rng = random.Random(3)
    _learn(ctx, 0, 1_000, rng)
    assert ctx.responder.in_effect()["challenger", "click"] is None
    asyncio.run(ctx.responder.respond([_drift(since_change=300)]))
    challenger = ctx.learner.challengers["click"]
    assert (challenger.trained_from, challenger.started_at, challenger.model.version) == (
        700,
        1_000,
        300,
    )
    assert "quality" not in ctx.learner.challengers  # the drift was the click model's
    _learn(ctx, 1_000, 500, rng)
    report = ctx.responder.in_effect()["challenger", "click"]
    assert report["examples"] == 500 and report["version"] == 800
    assert 0 < report["logloss"] < 1 and 0 < report["champion_logloss"] < 1
    reports: dict[str, dict[str, Any]] = {}
    ctx.responder.annotate(reports)
    assert reports["click"]["challenger"] == report
    asyncio.run(ctx.responder.respond([_drift(since_change=10)]))  # one runs already
    assert ctx.learner.challengers["click"] is challenger


def test_a_label_shift_starts_a_challenger_too(ctx) -> None:
    _learn(ctx, 0, 1_000, random.Random(4))
    asyncio.run(ctx.responder.respond([_drift(since_change=250, kind="no_skill")]))
    assert "click" not in ctx.learner.challengers  # no skill is not a drift
    asyncio.run(ctx.responder.respond([_drift(since_change=250, kind="label_shift")]))
    challenger = ctx.learner.challengers["click"]
    assert (challenger.trained_from, challenger.model.version) == (750, 250)


def test_a_challenger_retires_after_its_run_and_without_promote_the_champion_stays() -> None:
    ctx = _responding(challenge_examples=200)
    rng = random.Random(4)
    _learn(ctx, 0, 500, rng)
    champion = ctx.models["click"].estimator
    asyncio.run(ctx.responder.respond([_drift(since_change=100)]))
    _learn(ctx, 500, 199, rng)
    assert "click" in ctx.learner.challengers
    _learn(ctx, 699, 1, rng, _reversed)  # whatever it shows, not promoted
    assert ctx.learner.challengers == {}
    assert ctx.models["click"].estimator is champion and ctx.models["click"].promotions == []
    effect = ctx.responder.in_effect()  # retired since the last report: its final figures
    assert effect["challenger", "click"]["examples"] == 200
    assert effect["promotion", "click"] is None
    assert ctx.responder.in_effect()["challenger", "click"] is None  # then the alert clears


def _promoting(challenge_examples: int) -> Responding:
    return _responding(
        responses="*=challenger,promote,rollback", challenge_examples=challenge_examples
    )


def test_a_challenger_that_predicts_better_is_promoted_with_its_lineage_and_an_alert() -> None:
    ctx = _promoting(challenge_examples=2_000)
    rng = random.Random(5)
    _learn(ctx, 0, 3_000, rng)
    _learn(ctx, 3_000, 300, rng, _reversed)
    asyncio.run(ctx.responder.respond([_drift(since_change=300)]))
    champion = ctx.models["click"].estimator
    _learn(ctx, 3_300, 1_999, rng, _reversed)
    assert ctx.models["click"].promotions == []
    _learn(ctx, 5_299, 1, rng, _reversed)
    click = ctx.models["click"]
    (promotion,) = click.promotions
    assert (promotion.version, promotion.trained_from, promotion.examples) == (5_300, 3_000, 2_000)
    assert promotion.logloss < 0.99 * promotion.champion_logloss
    assert click.estimator is not champion and click.version == 5_300
    assert ctx.learner.challengers == {} and ctx.counters["promotions.click"] == 1
    assert ctx.responder.in_effect()["promotion", "click"] == dataclasses.asdict(promotion)
    assert ctx.responder.in_effect()["promotion", "click"] is None  # announced once: clears


def test_a_challenger_that_does_not_predict_better_is_not_promoted() -> None:
    ctx = _promoting(challenge_examples=2_000)
    rng = random.Random(6)
    _learn(ctx, 0, 3_000, rng)
    asyncio.run(ctx.responder.respond([_drift(since_change=300)]))
    _learn(ctx, 3_000, 2_000, rng)  # nothing changed: the champion knows more
    assert ctx.learner.challengers == {} and ctx.models["click"].promotions == []


def test_a_promoted_model_is_rebuilt_exactly_from_its_examples_and_its_lineage() -> None:
    ctx = _promoting(challenge_examples=1_000)
    rng = random.Random(7)
    rows = _learn(ctx, 0, 2_000, rng)
    rows += _learn(ctx, 2_000, 400, rng, _reversed)
    asyncio.run(ctx.responder.respond([_drift(since_change=400)]))
    rows += _learn(ctx, 2_400, 1_500, rng, _reversed)  # promoted at 3,400, then learns on
    snapshot = ctx.models["click"]
    assert [p.version for p in snapshot.promotions] == [3_400]
    rebuilt = fresh_model(snapshot.name, snapshots.spec_of(snapshot), snapshot.definition())
    replay(rebuilt, rows, promotions=snapshot.promotions)
    assert model_state(rebuilt.estimator) == model_state(snapshot.estimator)
    without = fresh_model(snapshot.name, snapshots.spec_of(snapshot), snapshot.definition())
    replay(without, rows)  # the log alone is not the promoted model
    assert model_state(without.estimator) != model_state(snapshot.estimator)


def test_no_challenger_where_the_model_is_configured_for_alerts_only() -> None:
    ctx = _responding(responses="*=challenger,rollback;click=")
    _learn(ctx, 0, 100, random.Random(5))
    asyncio.run(ctx.responder.respond([_drift(since_change=50)]))
    assert ctx.learner.challengers == {}
    assert not ctx.responder.enabled("click", "rollback")
    assert ctx.responder.enabled("quality", "rollback")


def test_the_rollback_target_is_the_newest_snapshot_before_the_detection(ctx) -> None:
    _learn(ctx, 0, 1_000, random.Random(6))
    ctx.versions["click"] = [300, 600, 900]  # the versions with a snapshot on models
    assert ctx.responder.rollback_target("click", examples_since_detection=250) == 600
    assert ctx.responder.rollback_target("click", examples_since_detection=50) == 900
    assert ctx.responder.rollback_target("click", examples_since_detection=800) is None


def test_only_our_own_pin_is_a_rollback_under_way(ctx) -> None:
    _learn(ctx, 0, 10, random.Random(7))
    ctx.serving.pins["click"] = Pin(300, responses.AUTO_ROLLBACK)
    assert ctx.responder.in_effect()["rollback", "click"] == {"serving_version": 300}
    ctx.serving.pins["click"] = Pin(300, "operator")
    assert ctx.responder.in_effect()["rollback", "click"] is None


def test_responses_are_parsed_per_model_and_unknown_ones_refused() -> None:
    assert parse_responses("click=rollback;*=challenger") == {
        "click": ("rollback",),
        "*": ("challenger",),
    }
    with pytest.raises(ValueError, match="unknown response"):
        Settings(kafka="127.0.0.1:9", responses="click=retrain")
    with pytest.raises(ValueError, match="model=response"):
        parse_responses("rollback")


def _calibration(state: str, since_detection: int = 100) -> dict[str, Any]:
    evidence = {"calibration": 0.6, "examples_since_detection": since_detection}
    return {"kind": "calibration_drift", "model": "click", "state": state, "evidence": evidence}


@pytest.fixture
def sent(ctx) -> list[tuple[str, str, int]]:
    """The pin commands the responder sends (recorded instead of sent on ``control``)."""
    return ctx.sent


def test_a_calibration_break_rolls_back_and_its_end_rolls_forward(ctx, sent) -> None:
    _learn(ctx, 0, 1_000, random.Random(8))
    ctx.versions["click"] = [600, 900]
    asyncio.run(ctx.responder.respond([_calibration("raised", since_detection=200)]))
    assert sent == [("rollback", "click", 600)]
    # cleared before this worker applied its own rollback: still rolled forward
    asyncio.run(ctx.responder.respond([_calibration("cleared")]))
    assert sent[-1] == ("promote", "click", -1)


def test_an_operators_pin_is_left_alone(ctx, sent) -> None:
    _learn(ctx, 0, 1_000, random.Random(9))
    ctx.versions["click"] = [600]
    ctx.serving.pins["click"] = Pin(900, "operator")
    asyncio.run(ctx.responder.respond([_calibration("raised")]))
    asyncio.run(ctx.responder.respond([_calibration("cleared")]))
    assert sent == []


def test_no_snapshot_before_the_detection_means_no_rollback(ctx, sent) -> None:
    _learn(ctx, 0, 1_000, random.Random(10))
    ctx.versions["click"] = [1_000]
    asyncio.run(ctx.responder.respond([_calibration("raised", since_detection=300)]))
    assert sent == [] and ctx.counters["rollbacks_impossible.click"] == 1


def test_responses_count_back_from_the_versions_the_alerts_were_evaluated_at(ctx, sent) -> None:
    """The learner learned 400 more examples between the report that raised the alerts and
    the responses: the detection and the change are still where the evidence put them."""
    rng = random.Random(12)
    _learn(ctx, 0, 1_000, rng)
    evaluated_at = {"click": ctx.models["click"].version}
    _learn(ctx, 1_000, 400, rng)
    ctx.versions["click"] = [600, 900, 1_200]
    alerts = [_calibration("raised", since_detection=200), _drift(since_change=300)]
    asyncio.run(ctx.responder.respond(alerts, evaluated_at))
    assert sent == [("rollback", "click", 600)], "900 and 1,200 came after the detection at 800"
    assert ctx.learner.challengers["click"].trained_from == 700

"""The composition root: one worker's services, built from settings and wired together.

Nothing starts at import time. :func:`create_app` reads and checks the configuration file
(:func:`streams.config.load_config`: the models and their features; a bad one raises
:class:`~learners.errors.ConfigError` before anything is built), builds the Faust app
(:func:`streams.kafka.faust_app.faust_app`), then every service, handing each the narrow
collaborators it uses (settings, the model registry, counters, an outbox on the app's
producer, a response policy), then attaches the agents of the worker's roles. No service
holds the others: what one tells another goes through a collaborator it was given (the
learner's retired challengers reach the responder as events it subscribed to). The
:class:`Worker` it returns is what was built, for the process that runs it and for tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from typing import Any

from streams.agents import control, join, labels, rank, report
from streams.agents.io import AgentIO
from streams.agents.learn import LearnLoop
from streams.agents.serve import ServeLoop
from streams.config import build_registry, load_config
from streams.control.commands import Commands
from streams.control.replica import ControlReplica
from streams.control.responses import Responder, ResponsePolicy
from streams.kafka.faust_app import AdstreamApp, faust_app
from streams.kafka.outbox import DeadLetters
from streams.models.learner import Learner
from streams.models.registry import ModelRegistry
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.follower import ModelFollower
from streams.serving.view import Serving
from streams.wire.settings import Settings

__all__ = ["Worker", "create_app"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Worker:
    """What :func:`create_app` built for one worker: its app and its services."""

    app: AdstreamApp
    settings: Settings
    worker_id: str
    models: ModelRegistry
    counters: Counters
    health: WorkerHealth
    learner: Learner
    serving: Serving
    follower: ModelFollower
    commands: Commands
    replica: ControlReplica
    responder: Responder
    io: AgentIO


def create_app(settings: Settings, *, models: ModelRegistry | None = None) -> Worker:
    """Build the app, every service and the agents of ``settings.roles``; ``models``: the
    live models to start from (by default those of the configuration file
    ``settings.config``, or of the default one)."""
    if settings.snapshots == "on" and not settings.snapshot_key:
        raise ValueError(
            "snapshots are on and no snapshot key is resolved: build the app from "
            "settings.with_snapshot_key() (or set snapshots='off' explicitly)"
        )
    if models is None:
        models = build_registry(load_config(settings.config, settings.n_bits), settings)
    app = faust_app(settings)
    worker_id = f"{socket.gethostname()}-{os.getpid()}"
    counters = Counters()
    io = AgentIO(
        app=app,
        settings=settings,
        counters=counters,
        dead_letters=DeadLetters(settings.topic("dead-letter"), counters),
        gauges={},
    )
    health = WorkerHealth(settings, counters, worker_id)
    policy = ResponsePolicy(settings.responses)
    learner = Learner(
        settings=settings,
        models=models,
        counters=counters,
        health=health,
        worker=worker_id,
        promotes=lambda name: policy.enabled(name, "promote"),
    )
    serving = Serving(models)
    follower = ModelFollower(
        settings=settings,
        serving=serving,
        learns=learner.learns,
        counters=counters,
        outbox=io.outbox,
        worker=worker_id,
    )
    commands = Commands(models=models, serving=serving, snapshots=learner, pins=follower)
    replica = ControlReplica(
        settings=settings, commands=commands, counters=counters, outbox=io.outbox, worker=worker_id
    )
    responder = Responder(
        policy=policy,
        models=models,
        learner=learner,
        serving=serving,
        versions=follower.versions,
        send=replica.send,
        counters=counters,
    )
    learner.subscribe(responder.challenge_ended)
    worker = Worker(
        app=app,
        settings=settings,
        worker_id=worker_id,
        models=models,
        counters=counters,
        health=health,
        learner=learner,
        serving=serving,
        follower=follower,
        commands=commands,
        replica=replica,
        responder=responder,
        io=io,
    )
    _attach(worker)
    return worker


def _attach(worker: Worker) -> None:
    """The agents and tasks of the worker's roles, in start-up order: models are restored
    before anything reads, the learning loop joins its group once they are."""
    app, io, roles = worker.app, worker.io, worker.settings.roles
    report_requested = asyncio.Event()
    if "learn" in roles:
        app.startup_hooks.append(worker.learner.restore)
    if "join" in roles:
        join.register(io, worker.serving)
    if "labels" in roles:
        labels.register(io, worker.models.category.name)
    if "learn" in roles:
        _run_loop(
            app,
            LearnLoop(
                settings=worker.settings,
                learner=worker.learner,
                counters=worker.counters,
                dead_letters=io.dead_letters,
                request_report=report_requested.set,
            ),
        )
    if "rank" in roles:
        rank.register(io, lambda: worker.commands.weights)
    if "serve" in roles:
        _run_loop(
            app,
            ServeLoop(
                settings=worker.settings,
                serving=worker.serving,
                counters=worker.counters,
                dead_letters=io.dead_letters,
                health=worker.health,
            ),
        )
        control.register(io, worker.commands)  # the dead letters of commands, written once
    report.register(
        io,
        worker=worker.worker_id,
        models=worker.models,
        serving=worker.serving,
        learner=worker.learner,
        health=worker.health,
        responder=worker.responder,
        requested=report_requested,
    )
    app.task(worker.replica.run)
    app.task(worker.follower.run)
    if not app.agents:  # a learner alone reads with a loop of its own: no Faust consumer
        app.boot_strategy = app.BootStrategy(app, enable_kafka_consumer=False)


def _run_loop(app: AdstreamApp, loop: Any) -> None:
    """A loop with clients of its own: connected at start-up, then run as an app task."""
    app.startup_hooks.append(loop.connect)
    app.task(loop.run)

"""The Faust application: one app per worker, built from settings, with every agent attached.

Nothing starts at import time: :func:`create_app` builds the app, its topics and its agents
for the given settings (tests give each app its own topic prefix and consumer group). Agents
only route, call learners and emit; everything they share lives in one :class:`WorkerContext`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust

from learners import ENGAGEMENT_ONLY, Weights
from streams.agents import join, labels, learn, rank, report, serve
from streams.control import commands as control
from streams.control.responses import Responder
from streams.kafka.faust_transport import fetch_wait_transport
from streams.kafka.outbox import Counters, DeadLetters, Outbox
from streams.models.category import CategoryModel
from streams.models.learner import Learner
from streams.models.registry import ModelRegistry, default_models
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.follower import ModelFollower
from streams.serving.view import Serving
from streams.wire.settings import Settings
from streams.wire.topics import MAX_MESSAGE_BYTES, topic_specs

__all__ = ["AdstreamApp", "WorkerContext", "create_app"]


class AdstreamApp(faust.App):
    """A Faust app whose worker consumers use our fetch wait (see
    :mod:`streams.kafka.faust_transport`), and which runs its start-up hooks (model recovery)
    before any agent or task starts."""

    fetch_max_wait_ms: int = 10
    startup_hooks: list[Callable[[], Awaitable[None]]]

    async def on_first_start(self) -> None:
        await super().on_first_start()
        for hook in self.startup_hooks:
            await hook()

    def _new_transport(self) -> Any:
        transport = fetch_wait_transport(self.fetch_max_wait_ms)
        return transport(self.conf.broker_consumer, self)


@dataclasses.dataclass(slots=True, kw_only=True)
class WorkerContext:
    """What the agents of one worker share: settings, topics, live models, weights, counters."""

    app: AdstreamApp
    settings: Settings
    worker_id: str
    topics: dict[str, faust.TopicT]
    models: ModelRegistry
    category: CategoryModel
    counters: Counters
    dead_letters: DeadLetters
    weights: Weights = ENGAGEMENT_ONLY
    #: what the worker holds now, set (not counted) by its agents: ``join.held``, the items in
    #: the join's state; reported with the counters, beside the process's resident memory
    gauges: dict[str, int] = dataclasses.field(default_factory=dict)
    #: set to report now rather than at the next ``metrics_interval_s`` tick
    report_requested: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    learner: Learner = dataclasses.field(init=False)
    serving: Serving = dataclasses.field(init=False)
    follower: ModelFollower = dataclasses.field(init=False)
    health: WorkerHealth = dataclasses.field(init=False)
    responder: Responder = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.health = WorkerHealth(self.settings, self.counters, self.worker_id)
        self.learner = Learner(self)
        self.serving = Serving(self)
        self.follower = ModelFollower(self)
        self.responder = Responder(self)

    def topic_name(self, logical: str) -> str:
        return self.settings.topic(logical)

    def outbox(self) -> Outbox:
        return Outbox(self.app.producer)

    @property
    def batch(self) -> tuple[int, float]:
        """``stream.take_events`` arguments: max events and the wait in seconds."""
        return self.settings.batch_max, self.settings.batch_within_ms / 1000.0


def _credentials(settings: Settings) -> Any:
    """Faust's credentials for the settings' security (its SASL credentials are SASL_SSL
    exactly when they carry a TLS context)."""
    if settings.sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=settings.ssl_context(),
        )
    context = settings.ssl_context()
    return None if context is None else faust.SSLCredentials(context)


def create_app(settings: Settings, *, models: ModelRegistry | None = None) -> WorkerContext:
    """Build the app and every agent; returns the context that owns them."""
    if not settings.kafka:
        raise ValueError("settings.kafka must name the bootstrap servers (start a broker first)")
    if settings.snapshots == "on" and not settings.snapshot_key:
        raise ValueError(
            "snapshots are on and no snapshot key is resolved: build the app from "
            "settings.with_snapshot_key() (or set snapshots='off' explicitly)"
        )
    brokers = ";".join(f"kafka://{server}" for server in settings.kafka.split(","))
    app = AdstreamApp(
        settings.group_id,
        broker=brokers,
        broker_credentials=_credentials(settings),
        processing_guarantee="at_least_once",
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        producer_linger_ms=1,
        topic_allow_declare=False,
        topic_disable_leader=True,
        stream_wait_empty=False,  # the join holds events until their effect is durable
        web_enabled=False,
        autodiscover=False,
        datadir=Path(tempfile.gettempdir()) / f"{settings.group_id}-data",  # not the cwd
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    app.startup_hooks = []
    specs = topic_specs(settings)
    topics = {
        name: app.topic(
            spec.name,
            partitions=spec.partitions,
            key_serializer="raw",
            value_serializer="raw",
            allow_empty=True,
        )
        for name, spec in specs.items()
    }
    counters = Counters()
    ctx = WorkerContext(
        app=app,
        settings=settings,
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
        topics=topics,
        models=models if models is not None else default_models(settings.negative_sampling_rate),
        category=CategoryModel(n_bits=settings.n_bits),
        counters=counters,
        dead_letters=DeadLetters(specs["dead-letter"].name, counters),
    )
    roles = settings.roles
    if "learn" in roles:
        app.startup_hooks.append(ctx.learner.restore)
    agents = {"serve": serve, "rank": rank, "join": join, "labels": labels, "learn": learn}
    for module in (*(agents[name] for name in sorted(roles)), report, control):
        module.register(ctx)
    app.task(ctx.follower.run)
    if not app.agents:  # a learner alone reads with a loop of its own: no Faust consumer
        app.boot_strategy = app.BootStrategy(app, enable_kafka_consumer=False)
    return ctx

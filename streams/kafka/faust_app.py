"""The worker's Faust app, configured from settings: our transport, raw topics, start-up hooks.

Nothing starts at import time: :func:`faust_app` builds the app and its topics for the given
settings (tests give each app its own topic prefix and consumer group); the composition root
(:mod:`streams.worker.compose`) attaches the agents.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust

from streams.kafka.faust_transport import fetch_wait_transport
from streams.wire.settings import Settings
from streams.wire.topics import MAX_MESSAGE_BYTES, topic_specs

__all__ = ["AdstreamApp", "faust_app"]


class AdstreamApp(faust.App):
    """A Faust app whose worker consumers use our fetch wait (see
    :mod:`streams.kafka.faust_transport`), and which runs its start-up hooks (model recovery)
    before any agent or task starts. ``raw_topics``: every topic of the system by logical
    name, values and keys as raw bytes."""

    fetch_max_wait_ms: int = 10
    startup_hooks: list[Callable[[], Awaitable[None]]]
    raw_topics: dict[str, faust.TopicT]

    async def on_first_start(self) -> None:
        await super().on_first_start()
        for hook in self.startup_hooks:
            await hook()

    def _new_transport(self) -> Any:
        transport = fetch_wait_transport(self.fetch_max_wait_ms)
        return transport(self.conf.broker_consumer, self)


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


def faust_app(settings: Settings) -> AdstreamApp:
    """The app of one worker, with every topic declared (raw bytes: decoding is ours)."""
    if not settings.kafka:
        raise ValueError("settings.kafka must name the bootstrap servers (start a broker first)")
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
    app.raw_topics = {
        name: app.topic(
            spec.name,
            partitions=spec.partitions,
            key_serializer="raw",
            value_serializer="raw",
            allow_empty=True,
        )
        for name, spec in topic_specs(settings).items()
    }
    return app

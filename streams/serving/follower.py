"""Hot swap: every worker follows ``models`` and serves new versions without pausing.

The :class:`ModelFollower` reads ``models`` from the beginning with its own reader (no group),
verifies each snapshot's signature before anything is unpickled, and indexes every version.
For a model this worker does not learn, it serves the newest version as soon as it arrives
(freshness: the time from the snapshot's creation to serving with it). An operator's pin
(``promote NAME VERSION``, ``rollback NAME VERSION``; ``promote NAME -1`` follows the newest
again) is served on every worker, the learner's included, while learning goes on. Each change
of a serving version is published on ``metrics`` (``kind: serving``) and counted. A refused
snapshot (unsigned, tampered, another key) is never unpickled: it is logged, counted and
raised as an alert on ``alerts`` (``kind: snapshot_refused``, with the reason and its offset).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams import snapshots
from streams.kafka.outbox import Outbox, now_ms
from streams.kafka.readers import assigned_from_start, consumer_options, fetch_at
from streams.monitoring.counters import Counters
from streams.serving.view import Pin, Serving
from streams.snapshots.catalog import Refused, newest_by_model, verify_records
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["LATEST", "ModelFollower"]

log = logging.getLogger(__name__)

LATEST = -1  # the version argument of ``promote`` that unpins a model


class ModelFollower:
    """Indexes the snapshots on ``models`` and decides each model's serving version.

    It installs versions in the ``serving`` view, asks ``learns(name)`` whether this worker
    learns a model (then it serves the live one), counts in ``counters`` and publishes each
    change, as ``worker``, through a fresh ``outbox()``.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        serving: Serving,
        learns: Callable[[str], bool],
        counters: Counters,
        outbox: Callable[[], Outbox],
        worker: str,
    ) -> None:
        self._settings = settings
        self._serving = serving
        self._learns = learns
        self._counters = counters
        self._outbox = outbox
        self._worker = worker
        self._key = settings.snapshot_key.encode()
        self._index: dict[str, dict[int, int]] = {}  # model -> version -> offset on models
        self._repin: set[str] = set()  # models whose pin changed since the last look

    def pin(self, name: str, version: int, issued_by: str) -> None:
        """Serve ``version`` of ``name`` from now on (``LATEST``: the newest again)."""
        pins = self._serving.pins
        if version == LATEST:
            pins.pop(name, None)
        else:
            pins[name] = Pin(version, issued_by)
        self._repin.add(name)

    def versions(self, name: str) -> list[int]:
        """The versions of ``name`` with a verified snapshot on ``models`` (read so far)."""
        return sorted(self._index.get(name, {}))

    async def run(self) -> None:
        """Follow ``models`` until cancelled (an app task)."""
        if not self._key:
            return
        consumer = AIOKafkaConsumer(**consumer_options(self._settings))
        await consumer.start()
        try:
            await assigned_from_start(consumer, [self._settings.topic("models")])
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                await self.follow([record for batch in batches.values() for record in batch])
        finally:
            await consumer.stop()

    async def follow(self, records: Sequence[Any]) -> None:
        """Take in the next ``records`` of ``models`` (with ``key``, ``value`` and ``offset``;
        none: just look at the pins again): index the verified snapshots, alert on the others,
        serve what is new or pinned."""
        verified, refused = verify_records(records, self._key)
        for record, meta in verified:
            self._index.setdefault(meta["model"], {})[meta["version"]] = record.offset
        if refused:
            await self._alert(refused)
        for name, (meta, raw) in newest_by_model(verified).items():
            await self._offer(name, meta, raw)
        for name in list(self._repin):
            if await self._serve_pinned(name):
                self._repin.discard(name)

    async def _alert(self, refused: Refused) -> None:
        """An alert for each record on ``models`` that is not a snapshot signed with our key."""
        outbox = self._outbox()
        for record, reason in refused:
            self._counters["snapshots_refused"] += 1
            log.error("refused the snapshot at models offset %s: %s", record.offset, reason)
            alert = {
                "v": contracts.SCHEMA_VERSION,
                "kind": "snapshot_refused",
                "model": (record.key or b"?").decode(errors="replace")[:64],
                "state": "raised",  # an event: the record stays refused, nothing clears it
                "worker": self._worker,
                "ts": (ts := now_ms()),
                "raised_at": ts,
                "evidence": {"reason": reason, "offset": record.offset},
            }
            outbox.add(self._settings.topic("alerts"), "snapshot_refused", contracts.encode(alert))
        await outbox.flush()

    async def _offer(self, name: str, meta: dict[str, Any], raw: bytes) -> None:
        """Serve a new snapshot if this worker neither learns the model nor has it pinned."""
        serving = self._serving
        if name in serving.pins or self._learns(name) or not serving.serves(name):
            return
        if name in serving.loaded and meta["version"] <= serving.version(name):
            return
        _, model = snapshots.load(raw, key=self._key)
        freshness_ms = now_ms() - meta["created_at"]
        self._counters[f"freshness_ms.{name}"] = freshness_ms
        await self._swap(name, model, "snapshot", freshness_ms)

    async def _serve_pinned(self, name: str) -> bool:
        """Serve the pinned version (or the newest, unpinned); ``False`` if not yet on hand."""
        pin = self._serving.pins.get(name)
        version = pin.version if pin else None
        if version is None and self._learns(name):
            self._serving.serve_live(name)
            await self._publish(name, "promote", None)
            return True
        versions = self._index.get(name, {})
        if version is None:
            version = max(versions, default=None)
        if version is None or version not in versions:
            return False  # the follower has not read it (yet)
        _, model = snapshots.load(
            await fetch_at(self._settings, "models", versions[version]), key=self._key
        )
        await self._swap(name, model, "promote", None)
        return True

    async def _swap(self, name: str, model: Any, reason: str, freshness_ms: int | None) -> None:
        self._serving.install(name, model)
        self._counters[f"swaps.{name}"] += 1
        await self._publish(name, reason, freshness_ms)

    async def _publish(self, name: str, reason: str, freshness_ms: int | None) -> None:
        serving = self._serving
        log.info("serving %s version %s (%s)", name, serving.version(name), reason)
        record = {
            "v": contracts.SCHEMA_VERSION,
            "kind": "serving",
            "worker": self._worker,
            "ts": now_ms(),
            "model": name,
            "version": serving.version(name),
            "pinned": name in serving.pins,
            "reason": reason,
            "freshness_ms": freshness_ms,
        }
        outbox = self._outbox()
        outbox.add(self._settings.topic("metrics"), "serving", contracts.encode(record))
        await outbox.flush()

"""Watching a running system from outside: its metrics, alerts and dead letters, and readiness.

Used by the demo's live view, the tests and the benchmark harness.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from learners.errors import AdstreamError
from streams.kafka.readers import assigned_from_start, consumer_options
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["NotServing", "SystemWatcher", "wait_until_serving"]

log = logging.getLogger(__name__)


class NotServing(AdstreamError, TimeoutError):
    """No worker answered a probe query in time."""

    retriable = True


def _decoded(
    value: bytes, decode: Callable[[bytes], dict[str, Any]], what: str
) -> dict[str, Any] | None:
    """``decode(value)``, or ``None`` (logged) if it is not a valid ``what`` record."""
    try:
        return decode(value)
    except contracts.InvalidEvent:
        log.warning("unreadable %s record", what)
        return None


#: worker reports whose gauges a watcher keeps (a day of one worker's, one a second)
GAUGE_HISTORY = 86_400


class SystemWatcher:
    """Follows ``metrics``, ``alerts`` and ``dead-letter``: latest counters per worker, every
    worker's gauges over time, model reports and health, control-command effects, alerts, dead
    letters by reason. ``async with SystemWatcher(settings) as watcher: ...``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workers: dict[str, dict[str, Any]] = {}
        #: (report ts, worker, its gauges) of the last ``GAUGE_HISTORY`` worker reports
        self.gauges: collections.deque[tuple[int, str, dict[str, int]]] = collections.deque(
            maxlen=GAUGE_HISTORY
        )
        self.models: dict[str, dict[str, Any]] = {}
        self.dead_letters: list[dict[str, Any]] = []
        self.dead_letter_reasons: collections.Counter[str] = collections.Counter()
        self.control_effects: dict[int, dict[str, Any]] = {}  # seq -> first worker's effect
        self.health: dict[str, dict[str, Any]] = {}  # model -> latest health record
        self.alerts: list[dict[str, Any]] = []  # every alert record, in order
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def counter(self, name: str) -> int:
        """A counter summed over every worker."""
        return sum(w["counters"].get(name, 0) for w in self.workers.values())

    def model(self, name: str) -> dict[str, Any] | None:
        return self.models.get(name)

    def alert_history(self) -> list[dict[str, Any]]:
        """Each alert once: kind, model, worker, raised_at and cleared_at (``None`` while
        raised), in the order raised."""
        history: dict[tuple[str, str, str], dict[str, Any]] = {}
        rows = []
        for record in self.alerts:
            key = (record["kind"], record["model"], record.get("worker", ""))
            if record["state"] == "raised":
                row = {
                    "kind": record["kind"],
                    "model": record["model"],
                    "worker": key[2],
                    "raised_at": record["raised_at"],
                    "cleared_at": None,
                    "evidence": record.get("evidence"),
                }
                history[key] = row
                rows.append(row)
            elif key in history:
                history.pop(key)["cleared_at"] = record["ts"]
        return rows

    def active_alerts(self) -> list[dict[str, Any]]:
        return [row for row in self.alert_history() if row["cleared_at"] is None]

    async def __aenter__(self) -> SystemWatcher:
        self._consumer = AIOKafkaConsumer(**consumer_options(self.settings))
        await self._consumer.start()
        topics = [self.settings.topic(name) for name in ("metrics", "dead-letter", "alerts")]
        await assigned_from_start(self._consumer, topics)
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self) -> None:
        assert self._consumer is not None
        dead_letter_topic = self.settings.topic("dead-letter")
        alerts_topic = self.settings.topic("alerts")
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                for record in records:
                    if tp.topic == dead_letter_topic:
                        self._on_dead_letter(record.value)
                    elif tp.topic == alerts_topic:
                        self._on_alert(record.value)
                    else:
                        self._on_metrics(record.value)

    def _on_alert(self, value: bytes) -> None:
        record = _decoded(value, contracts.decode_map, "alert")
        if record is not None and record.get("state") in ("raised", "cleared") and "kind" in record:
            self.alerts.append(record)

    def _on_dead_letter(self, value: bytes) -> None:
        letter = _decoded(value, contracts.decode_dead_letter, "dead-letter")
        if letter is not None:
            self.dead_letters.append(letter)
            self.dead_letter_reasons[letter["reason"]] += 1

    def _on_metrics(self, value: bytes) -> None:
        record = _decoded(value, contracts.decode_map, "metrics")
        if record is None:
            return
        if record.get("kind") == "worker":
            self.workers[record["worker"]] = record
            self.gauges.append((record["ts"], record["worker"], record.get("gauges", {})))
        elif record.get("kind") == "control":
            self.control_effects.setdefault(record["seq"], record)
        elif record.get("kind") == "health":
            self.health[record["model"]] = record
        elif record.get("kind") == "model":
            current = self.models.get(record["model"])
            if current is None or record["n"] >= current["n"]:
                self.models[record["model"]] = record

    async def wait_for(self, predicate: Any, timeout_s: float) -> bool:
        """Poll ``predicate(self)`` until it holds or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


async def wait_until_serving(settings: Settings, timeout_s: float = 60.0) -> float:
    """Send a probe query until a prediction for it comes back; returns the seconds it took.

    The probe carries the earliest valid timestamp, so it never moves any event-time watermark
    (the join's windows close in event time). It is sent again every quarter of the serving
    deadline (at most every 200 ms) until one is answered: a worker sheds a query older than
    its deadline, and the probes sent while it joins its group are that old when it reads them.
    """
    started = time.monotonic()
    run = f"probe-{uuid.uuid4().hex[:12]}"
    sent: set[bytes] = set()  # each probe an id of its own: the join counts a repeated one

    def probe() -> bytes:
        event_id = f"{run}-{len(sent)}"
        sent.add(event_id.encode())
        return contracts.encode(
            contracts.query(
                event_id=event_id,
                ts=contracts.MIN_TS_MS,
                user_id="probe",
                text="probe",
                context={"device": "probe"},
                candidates=[
                    contracts.candidate(
                        ad_id="probe", advertiser_id="probe", category="probe", bid=0.0
                    )
                ],
            )
        )

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, **settings.client_security())
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    await producer.start()
    await consumer.start()
    try:
        await assigned_from_start(consumer, [settings.topic("predictions")])
        every_ms = min(200, max(20, settings.serve_deadline_ms // 4 or 200))
        while time.monotonic() - started < timeout_s:
            await producer.send_and_wait(settings.topic("queries"), probe(), key=b"probe")
            batches = await consumer.getmany(timeout_ms=every_ms)
            for records in batches.values():
                if any(record.key in sent for record in records):
                    return time.monotonic() - started
        raise NotServing(f"no prediction for a probe query within {timeout_s} s")
    finally:
        await consumer.stop()
        await producer.stop()

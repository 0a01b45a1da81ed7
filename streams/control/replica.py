"""The control replica of one worker: follows ``control`` from the beginning and applies it.

Each worker reads the whole topic with its own reader (no consumer group), applies every
valid command once in sequence order (:class:`streams.control.commands.Commands`), and
publishes ``{"kind": "control", "seq", "cmd", "args", "worker", "issued_at", "applied_at"}``
on ``metrics`` for each: its effect time on that worker (and, for ``snapshot``, a ``note``:
``requested``, or why this worker writes none). Invalid commands are skipped here; the
``control`` agent dead-letters them once. The replica also sends this worker's own commands
(the alert responses'): it knows the last sequence number on the topic without re-reading it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams.control.commands import Commands, encode_command
from streams.kafka.outbox import Outbox, now_ms
from streams.kafka.readers import assigned_from_start, consumer_options
from streams.monitoring.counters import Counters
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["ControlReplica"]

log = logging.getLogger(__name__)


class ControlReplica:
    """Applies the commands on ``control`` to ``commands``, counts them in ``counters`` and
    publishes their effects (as ``worker``) through a fresh ``outbox()`` per batch."""

    def __init__(
        self,
        *,
        settings: Settings,
        commands: Commands,
        counters: Counters,
        outbox: Callable[[], Outbox],
        worker: str,
    ) -> None:
        self._settings = settings
        self._commands = commands
        self._counters = counters
        self._outbox = outbox
        self._worker = worker
        self._applied = -1  # the sequence number of the last command applied
        self._last_seq = 0  # the highest sequence number read or sent (0: none yet)

    async def run(self) -> None:
        """Follow ``control`` until cancelled (an app task)."""
        consumer = AIOKafkaConsumer(**consumer_options(self._settings))
        await consumer.start()
        try:
            await assigned_from_start(consumer, [self._settings.topic("control")])
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                outbox = self._outbox()
                for records in batches.values():
                    for record in records:
                        self._read(record.value, outbox)
                await outbox.flush()
        finally:
            await consumer.stop()

    def _read(self, value: bytes, outbox: Outbox) -> None:
        try:
            command = contracts.decode_command(value)
        except contracts.InvalidEvent:
            return  # the control agent dead-letters it, once
        self._last_seq = max(self._last_seq, command["seq"])
        try:
            self._commands.check(command)
        except contracts.InvalidEvent:
            return
        if command["seq"] <= self._applied:
            self._counters["control_replayed_or_stale"] += 1
            return
        at = now_ms()
        note = self._commands.apply(command, at)
        self._applied = command["seq"]
        self._counters["control_applied"] += 1
        log.info("applied control command %s %s", command["seq"], command["cmd"])
        effect = {
            "v": contracts.SCHEMA_VERSION,
            "kind": "control",
            "worker": self._worker,
            "ts": at,
            "applied_at": at,
            "issued_at": command["ts"],
            **{k: command[k] for k in ("seq", "cmd", "args")},
            **({"note": note} if note else {}),
        }
        outbox.add(self._settings.topic("metrics"), "control", contracts.encode(effect))

    async def send(self, cmd: str, args: dict[str, Any], *, issued_by: str) -> int:
        """Publish a command of this worker (validated first) after the last one on the topic
        or sent from here; returns its sequence number."""
        self._last_seq += 1
        seq = self._last_seq
        value = encode_command(seq=seq, cmd=cmd, args=args, issued_by=issued_by)
        outbox = self._outbox()
        outbox.add(self._settings.topic("control"), str(seq), value)
        await outbox.flush()
        return seq

"""Sending commands and reading their effects, from outside a worker (the CLI, the demo, tests).

A command is validated before it is sent, keyed by its sequence number on the one-partition
``control`` topic; every worker applies it and publishes the effect on ``metrics``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord

from streams.control.commands import encode_command
from streams.kafka.readers import follow_until, read_topic
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["latest_category_report", "latest_weights", "send_command", "wait_applied"]


async def _last_seq(settings: Settings) -> int:
    """The highest sequence number on the control topic; 0 when there is none (so the first
    command is 1, and weights version 0 stays the built-in default)."""
    seqs = [0]
    for record in await read_topic(settings, "control"):
        with contextlib.suppress(contracts.InvalidEvent):
            seqs.append(contracts.decode_command(record.value)["seq"])
    return max(seqs)


async def send_command(
    settings: Settings, cmd: str, args: dict[str, Any], *, issued_by: str, seq: int | None = None
) -> int:
    """Publish a command (validated first); returns its sequence number (last + 1 if not given)."""
    seq = await _last_seq(settings) + 1 if seq is None else seq
    value = encode_command(seq=seq, cmd=cmd, args=args, issued_by=issued_by)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, **settings.client_security())
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic("control"), value, key=str(seq).encode())
    finally:
        await producer.stop()
    return seq


async def latest_category_report(settings: Settings) -> dict | None:
    """The newest category-model report on ``metrics`` (its classes and changes), if any."""
    reports = [r for r in await read_topic(settings, "metrics") if r.key == b"category"]
    return contracts.decode_map(reports[-1].value) if reports else None


async def latest_weights(settings: Settings) -> dict | None:
    """The newest ``set_weights`` effect on ``metrics`` (alpha, beta, version = seq), if any."""
    effects = [
        contracts.decode_map(record.value)
        for record in await read_topic(settings, "metrics")
        if record.key == b"control"
    ]
    weights = [effect for effect in effects if effect.get("cmd") == "set_weights"]
    return max(weights, key=lambda effect: effect["seq"]) if weights else None


async def wait_applied(settings: Settings, seq: int, timeout_s: float = 10.0) -> list[dict]:
    """The effect records of command ``seq`` (one per worker that applied it), once any appear."""
    effects: list[dict] = []

    def applied(record: ConsumerRecord) -> bool:
        if record.key == b"control":
            effect = contracts.decode_map(record.value)
            if effect.get("seq") == seq:
                effects.append(effect)
        return bool(effects)

    await follow_until(settings, ["metrics"], applied, timeout_s)
    return effects

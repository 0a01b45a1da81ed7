"""control: rejected commands -> dead-letter, written once (one worker of the serving group
holds the ``control`` partition). Applying commands is every worker's control replica's job
(:class:`streams.control.replica.ControlReplica`)."""

from __future__ import annotations

from typing import Any

from streams.agents.io import AgentIO, batch_agent
from streams.control.commands import Commands
from streams.kafka.outbox import Sink

__all__ = ["register"]


def register(io: AgentIO, commands: Commands) -> None:
    """Dead-letter every command that ``commands`` cannot decode or apply."""

    def handle(event: Any, out: Sink) -> None:
        commands.decode(event.value)

    batch_agent(io, "control", "control", handle)

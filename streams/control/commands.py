"""The control plane, worker side: checking a command and applying it to this worker's state.

Commands travel on the one-partition ``control`` topic, keyed by their sequence number (so
compaction never drops one). Every worker follows the whole topic from the beginning
(:class:`streams.control.replica.ControlReplica`): each replays the same commands in the same
order and reaches the same state, and a new worker catches up by replaying. Validation is a
pure function of the command (shape, known model, well-formed path, never the root), so every
replica reaches the same verdict; the ``control`` agent, consumed by exactly one worker of the
group, writes the dead letters of rejected commands once. Adding a class that exists or
removing one that does not is accepted and changes nothing (commands are idempotent).
"""

from __future__ import annotations

from typing import Any, Protocol

from learners import ENGAGEMENT_ONLY, Weights
from streams.kafka.outbox import now_ms
from streams.models.registry import ModelRegistry
from streams.serving.view import Serving
from streams.wire import contracts

__all__ = ["CommandRejected", "Commands", "encode_command"]


class CommandRejected(contracts.InvalidEvent):
    """A well-formed command that cannot apply to this system (e.g. an unknown model)."""


def encode_command(*, seq: int, cmd: str, args: dict[str, Any], issued_by: str) -> bytes:
    """A new command's wire bytes, stamped now, once the contract's decoder accepts them: a
    malformed command fails at its sender, not on the topic (whoever sends it: the CLI's
    client or a worker's replica)."""
    command = contracts.command(seq=seq, cmd=cmd, args=args, issued_by=issued_by, ts=now_ms())
    value = contracts.encode(command)
    contracts.decode_command(value)
    return value


class SnapshotRequests(Protocol):
    """Who writes snapshots on request (the learner): returns what it will do about it."""

    def request(self, name: str) -> str: ...


class Pins(Protocol):
    """Who decides the served version (the model follower)."""

    def pin(self, name: str, version: int, issued_by: str) -> None: ...


class Commands:
    """Checks and applies commands to one worker: the class set of its category models (live
    and served), snapshot requests (to ``snapshots``: the learner), pinned versions (to
    ``pins``: the model follower), and the objective ``weights`` in force."""

    def __init__(
        self,
        *,
        models: ModelRegistry,
        serving: Serving,
        snapshots: SnapshotRequests,
        pins: Pins,
    ) -> None:
        self._models = models
        self._serving = serving
        self._snapshots = snapshots
        self._pins = pins
        #: the objective weights in force, versioned by the command's sequence number
        self.weights: Weights = ENGAGEMENT_ONLY

    def check(self, command: dict[str, Any]) -> None:
        """Raise :class:`CommandRejected` unless the (decoded) command can apply."""
        model = command["args"].get("model", "")
        if command["cmd"] in ("add_class", "remove_class") and model != self._models.category.name:
            raise CommandRejected(f"unknown model for {command['cmd']}: {model[:64]}")
        known = self._models.model(model) is not None
        if command["cmd"] in ("snapshot", "promote", "rollback") and not known:
            raise CommandRejected(f"unknown model for {command['cmd']}: {model[:64]}")

    def decode(self, value: bytes) -> dict[str, Any]:
        """The command in ``value``, decoded and checked (raises ``InvalidEvent``)."""
        command = contracts.decode_command(value)
        self.check(command)
        return command

    def apply(self, command: dict[str, Any], at_ms: int) -> str | None:
        """Apply a checked command to this worker's state; returns a note of its outcome here
        where the command alone does not tell it (``snapshot``: requested, or why not)."""
        args = command["args"]
        if command["cmd"] in ("add_class", "remove_class"):  # learned and served alike
            live, served = self._models.category, self._serving.category
            for category in (live, *([served] if served is not live else [])):
                change = getattr(category, command["cmd"])
                change(args["path"], seq=command["seq"], at_ms=at_ms)
        elif command["cmd"] == "snapshot":  # written by the worker that learns the model
            return self._snapshots.request(args["model"])
        elif command["cmd"] in ("promote", "rollback"):  # the serving version, on every worker
            self._pins.pin(args["model"], args["version"], command["issued_by"])
        elif command["cmd"] == "set_weights":
            self.weights = Weights(alpha=args["alpha"], beta=args["beta"], version=command["seq"])
        return None

"""Automatic responses to a model's alerts, configured per model (``ADSTREAM_RESPONSES``).

The worker that learns a model acts on its alerts:

- ``challenger``: when ``loss_drift`` or ``label_shift`` is raised, start a challenger
  (:class:`streams.models.challenger.Challenger`): a fresh copy of the model trained on the examples
  since the change the detector located, then learning every example alongside the champion.
  The model's health record reports it (``challenger``: both losses on the same examples) and
  the ``challenger`` alert is raised while it runs. After ``challenge_examples`` examples
  (``ADSTREAM_CHALLENGE_EXAMPLES``) it retires: the alert clears, its evidence the final
  comparison.
- ``promote``: a retiring challenger that predicted its examples better than the champion
  (by :data:`streams.models.challenger.PROMOTE_MARGIN`) replaces the champion's estimator, and the
  promotion goes into the model's lineage (``LiveModel.promotions``, in every snapshot from
  then on, replayed by ``adstream models rebuild``). The ``promotion`` alert is raised at the
  next report, its evidence the comparison, and cleared at the one after.
- ``rollback``: when ``calibration_drift`` is raised, serve the newest snapshot written before
  the detector saw the change (ADWIN's kept window only bounds where the change began, and
  after a stable stretch that bound reaches far back: it would roll back much further than
  needed). The ``rollback`` command goes on ``control``, issued by ``auto-rollback``, and
  every worker applies it; the ``rollback`` alert is raised while that pin is served. When
  the calibration is back in its band (``calibration_drift`` clears), a ``promote NAME -1``
  command serves the newest version again. An operator's pin replaces ours: we never unpin
  it. Without a snapshot before the detection, nothing is rolled back (the calibration alert
  stands).

Nothing changes silently: each action is an alert, and each command is on the control log.
Learning goes on under both: a rollback changes what is served, never what is learned.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from streams.models.challenger import Challenger
from streams.models.learner import ChallengeEnded, Learner
from streams.models.registry import ModelRegistry, Promotion
from streams.monitoring.alerting import AlertKey, Evidence
from streams.monitoring.counters import Counters
from streams.serving.follower import LATEST
from streams.serving.view import Pin, Serving
from streams.wire.settings import parse_responses

__all__ = ["AUTO_ROLLBACK", "Responder", "ResponsePolicy"]

log = logging.getLogger(__name__)

AUTO_ROLLBACK = "auto-rollback"  # the issuer of the commands a rollback response sends


#: sends a command on ``control``: ``send(cmd, args, issued_by=...)``, its sequence number
SendCommand = Callable[..., Awaitable[int]]


class ResponsePolicy:
    """The responses configured per model (``ADSTREAM_RESPONSES``; ``*``: every other model).

    >>> policy = ResponsePolicy("*=challenger; quality=rollback")
    >>> policy.enabled("click", "challenger"), policy.enabled("quality", "challenger")
    (True, False)
    """

    def __init__(self, text: str) -> None:
        self._config = parse_responses(text)

    def enabled(self, name: str, response: str) -> bool:
        return response in self._config.get(name, self._config.get("*", ()))


class Responder:
    """Acts on the alerts of the models this worker learns, as ``policy`` says per model: it
    starts challengers on the ``learner``, and pins served versions (of ``serving``, among the
    snapshot ``versions(name)`` on hand) by sending commands with ``send``."""

    def __init__(
        self,
        *,
        policy: ResponsePolicy,
        models: ModelRegistry,
        learner: Learner,
        serving: Serving,
        versions: Callable[[str], list[int]],
        send: SendCommand,
        counters: Counters,
    ) -> None:
        self._policy = policy
        self._models = models
        self._learner = learner
        self._serving = serving
        self._versions = versions
        self._send = send
        self._counters = counters
        self._rolled_back: set[str] = set()  # rollbacks sent, maybe not yet applied here
        #: challengers retired, and promotions made, since the last :meth:`in_effect` (as
        #: alerts: a challenger may start and retire between two reports)
        self._retired: dict[str, Challenger] = {}
        self._promoted: dict[str, Promotion] = {}

    def enabled(self, name: str, response: str) -> bool:
        return self._policy.enabled(name, response)

    def challenge_ended(self, event: ChallengeEnded) -> None:
        """The learner's news of a retired challenger (a listener of the learner)."""
        self._retired[event.model] = event.challenger
        if event.promotion is not None:
            self._promoted[event.model] = event.promotion

    def in_effect(self) -> dict[AlertKey, Evidence | None]:
        """The actions under way, as alert conditions (``None``: checked, not under way) of
        each scored model this worker learns. A challenger retired, or a promotion made,
        since the last call is one, once: every challenger is an alert, however short."""
        learner = self._learner
        actions: dict[AlertKey, Evidence | None] = {}
        for name in self._models:
            if not learner.learns(name):
                continue
            challenger = learner.challengers.get(name) or self._retired.pop(name, None)
            actions["challenger", name] = challenger.report() if challenger else None
            promotion = self._promoted.pop(name, None)
            actions["promotion", name] = dataclasses.asdict(promotion) if promotion else None
            pin = self._own_pin(name)
            actions["rollback", name] = {"serving_version": pin.version} if pin else None
        return actions

    def _own_pin(self, name: str) -> Pin | None:
        """The pin of ``name``, if a rollback response issued it."""
        pin = self._serving.pins.get(name)
        return pin if pin is not None and pin.issued_by == AUTO_ROLLBACK else None

    def annotate(self, reports: dict[str, dict[str, Any]]) -> None:
        """Add each running challenger's figures to its champion's health record."""
        for name, challenger in self._learner.challengers.items():
            reports.setdefault(name, {})["challenger"] = challenger.report()

    async def respond(
        self, records: Iterable[Mapping[str, Any]], versions: Mapping[str, int] | None = None
    ) -> None:
        """Act on the alerts just raised or cleared. ``versions``: the models' versions when
        the alerts were evaluated (by default, now); the evidence counts examples back from
        there, and a learner goes on learning meanwhile (thousands of examples, draining)."""
        learner = self._learner
        for record in records:
            kind, name, state = record["kind"], record["model"], record["state"]
            if name not in self._models or not learner.learns(name):
                continue
            version = self._models[name].version
            learned_since = version - (versions or {}).get(name, version)
            drift = kind in ("loss_drift", "label_shift")
            if drift and state == "raised" and self.enabled(name, "challenger"):
                if name not in learner.challengers:
                    since = record["evidence"].get("examples_since_change", 0)
                    learner.start_challenger(name, since + learned_since)
                    self._counters[f"challengers.{name}"] += 1
            elif kind == "calibration_drift" and self.enabled(name, "rollback"):
                if state == "raised":
                    since = record["evidence"].get("examples_since_detection", 0)
                    await self._roll_back(name, since + learned_since)
                else:
                    await self._roll_forward(name)

    def rollback_target(self, name: str, examples_since_detection: int) -> int | None:
        """The newest snapshot version of ``name`` written before the detection."""
        detected_at = self._models[name].version - examples_since_detection
        older = [v for v in self._versions(name) if v <= detected_at]
        return max(older, default=None)

    async def _roll_back(self, name: str, examples_since_detection: int) -> None:
        if name in self._serving.pins:
            return  # pinned already (by us or an operator): leave it
        version = self.rollback_target(name, examples_since_detection)
        if version is None:
            log.warning("calibration of %s broke, and no snapshot before the change", name)
            self._counters[f"rollbacks_impossible.{name}"] += 1
            return
        await self._pin(name, "rollback", version)
        self._rolled_back.add(name)
        self._counters[f"rollbacks.{name}"] += 1
        log.warning("calibration of %s broke: rolled back to version %s", name, version)

    async def _roll_forward(self, name: str) -> None:
        ours = self._own_pin(name) is not None
        if name in self._serving.pins and not ours:
            self._rolled_back.discard(name)
            return  # an operator's pin: not ours to undo
        if not ours and name not in self._rolled_back:
            return  # nothing of ours is pinned, nor on its way (sent, not yet applied here)
        await self._pin(name, "promote", LATEST)
        self._rolled_back.discard(name)
        log.warning("calibration of %s is back: serving the newest version again", name)

    async def _pin(self, name: str, cmd: str, version: int) -> None:
        """Send the pin command on ``control``: every worker, this one too, applies it."""
        await self._send(cmd, {"model": name, "version": version}, issued_by=AUTO_ROLLBACK)

"""Things that go wrong in real life, for the simulator to play: the demo's ``--scenario``.

- ``stationary``: nothing happens.
- ``drift``: at 65 % of the run the world's click propensities change abruptly
  (:meth:`producers.world.World.drift_tastes`).
- ``label-corruption``: from 65 % to 83 % of the run, every click is attributed to another
  impression shown shortly before (a logging bug in the click pipeline).
- ``stale``: from 1/3 to 2/3 of the run the impression log is down: queries are still
  served and ranked, but no impression, click or rating reaches the system, so learning stops.
- ``imbalance``: clicks are rare (a base rate near 0.1 %) and the join keeps 2 % of the
  click negatives; the click model recalibrates.

>>> scenario("label-corruption", duration_s=200).incidents
(Incident(kind='label-corruption', start_s=130.0, end_s=166.0),)
>>> scenario("imbalance", duration_s=60).negative_sampling_rate
0.02
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

__all__ = ["SCENARIOS", "SCENARIO_RUN", "Incident", "Scenario", "ScenarioRun", "scenario"]

SCENARIOS = ("stationary", "drift", "label-corruption", "stale", "imbalance")
IMBALANCE_CLICK_LOGIT_SHIFT = -4.0  # about 0.1 % of shown ads clicked
IMBALANCE_NEGATIVE_RATE = 0.02
#: a model incident starts this far into the run (and label corruption stops at the end)
MODEL_INCIDENT = (0.65, 0.83)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioRun:
    """The run the scenarios are measured on: the broker scenario tests,
    ``benchmarks.detection`` and ``adstream demo --scenario NAME``. Long enough for the click
    model to have learned some skill before a model incident (at 65 %, about 37,500 examples),
    which is what its alerts watch for: the system's alert warm-up is raised to match."""

    world_seed: int = 5
    rate_per_s: float = 250.0
    duration_s: float = 230.0
    attribution_window_s: float = 2.0
    alert_warmup_examples: int = 30_000


SCENARIO_RUN = ScenarioRun()


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One incident from ``start_s`` to ``end_s`` seconds into the traffic (``inf``: the end).
    A ``drift`` happens once, at ``start_s``."""

    kind: Literal["drift", "label-corruption", "stale"]
    start_s: float
    end_s: float = math.inf

    def __post_init__(self) -> None:
        if self.kind not in ("drift", "label-corruption", "stale"):
            raise ValueError(f"unknown incident {self.kind!r}")
        if not 0 <= self.start_s <= self.end_s:
            raise ValueError(f"need 0 <= start_s <= end_s, got {self.start_s}, {self.end_s}")

    def active(self, at_s: float) -> bool:
        return self.start_s <= at_s < self.end_s


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """A named scenario: its incidents, the world's click-logit shift, the join's sampling."""

    name: str
    incidents: tuple[Incident, ...] = ()
    click_logit_shift: float = 0.0
    negative_sampling_rate: float = 1.0


def scenario(name: str, duration_s: float) -> Scenario:
    """The scenario ``name`` for a run of ``duration_s`` seconds of traffic."""
    third = duration_s / 3
    start, end = (round(share * duration_s, 3) for share in MODEL_INCIDENT)
    if name == "stationary":
        return Scenario(name)
    if name == "drift":
        return Scenario(name, (Incident("drift", start),))
    if name == "label-corruption":
        return Scenario(name, (Incident(name, start, end),))
    if name == "stale":
        return Scenario(name, (Incident(name, third, 2 * third),))
    if name == "imbalance":
        return Scenario(
            name,
            click_logit_shift=IMBALANCE_CLICK_LOGIT_SHIFT,
            negative_sampling_rate=IMBALANCE_NEGATIVE_RATE,
        )
    raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")

"""What a demo run plays: duration, rate, seed, window, weight changes, a scenario."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from producers.incidents import SCENARIO_RUN, Scenario, scenario

__all__ = ["DemoOptions"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    duration_s: float = 60.0
    rate_per_s: float = 300.0
    seed: int = 7
    attribution_window_s: float = 30.0
    runs_dir: Path = Path("runs")
    live: bool = True
    scenario: bool = True  # launch a category at 1/3 of the run, retire one at 2/3
    #: weights (alpha: quality, beta: engagement) set at the start and at half time; None
    #: keeps the weights as they are (engagement only at the start)
    weights: tuple[float, float] | None = None
    weights_at_half: tuple[float, float] | None = (1.0, 1.0)
    #: a scenario of :mod:`producers.incidents` (None: the default show above)
    incidents: str | None = None
    #: the workers' alert warm-up (None: the settings' own)
    alert_warmup_examples: int | None = None
    #: how long the simulated front-end waits for a query's ranking before it falls back
    #: (shows no ad): a query the worker shed is given up on then, not at the end of the run.
    #: Generous: the ranking hop (a Faust agent) took 0.6 s at the median and 2.5 s at worst
    #: in a 300 queries/s demo on a busy 2-core machine, where predictions took 75 ms
    answer_deadline_s: float = 5.0

    @classmethod
    def for_scenario(cls, name: str, **overrides: Any) -> DemoOptions:
        """The scenario ``name`` on the run it is measured on (``SCENARIO_RUN``: 230 s at 250
        queries/s, a 2 s window, a 30,000-example alert warm-up), so its model alerts show."""
        run = SCENARIO_RUN
        measured = {
            "duration_s": run.duration_s,
            "rate_per_s": run.rate_per_s,
            "seed": run.world_seed,
            "attribution_window_s": run.attribution_window_s,
            "alert_warmup_examples": run.alert_warmup_examples,
        }
        return cls(incidents=name, **{**measured, **overrides})

    def played(self) -> Scenario | None:
        return scenario(self.incidents, self.duration_s) if self.incidents else None

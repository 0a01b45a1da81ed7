"""Detection delays of the model alerts, offline: a scenario's closed loop in one process.

The simulated world sends a query; the serving path scores its candidates (the same
``predict`` as a worker); the ranking puts the best first; an epsilon-greedy front-end shows
one ad; the world draws a click, which counts if it comes within the attribution window; the
label is learned when the window closes (predicted first, as the learner does); the worker's
own :class:`~streams.monitoring.worker_health.WorkerHealth` watches the examples and served
scores, and its rules run on a report tick. No broker: 230 s of traffic at 250 queries/s
takes about 40 s, so a
detector can be measured over many runs, which one broker run of minutes cannot give. These
runs are behind the bounds stated in ``tests/integration/streams/monitoring/test_alerts.py``.

Runs differ by the seed of the front-end's draws (clicks, exploration), as broker runs of one
seeded world differ by timing. Left out, as they do not touch the click model's alerts:
ratings (the ranking is engagement only, the worker's default) and late events; query labels
reach the category model 2 s after their query, for 30 % of the queries.

``python -m benchmarks.detection --scenario drift --runs 11`` prints each run and writes
``benchmarks/results/detection-<scenario>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import logging
import math
import random
from collections.abc import Sequence
from typing import Any

from learners import ENGAGEMENT_ONLY
from learners.features import features_of
from producers.exploration import EpsilonGreedy
from producers.incidents import SCENARIO_RUN, Incident, scenario
from producers.world import World
from streams.agents.join import slices_of
from streams.agents.rank import ranking_for
from streams.agents.serve import predict
from streams.models.registry import CLICK, default_models
from streams.monitoring.alerting import large_shift
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.view import Serving
from streams.wire.settings import Settings

__all__ = ["STATIONARY_DURATION_S", "LoopOptions", "LoopRun", "run_loop"]

STATIONARY_DURATION_S = 400.0  # 100,000 queries at 250/s
MODEL_ALERTS = ("loss_drift", "calibration_drift", "label_shift", "no_skill", "score_shift")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoopOptions:
    """One closed-loop run; the defaults are the scenario run's
    (:data:`producers.incidents.SCENARIO_RUN`)."""

    world_seed: int = SCENARIO_RUN.world_seed
    rate_per_s: float = SCENARIO_RUN.rate_per_s
    duration_s: float = SCENARIO_RUN.duration_s
    attribution_window_s: float = SCENARIO_RUN.attribution_window_s
    grace_s: float = 0.5
    warmup_examples: int = SCENARIO_RUN.alert_warmup_examples
    tick_s: float = 0.5
    epsilon: float = 0.1
    label_share: float = 0.3
    label_delay_s: float = 2.0


@dataclasses.dataclass(slots=True)
class LoopRun:
    """What one run saw: the click model's alerts as ``(kind, state, examples learned)``, the
    example at which the incident's first impression was learned, and the largest label-shift
    z seen before it (after the warm-up)."""

    loop_seed: int
    incident_example: int | None = None
    alerts: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    quiet_peak_z: float = 0.0
    #: the category model's alerts raised, as ``(kind, click examples learned)``: none of the
    #: scenarios touches it
    category_alerts: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    def first_alert_after(self) -> tuple[str, int] | None:
        """The first model alert raised at or after the incident, with its delay in examples."""
        start = self.incident_example or 0
        return next(
            (
                (kind, n - start)
                for kind, state, n in self.alerts
                if state == "raised" and n >= start
            ),
            None,
        )

    def alerts_before(self) -> list[tuple[str, str, int]]:
        end = self.incident_example if self.incident_example is not None else float("inf")
        return [a for a in self.alerts if a[1] == "raised" and a[2] < end]


class _Loop:
    """The world, the serving path, the learner and the health of one run."""

    def __init__(self, options: LoopOptions, incident: Incident | None, loop_seed: int) -> None:
        self.options = options
        self.incident = incident
        settings = Settings(alert_warmup_examples=options.warmup_examples)
        self.view = Serving(default_models(n_bits=settings.n_bits))
        self.world = World(seed=options.world_seed)
        self.front_end = EpsilonGreedy(epsilon=options.epsilon)
        self.rng = random.Random(f"detection:{loop_seed}")
        self.counters = Counters()
        self.health = WorkerHealth(settings, self.counters, worker="offline")
        self.due: list[tuple[int, int, str, Any]] = []  # (ms, order, kind, payload)
        self.order = 0
        self.recent_impressions: list[int] = []
        self.incident_index: int | None = None  # the first impression the incident touched
        self.run = LoopRun(loop_seed)

    def _later(self, at_ms: int, kind: str, payload: Any) -> None:
        self.order += 1
        heapq.heappush(self.due, (at_ms, self.order, kind, payload))

    def _corrupting(self, at_s: float) -> bool:
        incident = self.incident
        return (
            incident is not None and incident.kind == "label-corruption" and incident.active(at_s)
        )

    def go(self) -> LoopRun:
        options, run = self.options, self.run
        drift_pending = self.incident is not None and self.incident.kind == "drift"
        next_tick_ms = 0
        shown: list[tuple[dict, dict, bool, int]] = []  # impressions by index
        for i in range(int(options.rate_per_s * options.duration_s)):
            now_ms = round(i * 1000 / options.rate_per_s)
            if drift_pending and now_ms >= self.incident.start_s * 1000:
                self.world.drift_tastes()
                drift_pending = False
            self._release(now_ms, shown)
            if now_ms >= next_tick_ms:
                self._tick(now_ms)
                next_tick_ms += round(options.tick_s * 1000)
            self._query(now_ms, shown)
        return run

    def _query(self, now_ms: int, shown: list[tuple[dict, dict, bool, int]]) -> None:
        options, view = self.options, self.view
        event, truth = self.world.next_query(ts_ms=now_ms)
        self.counters["read.queries"] += 1
        prediction = predict(view, event, now_ms)
        if view.models[CLICK].version >= options.warmup_examples:
            self.health.observe_scores(CLICK, prediction["scores"]["engagement"])
        top = ranking_for(prediction, ENGAGEMENT_ONLY, now_ms)["ad_ids"][0]
        ad_id = self.front_end.choose(top, truth.candidates, self.rng).ad_id
        ad = next(a for a in event["candidates"] if a["ad_id"] == ad_id)
        probability = self.world.click_probability(truth, self.world.ad(ad_id), position=0)
        clicked = (
            self.rng.random() < probability
            and self.world.click_delay_s(self.rng) <= options.attribution_window_s
        )
        index = len(shown)
        at_s = now_ms / 1000
        if clicked and self._corrupting(at_s) and self.recent_impressions:
            clicked, other = False, self.rng.choice(self.recent_impressions)
            query, other_ad, _, ts = shown[other]
            shown[other] = (query, other_ad, True, ts)
        self.recent_impressions = [*self.recent_impressions[-99:], index]
        shown.append((event, ad, clicked, now_ms))
        incident = self.incident
        if incident is not None and self.incident_index is None and incident.start_s <= at_s:
            self.incident_index = index
        window_ms = round((options.attribution_window_s + options.grace_s) * 1000)
        self._later(now_ms + window_ms, "impression", index)
        if self.rng.random() < options.label_share:
            self._later(now_ms + round(options.label_delay_s * 1000), "label", (event, truth.leaf))

    def _release(self, now_ms: int, shown: list[tuple[dict, dict, bool, int]]) -> None:
        category = self.view.category
        while self.due and self.due[0][0] <= now_ms:
            at_ms, _, kind, payload = heapq.heappop(self.due)
            if kind == "label":
                query, leaf = payload
                guess = category.learn(category.features(query), leaf)
                label = {"label": leaf, "ts_event": query["ts"], "ts_label": at_ms}
                self.health.observe_guess(category.name, label, guess, at_ms / 1000)
                continue
            query, ad, clicked, ts_ms = shown[payload]
            self._learn(query, ad, clicked, ts_ms, at_ms, payload)

    def _learn(
        self, query: dict, ad: dict, clicked: bool, ts_ms: int, at_ms: int, index: int
    ) -> None:
        view, run = self.view, self.run
        paths = view.category.top_paths(view.category.features(query))
        model = view.models[CLICK]
        features = features_of(model.features)
        context = features.query(query, paths[0][0] if paths else None)
        p = model.learn(features.candidate(context, ad), float(clicked))
        example = {
            "label": float(clicked),
            "ts_event": ts_ms,
            "ts_label": at_ms,
            "slices": slices_of(query, ad),
        }
        self.health.observe_example(CLICK, example, p, 1.0, at_ms / 1000)
        start = self.incident_index
        if run.incident_example is None and start is not None and index >= start:
            run.incident_example = model.n_learned

    def _tick(self, now_ms: int) -> None:
        reports, records = self.health.tick(now_ms / 1000, now_ms, {}, {})
        n = self.view.models[CLICK].n_learned
        for record in records:
            if record["model"] == CLICK and record["kind"] in MODEL_ALERTS:
                self.run.alerts.append((record["kind"], record["state"], n))
            elif record["model"] == self.view.category.name and record["state"] == "raised":
                self.run.category_alerts.append((record["kind"], n))
        shift = reports.get(CLICK, {}).get("label_shift", {})
        z = abs(shift.get("z", math.nan))
        quiet = self.run.incident_example is None and n >= self.options.warmup_examples
        if quiet and math.isfinite(z) and large_shift(shift, self.health.policy):
            self.run.quiet_peak_z = max(self.run.quiet_peak_z, z)


def run_loop(options: LoopOptions, incident: Incident | None, loop_seed: int) -> LoopRun:
    """One closed-loop run of ``incident`` (``None``: stationary)."""
    return _Loop(options, incident, loop_seed).go()


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    from benchmarks.run import RESULTS_DIR

    logging.basicConfig(level=logging.ERROR)  # each alert raised and cleared is in the rows
    console = Console()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detection", description=__doc__)
    parser.add_argument(
        "--scenario", default="drift", choices=("stationary", "drift", "label-corruption")
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--duration-s", type=float, default=None, help="230 (400 stationary)")
    args = parser.parse_args(argv)
    options = LoopOptions()
    if args.duration_s or args.scenario == "stationary":
        duration_s = args.duration_s or STATIONARY_DURATION_S
        options = dataclasses.replace(options, duration_s=duration_s)
    (incident,) = scenario(args.scenario, options.duration_s).incidents or (None,)
    rows = []
    for loop_seed in range(args.first_seed, args.first_seed + args.runs):
        run = run_loop(options, incident, loop_seed)
        first = run.first_alert_after() if incident else None
        rows.append(
            {
                "loop_seed": loop_seed,
                "incident_example": run.incident_example,
                "first_alert": first and {"kind": first[0], "delay_examples": first[1]},
                "alerts_before_incident": run.alerts_before(),
                "quiet_peak_label_shift_z": round(run.quiet_peak_z, 2),
                "category_alerts": run.category_alerts,
                "alerts": run.alerts,
            }
        )
        console.print(rows[-1])
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"detection-{args.scenario}.json"
    options_record = dataclasses.asdict(options)
    record = {
        "scenario": args.scenario,
        "options": options_record,
        "incident": incident and dataclasses.asdict(incident),
        "runs": rows,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    console.print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

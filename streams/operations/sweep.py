"""``adstream weights sweep``: estimate, before rollout, what other weights would have done.

Reads the logged predictions (every objective's scores per candidate), impressions (the ad
shown and the probability the front-end had of showing it), clicks and ratings from a running
system's topics, and estimates for a grid of (alpha, beta) the click-through rate and mean
shown-ad quality by inverse propensity scoring (:mod:`learners.offpolicy`, whose docstring
lists the assumptions). Writes the table as JSON and the CTR-quality frontier as a PNG.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from learners import Weights
from learners.offpolicy import Estimate, LoggedQuery, pareto_front, sweep
from streams.kafka.readers import read_topic
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["DEFAULT_GRID", "estimate_rows", "logged_queries", "plot_frontier", "run_sweep"]

#: alpha (quality) from engagement-only to quality-heavy with beta (engagement) 1, then
#: quality only. The version field just numbers the grid's points.
DEFAULT_GRID = tuple(
    Weights(alpha=alpha, beta=beta, version=i)
    for i, (alpha, beta) in enumerate(
        [(alpha, 1.0) for alpha in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)] + [(1.0, 0.0)]
    )
)


def _decoded(records: Iterable[Any], decoder: Any) -> Iterable[dict[str, Any]]:
    for record in records:
        with contextlib.suppress(contracts.InvalidEvent):
            yield decoder(record.value)


async def logged_queries(settings: Settings) -> list[LoggedQuery]:
    """Every shown impression whose prediction is on the log, with its click and rating."""
    predictions = {
        p["event_id"]: p
        for p in _decoded(await read_topic(settings, "predictions"), contracts.decode_prediction)
    }
    clicked = {
        c["impression_id"]
        for c in _decoded(await read_topic(settings, "clicks"), contracts.decode_click)
    }
    ratings = {
        r["impression_id"]: r["quality"]
        for r in _decoded(await read_topic(settings, "ratings"), contracts.decode_rating)
    }
    logged = []
    for impression in _decoded(
        await read_topic(settings, "impressions"), contracts.decode_impression
    ):
        prediction = predictions.get(impression["event_id"])
        if prediction is None or impression["ad_id"] not in prediction["ad_ids"]:
            continue
        impression_id = impression["impression_id"]
        logged.append(
            LoggedQuery(
                event_id=impression["event_id"],
                ad_ids=tuple(prediction["ad_ids"]),
                scores=prediction["scores"],
                shown=impression["ad_id"],
                propensity=impression.get("propensity", 1.0),
                clicked=impression_id in clicked,
                quality=ratings.get(impression_id),
            )
        )
    return logged


def estimate_rows(estimates: list[Estimate]) -> list[dict[str, Any]]:
    """Plain rows (JSON-ready), each marked Pareto-optimal or not."""
    return [
        {
            "alpha": e.weights.alpha,
            "beta": e.weights.beta,
            "ctr": e.ctr,
            "ctr_se": e.ctr_se,
            "mean_quality": e.quality,
            "matches": e.matches,
            "n": e.n,
            "pareto": front,
        }
        for e, front in zip(estimates, pareto_front(estimates), strict=True)
    ]


def plot_frontier(rows: list[dict[str, Any]], path: Path) -> None:
    """CTR against mean quality for every weight setting; the Pareto front joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 4.8))
    points = [r for r in rows if math.isfinite(r["ctr"]) and math.isfinite(r["mean_quality"])]
    axes.scatter([r["mean_quality"] for r in points], [r["ctr"] for r in points], color="grey")
    front = sorted((r for r in points if r["pareto"]), key=lambda r: r["mean_quality"])
    axes.plot(
        [r["mean_quality"] for r in front],
        [r["ctr"] for r in front],
        "o-",
        color="C0",
        label="Pareto front",
    )
    for r in points:
        axes.annotate(
            f"a={r['alpha']:g}, b={r['beta']:g}",
            (r["mean_quality"], r["ctr"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    axes.set_xlabel("estimated mean quality of shown ads")
    axes.set_ylabel("estimated click-through rate")
    axes.set_title("alpha*quality + beta*engagement: off-policy estimates (IPS)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


async def run_sweep(
    settings: Settings, out_dir: Path, grid: Iterable[Weights] = DEFAULT_GRID
) -> list[dict[str, Any]]:
    """Estimate the grid from the system's logs; write ``sweep.json`` and ``sweep.png``."""
    logged = await logged_queries(settings)
    rows = estimate_rows(sweep(logged, list(grid)))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot_frontier(rows, out_dir / "sweep.png")
    return rows

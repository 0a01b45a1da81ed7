"""``adstream demo``: its options, and the run they ask for (exit 1 when a query was lost)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from producers.incidents import SCENARIOS
from streams.cli.common import FAILED, OK
from streams.cli.runner import add_config_option

__all__ = ["add_parser", "run"]


def _weights_pair(text: str) -> tuple[float, float] | None:
    if text.lower() == "none":
        return None
    try:
        alpha, beta = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ALPHA,BETA, got {text!r}") from None
    return alpha, beta


def add_parser(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run the demo on the embedded broker")
    demo.add_argument("--duration", type=float, help="seconds of traffic (60; 230 with --scenario)")
    demo.add_argument("--rate", type=float, help="queries per second (300; 250 with --scenario)")
    demo.add_argument("--seed", type=int, help="seed of the simulated world (7; 5 with --scenario)")
    demo.add_argument(
        "--window", type=float, help="attribution window, seconds (30; 2 with --scenario)"
    )
    demo.add_argument("--runs-dir", default="runs", help="where summaries are written")
    demo.add_argument("--no-live", action="store_true", help="no live view (for logs and CI)")
    demo.add_argument(
        "--no-scenario", action="store_true", help="no category launch or retirement mid-run"
    )
    demo.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default=None,
        help="play what goes wrong in real life instead of the default show (see docs)",
    )
    demo.add_argument(
        "--weights",
        type=_weights_pair,
        default=None,
        metavar="ALPHA,BETA",
        help="objective weights from the start (default: engagement only)",
    )
    demo.add_argument(
        "--weights-at-half",
        type=_weights_pair,
        default=(1.0, 1.0),
        metavar="ALPHA,BETA|none",
        help="objective weights set at half time (default 1,1; 'none' keeps them)",
    )
    add_config_option(demo, top_level=False)  # the models and features the workers run
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from producers.demo.options import DemoOptions
    from producers.demo.run import run_demo
    from producers.demo.summary import unanswered_not_shed

    given = {
        name: value
        for name, value in (
            ("duration_s", args.duration),
            ("rate_per_s", args.rate),
            ("seed", args.seed),
            ("attribution_window_s", args.window),
        )
        if value is not None
    }
    common = {
        "runs_dir": Path(args.runs_dir),
        "live": not args.no_live,
        "scenario": not args.no_scenario,
        "weights": args.weights,
        "weights_at_half": args.weights_at_half,
    }
    if args.scenario:
        options = DemoOptions.for_scenario(args.scenario, **given, **common)
    else:
        options = DemoOptions(**given, **common)
    summary = run_demo(options)
    lost = unanswered_not_shed(summary)
    if lost:
        print(
            f"not every query was answered: {lost:,} of {summary['queries_sent']:,} queries got"
            f" no prediction and were not shed ({summary['shed']:,} shed)",
            file=sys.stderr,
        )
        return FAILED
    return OK

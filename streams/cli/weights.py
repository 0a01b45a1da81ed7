"""``adstream weights show|set|sweep``: the objective weights of a running system, and the
off-policy estimates of a grid of them from its logged traffic."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from streams.cli.common import FAILED, OK, USAGE, apply_command, running_system
from streams.wire.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    weights = commands.add_parser("weights", help="show or set the objective weights")
    weights.add_argument("action", choices=("show", "set", "sweep"))
    weights.add_argument("--alpha", type=float, default=0.0, help="weight of quality")
    weights.add_argument("--beta", type=float, default=1.0, help="weight of engagement")
    weights.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for effect")
    weights.add_argument("--out", default="runs/sweep", help="sweep: where JSON and PNG go")
    weights.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streams.control.client import latest_weights

    settings = running_system()
    if settings is None:
        return USAGE
    if args.action == "sweep":
        return _sweep(settings, Path(args.out))
    if args.action == "show":
        effect = asyncio.run(latest_weights(settings))
        if effect is None:
            print("alpha=0 beta=1 version=0 (the default: engagement only)")
        else:
            weights = effect["args"]
            print(f"alpha={weights['alpha']:g} beta={weights['beta']:g} version={effect['seq']}")
        return OK
    arguments = {"alpha": args.alpha, "beta": args.beta}
    return apply_command(settings, "set_weights", arguments, args.timeout)


def _sweep(settings: Settings, out_dir: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    from streams.operations.sweep import run_sweep

    rows = asyncio.run(run_sweep(settings, out_dir))
    table = Table(title="off-policy estimates (IPS) from the logged traffic")
    for column in ("alpha", "beta", "CTR", "± se", "mean quality", "matches", "Pareto"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['alpha']:g}",
            f"{row['beta']:g}",
            f"{row['ctr']:.4f}",
            f"{row['ctr_se']:.4f}",
            f"{row['mean_quality']:.4f}",
            f"{row['matches']:,} / {row['n']:,}",
            "*" if row["pareto"] else "",
        )
    console = Console()
    console.print(table)
    console.print(f"written {out_dir / 'sweep.json'} and {out_dir / 'sweep.png'}")
    if not (rows and rows[0]["n"]):
        print("no logged traffic to estimate from (no ranked impressions yet)", file=sys.stderr)
        return FAILED
    return OK

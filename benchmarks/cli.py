"""``adstream bench``: the benchmarks (:func:`benchmarks.run.run_benchmarks`); results in
``benchmarks/results``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="run the benchmarks; results in benchmarks/results")
    bench.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from benchmarks.run import run_benchmarks

    return run_benchmarks(quick=args.quick)

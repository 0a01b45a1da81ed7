"""``adstream worker``: run one worker in the foreground, settings from ``ADSTREAM_*``."""

from __future__ import annotations

import argparse

from streams.cli.common import OK
from streams.wire.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="run one worker (settings from ADSTREAM_*)")
    worker.add_argument("--loglevel", default="WARNING")
    # Faust handles SIGTERM, sets up logging and masks the secrets (the resolved key too)
    worker.set_defaults(run=run, own_signals=True, own_logging=True)


def run(args: argparse.Namespace) -> int:
    from streams.worker.run import run_worker

    run_worker(Settings.from_env(), loglevel=args.loglevel)
    return OK

"""``adstream``: the command line. It owns the terminal; the library logs.

adstream [--config PATH] COMMAND   PATH: models, features and settings (adstream.toml; default:
                           ADSTREAM_CONFIG, else the demo's)
adstream demo [--duration S] [--rate R] [--seed N] [--window S] [--scenario NAME]
adstream worker [--loglevel LEVEL] [--config PATH]
adstream broker            run the embedded broker in the foreground, topics created (until
                           SIGINT or SIGTERM, which stop it and exit 0)
adstream bench [--quick]   hot-path micro-benchmarks and the end-to-end harness
adstream models list|show|snapshot|promote|rollback|rebuild   snapshots and served versions
adstream config check|show [--json] [--config PATH]   the configuration, checked or written out
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import benchmarks.cli
import producers.demo.cli
import streams.cli

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The system's commands (:mod:`streams.cli`) between ``demo`` (:mod:`producers.demo`)
    and ``bench`` (:mod:`benchmarks`), which ``streams`` never imports."""
    parser = argparse.ArgumentParser(
        prog="adstream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    streams.cli.add_config_option(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    producers.demo.cli.add_parser(commands)
    streams.cli.add_commands(commands)
    benchmarks.cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return streams.cli.run(parser(), argv)

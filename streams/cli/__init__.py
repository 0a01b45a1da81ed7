"""The ``adstream`` commands that run and operate the system, one module per command.

:func:`add_commands` adds them to a parser's sub-commands, :func:`run` parses and runs one
(``adstream.cli`` adds ``demo`` and ``bench`` around them); ``python -m streams.cli`` runs them
alone. Each command module offers ``add_parser(commands)``, which sets the command's ``run``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from streams.cli import broker, classes, config, models, weights, worker
from streams.cli.runner import add_config_option, run

__all__ = ["COMMANDS", "USAGE", "add_commands", "add_config_option", "main", "parser", "run"]

USAGE = """\
adstream [--config PATH] COMMAND   PATH: models, features and settings (adstream.toml; default:
                           ADSTREAM_CONFIG, else the demo's)
adstream worker [--loglevel LEVEL] [--config PATH]
adstream broker            run the embedded broker in the foreground, topics created (until
                           SIGINT or SIGTERM, which stop it and exit 0)
adstream classes list|add|remove                             the category model's classes
adstream weights show|set|sweep                              the objective weights
adstream models list|show|snapshot|promote|rollback|rebuild   snapshots and served versions
adstream config check|show [--json] [--config PATH]   the configuration, checked or written out
"""

#: The command modules, in the order ``--help`` lists them.
COMMANDS = (worker, broker, classes, weights, models, config)
#: The commands that also take ``--config PATH`` after their name.
CONFIGURED = ("worker", "config")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add every command of :data:`COMMANDS` to ``commands`` (``parser.add_subparsers()``);
    those of :data:`CONFIGURED` take ``--config`` after their name too."""
    for command in COMMANDS:
        command.add_parser(commands)
    for name in CONFIGURED:
        add_config_option(commands.choices[name], top_level=False)


def parser() -> argparse.ArgumentParser:
    """The parser of these commands alone."""
    parser = argparse.ArgumentParser(
        prog="adstream", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_option(parser)
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), argv)

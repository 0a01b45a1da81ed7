"""Running a parsed command: its configuration file, checks, signals, logging, settings, and
the exit code of what went wrong (a reason on stderr, no traceback, for what adstream or a
broker refused)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from learners.errors import AdstreamError, ConfigError
from streams.cli.common import FAILED, USAGE, broker_refusal
from streams.wire.keys import KeyFileError
from streams.wire.redact import redact_secrets
from streams.wire.settings import Settings

__all__ = ["add_config_option", "run"]

_CONFIG_HELP = (
    "the configuration file (models, features, settings; default: ADSTREAM_CONFIG, else the demo's)"
)


def add_config_option(parser: argparse.ArgumentParser, *, top_level: bool = True) -> None:
    """Add ``--config PATH`` to ``parser``: the top-level parser (``adstream --config F
    worker``), or a command's (``adstream worker --config F``), which overrides the former
    only when given."""
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=default, help=_CONFIG_HELP)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: what the command started (an embedded broker, a worker
    process) is stopped by its ``with`` block instead of outliving the command."""
    raise SystemExit(128 + signum)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run the command it names; returns its exit code.

    Each command's sub-parser sets ``run`` (``args -> exit code``) and may set ``check``
    (``(parser, args)``: refuses bad arguments with ``parser.error``), ``own_signals`` (it
    handles SIGTERM itself) and ``own_logging`` (it sets up logging and masks its secrets).

    ``--config PATH`` becomes ``ADSTREAM_CONFIG`` (an absolute path) before any setting is
    read, so the processes a command starts read the same file. A configuration that cannot
    be used exits 2 with ``config error: <field>: <reason>``.
    """
    args = parser.parse_args(argv)
    options = vars(args)
    if options.get("config"):
        os.environ["ADSTREAM_CONFIG"] = os.path.abspath(args.config)
    if not options.get("own_signals"):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if options.get("check"):
        args.check(parser, args)
    if not options.get("own_logging"):
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()  # every command reads them: say what is wrong first
    except ConfigError as error:
        print(f"adstream {args.command}: config error: {error}", file=sys.stderr)
        return USAGE
    except ValueError as error:
        print(f"adstream {args.command}: bad ADSTREAM_* settings: {error}", file=sys.stderr)
        return USAGE
    if not options.get("own_logging"):  # the worker masks them itself, the resolved key too
        redact_secrets(settings)
    try:
        return args.run(args)
    except Exception as error:
        refusal = broker_refusal(error)
        if refusal is not None:
            print(
                f"adstream {args.command}: the brokers at {settings.kafka} refused or did not "
                f"answer (security_protocol {settings.security_protocol}): {refusal}",
                file=sys.stderr,
            )
            return FAILED
        if isinstance(error, ConfigError):
            print(f"adstream {args.command}: config error: {error}", file=sys.stderr)
            return USAGE
        if isinstance(error, KeyFileError):
            print(f"adstream {args.command}: {error}", file=sys.stderr)
            return USAGE
        if isinstance(error, AdstreamError):  # raised on purpose, with its reason
            print(f"adstream {args.command}: {error}", file=sys.stderr)
            return FAILED
        raise

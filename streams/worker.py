"""Run one adstream worker: the Faust app with every agent, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging

import faust

from streams.app import create_app
from streams.settings import Settings

__all__ = ["configure_logging", "run_worker"]


def configure_logging(level: str = "WARNING") -> None:
    """Set the root logger ourselves: Faust would leave it at DEBUG and build unused records."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger().setLevel(level.upper())


def run_worker(settings: Settings, *, loglevel: str = "WARNING") -> None:
    """Build the app and run it in this process until it is told to stop."""
    configure_logging(loglevel)
    ctx = create_app(settings)
    worker = faust.Worker(
        ctx.app, loglevel=loglevel, quiet=True, override_logging=False, redirect_stdouts=False
    )
    worker.execute_from_commandline()

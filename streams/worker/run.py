"""Run one adstream worker: the Faust app with every agent, until SIGTERM or SIGINT."""

from __future__ import annotations

import gc
import logging

import faust

from streams.wire.redact import redact_secrets
from streams.wire.settings import Settings
from streams.worker.compose import create_app

__all__ = [
    "GEN0_THRESHOLD",
    "configure_logging",
    "freeze_startup_heap",
    "run_worker",
    "tune_collector",
]

log = logging.getLogger(__name__)

#: Allocations between two collections of the youngest generation (CPython's default: 700).
#: A serving batch of 500 queries allocates about 7,000 dicts and lists that all die with the
#: batch; at 700 they are promoted, generation after generation, and die old, so that every few
#: batches a full collection walks the whole heap (Faust, aiokafka, the models): 12-20 µs per
#: query served, a sixth of the work. At 20,000 most die young.
GEN0_THRESHOLD = 20_000


def configure_logging(level: str = "WARNING") -> None:
    """Set the root logger ourselves: Faust would leave it at DEBUG and build unused records."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger().setLevel(level.upper())


def tune_collector() -> None:
    """Collect the youngest generation every :data:`GEN0_THRESHOLD` allocations."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


async def freeze_startup_heap() -> None:
    """Move every object start-up made (modules, the app and its services, restored models)
    out of the collector's reach, after collecting the garbage among them: they live as long
    as the process, and a full collection no longer walks them (``gc.freeze``)."""
    gc.collect()
    gc.freeze()
    log.info("%d objects from start-up frozen out of garbage collection", gc.get_freeze_count())


def run_worker(settings: Settings, *, loglevel: str = "WARNING") -> None:
    """Build the app and run it in this process until it is told to stop, with the collector
    tuned for serving (:func:`tune_collector`, then :func:`freeze_startup_heap` once start-up
    is done). The snapshot key is resolved here (:meth:`Settings.with_snapshot_key`), and
    the secrets are masked in the log from then on (:func:`streams.wire.redact.redact_secrets`)."""
    configure_logging(loglevel)
    tune_collector()
    settings = settings.with_snapshot_key()
    redact_secrets(settings)
    app = create_app(settings).app
    app.startup_hooks.append(freeze_startup_heap)  # the last: after model recovery
    worker = faust.Worker(
        app, loglevel=loglevel, quiet=True, override_logging=False, redirect_stdouts=False
    )
    worker.execute_from_commandline()

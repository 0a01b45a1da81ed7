"""Writing signed snapshots of a learner's models to ``models``: every N examples or T seconds
(whichever first), and on demand (the ``snapshot`` control command).

Each snapshot records the offsets of the examples it contains (per examples partition), its
version (examples learned) and its parent (the previous snapshot's version). Only a worker
that has learned a model snapshots it; without ``ADSTREAM_SNAPSHOT_KEY`` nothing is written.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from streams import snapshots
from streams.emit import Outbox, now_ms

if TYPE_CHECKING:
    from streams.app import WorkerContext

__all__ = ["SnapshotWriter", "snapshot_catalog"]

log = logging.getLogger(__name__)


class SnapshotWriter:
    """Decides when each model is due and writes its snapshot into an outbox."""

    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx
        self._key = ctx.settings.snapshot_key.encode()
        self._topic = ctx.topic_name("models")
        self._offsets: dict[str, dict[str, int]] = {}
        self._last: dict[str, tuple[int, float]] = {}  # model -> (version, monotonic time)
        self._requested: set[str] = set()
        self._started = time.monotonic()
        if not self._key:
            log.warning("no ADSTREAM_SNAPSHOT_KEY: model snapshots are disabled")

    def _models(self) -> dict[str, Any]:
        return {**self._ctx.models, self._ctx.category.name: self._ctx.category}

    def _model(self, name: str) -> Any:
        """One model by name, without building the whole map (this runs once per example)."""
        category = self._ctx.category
        return category if name == category.name else self._ctx.models[name]

    def knows(self, name: str) -> bool:
        return name in self._models()

    def applied(self, outbox: Outbox, name: str, position: str, offset: int) -> None:
        """An example at ``position`` (``topic:partition``) and ``offset`` has been learned;
        snapshot the model if that makes ``snapshot_every_examples`` since the last one (so a
        snapshot's version does not depend on how the examples were batched)."""
        offsets = self._offsets.setdefault(name, {})
        offsets[position] = max(offset, offsets.get(position, -1))
        model = self._model(name)
        version = self._last.get(name, (0, 0.0))[0]
        if self._key and model.n_learned - version >= self._ctx.settings.snapshot_every_examples:
            self._write(outbox, name, model, parent=version or None)

    def request(self, name: str) -> None:
        self._requested.add(name)

    def write_due(self, outbox: Outbox) -> None:
        """Snapshot the models requested, and those with news older than ``snapshot_every_s``."""
        if not self._key:
            return
        every_s = self._ctx.settings.snapshot_every_s
        for name, model in self._models().items():
            if not model.n_learned:
                continue  # another worker learns it
            version, at = self._last.get(name, (0, self._started))
            stale = model.n_learned > version and time.monotonic() - at >= every_s
            if name in self._requested or stale:
                self._write(outbox, name, model, parent=version or None)

    def _write(self, outbox: Outbox, name: str, model: Any, parent: int | None) -> None:
        started = time.perf_counter()
        raw = snapshots.dump(
            model,
            key=self._key,
            model=name,
            version=model.version,
            parent=parent,
            created_at=now_ms(),
            n_examples=model.n_learned,
            offsets=dict(self._offsets.get(name, {})),
            metrics=model.report(),
            worker=self._ctx.worker_id,
        )
        outbox.add(self._topic, name, raw)
        self._last[name] = (model.version, time.monotonic())
        self._requested.discard(name)
        counters = self._ctx.counters
        counters[f"snapshots.{name}"] += 1
        counters[f"snapshot_bytes.{name}"] = len(raw)
        counters[f"snapshot_us.{name}"] = int((time.perf_counter() - started) * 1e6)


async def snapshot_catalog(settings: Any) -> list[dict[str, Any]]:
    """Every snapshot on ``models``, oldest first: its metadata, and ``verified`` (signature
    checked with this process's key, without unpickling) or ``refused`` with the reason."""
    from streams.observe import read_topic

    key = settings.snapshot_key.encode()
    rows = []
    for record in await read_topic(settings, "models"):
        try:
            meta = snapshots.verify(record.value, key=key)
            rows.append({**meta, "verified": True, "bytes": len(record.value)})
        except snapshots.SnapshotRefused as refused:
            rows.append(
                {
                    "model": (record.key or b"?").decode(errors="replace"),
                    "refused": str(refused),
                    "offset": record.offset,
                }
            )
    return rows

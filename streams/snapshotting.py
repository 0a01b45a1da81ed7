"""Reading the signed snapshots on ``models``: the catalog (every snapshot, verified or refused)
and the latest snapshot of each model. Without compaction or end offsets (Tansu), both read the
topic from the beginning to its high watermark; the writer is :class:`streams.learning.Learner`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from streams import snapshots
from streams.observe import read_topic
from streams.settings import Settings

__all__ = ["latest_snapshots", "snapshot_catalog"]

log = logging.getLogger(__name__)


async def snapshot_catalog(settings: Settings) -> list[dict[str, Any]]:
    """Every snapshot on ``models``, oldest first: its metadata, and ``verified`` (signature
    checked with this process's key, without unpickling) or ``refused`` with the reason."""
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


async def latest_snapshots(
    settings: Settings, names: Collection[str]
) -> dict[str, tuple[dict[str, Any], Any]]:
    """The newest signed snapshot of each named model, loaded: ``{name: (metadata, model)}``.

    Newest means the highest version, then the latest written. A refused snapshot is logged
    and skipped, never unpickled; only the chosen one per model is unpickled.
    """
    key = settings.snapshot_key.encode()
    newest: dict[str, tuple[tuple[int, int], bytes]] = {}
    for record in await read_topic(settings, "models"):
        try:
            meta = snapshots.verify(record.value, key=key)
        except snapshots.SnapshotRefused as refused:
            log.error("refused the snapshot at models offset %s: %s", record.offset, refused)
            continue
        name, rank = meta["model"], (meta["version"], record.offset)
        if name in names and rank > newest.get(name, ((-1, -1), b""))[0]:
            newest[name] = (rank, record.value)
    return {name: snapshots.load(raw, key=key) for name, (_, raw) in newest.items()}

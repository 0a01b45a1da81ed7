"""Reading the signed snapshots on ``models``: the catalog (every snapshot, verified or refused)
and the latest snapshot of each model. Without compaction or end offsets (Tansu), both read the
topic from the beginning to its high watermark; the writer is
:class:`streams.models.learner.Learner`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any

from streams import snapshots
from streams.kafka.readers import read_topic
from streams.wire.settings import Settings

__all__ = [
    "latest_snapshots",
    "newest_by_model",
    "snapshot_catalog",
    "verify_records",
]

log = logging.getLogger(__name__)


Verified = list[tuple[Any, dict[str, Any]]]  # (record, metadata)
Refused = list[tuple[Any, str]]  # (record, reason)


def verify_records(records: Iterable[Any], key: bytes) -> tuple[Verified, Refused]:
    """Split records of ``models`` into verified snapshots and refused ones, in topic order;
    nothing is unpickled."""
    verified: Verified = []
    refused: Refused = []
    for record in records:
        try:
            verified.append((record, snapshots.verify(record.value, key=key)))
        except snapshots.SnapshotRefused as error:
            refused.append((record, str(error)))
    return verified, refused


def newest_by_model(verified: Verified) -> dict[str, tuple[dict[str, Any], bytes]]:
    """``{model: (metadata, raw)}`` of the newest snapshot of each model: the highest
    version, then the latest written."""
    newest: dict[str, tuple[dict[str, Any], bytes]] = {}
    for record, meta in verified:  # topic order: a later one wins a tie
        if meta["version"] >= newest.get(meta["model"], ({"version": -1}, b""))[0]["version"]:
            newest[meta["model"]] = (meta, record.value)
    return newest


async def snapshot_catalog(settings: Settings) -> list[dict[str, Any]]:
    """Every snapshot on ``models``, oldest first: its metadata, and ``verified`` (signature
    checked with this process's key, without unpickling) or ``refused`` with the reason."""
    verified, refused = verify_records(
        await read_topic(settings, "models"), settings.snapshot_key.encode()
    )
    rows = [
        {**meta, "verified": True, "bytes": len(record.value), "offset": record.offset}
        for record, meta in verified
    ]
    rows += [
        {
            "model": (record.key or b"?").decode(errors="replace"),
            "refused": reason,
            "offset": record.offset,
        }
        for record, reason in refused
    ]
    return sorted(rows, key=lambda row: row["offset"])


async def latest_snapshots(
    settings: Settings, names: Collection[str]
) -> dict[str, tuple[dict[str, Any], Any]]:
    """The newest signed snapshot of each named model, loaded: ``{name: (metadata, model)}``.

    A refused snapshot is logged and skipped, never unpickled; only the chosen one per model
    is unpickled.
    """
    key = settings.snapshot_key.encode()
    verified, refused = verify_records(await read_topic(settings, "models"), key)
    for record, reason in refused:
        log.error("refused the snapshot at models offset %s: %s", record.offset, reason)
    return {
        name: snapshots.load(raw, key=key)
        for name, (_, raw) in newest_by_model(verified).items()
        if name in names
    }

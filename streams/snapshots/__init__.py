"""Snapshots: the signed format on ``models`` (re-exported here) and the catalog of them."""

from streams.snapshots.signed import (
    MAX_SNAPSHOT_BYTES,
    SnapshotRefused,
    build,
    dump,
    library_versions,
    load,
    read_metadata,
    spec_of,
    verify,
)

__all__ = [
    "MAX_SNAPSHOT_BYTES",
    "SnapshotRefused",
    "build",
    "dump",
    "library_versions",
    "load",
    "read_metadata",
    "spec_of",
    "verify",
]

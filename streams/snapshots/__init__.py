"""Snapshots: the signed format on ``models`` (re-exported here) and the catalog of them."""

from streams.snapshots.signed import *  # noqa: F403 (the package is the format's API)
from streams.snapshots.signed import __all__ as __all__

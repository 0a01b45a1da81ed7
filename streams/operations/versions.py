"""Operating model versions from outside (the CLI): what each worker serves, the version a
rollback goes back to, waiting until every worker serves a version, and waiting until the
snapshot a command asked for is on ``models``."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

from learners.errors import AdstreamError
from streams import snapshots
from streams.kafka.readers import follow_until, read_topic
from streams.snapshots.catalog import snapshot_catalog
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["NoOlderVersion", "rollback_target", "served_versions", "wait_serving", "wait_snapshot"]

ALIVE_WITHIN_MS = 30_000  # a worker silent for longer than this before the newest word is gone


class NoOlderVersion(AdstreamError, LookupError):
    """There is no snapshot older than the version served: nothing to roll back to."""


async def served_versions(settings: Settings, name: str) -> dict[str, int]:
    """``{worker: version}`` of ``name``, from each live worker's newest word on ``metrics``:
    its periodic report, or a change of serving version since (a worker whose newest word is
    ``ALIVE_WITHIN_MS`` older than the newest of all is taken to be gone)."""
    newest: dict[str, tuple[int, int]] = {}  # worker -> (ts, version)
    for record in await read_topic(settings, "metrics"):
        said = contracts.decode_map(record.value)
        if said.get("kind") == "worker" and name in said.get("serving", {}):
            version = said["serving"][name]
        elif said.get("kind") == "serving" and said["model"] == name:
            version = said["version"]
        else:
            continue
        if said["ts"] >= newest.get(said["worker"], (-1, 0))[0]:
            newest[said["worker"]] = (said["ts"], version)
    latest = max((ts for ts, _ in newest.values()), default=0)
    return {
        worker: version
        for worker, (ts, version) in newest.items()
        if ts >= latest - ALIVE_WITHIN_MS
    }


async def rollback_target(settings: Settings, name: str) -> int:
    """The newest signed snapshot of ``name`` older than the oldest version any worker serves."""
    served = list((await served_versions(settings, name)).values())
    if not served:
        raise NoOlderVersion(f"no worker reports serving {name}")
    older = [
        row["version"]
        for row in await snapshot_catalog(settings)
        if row.get("verified") and row["model"] == name and row["version"] < min(served)
    ]
    if not older:
        raise NoOlderVersion(f"no snapshot of {name} older than version {min(served)}")
    return max(older)


async def wait_serving(
    settings: Settings, name: str, version: int | None, since_ms: int, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """The ``serving`` records of ``name`` published since ``since_ms`` (at ``version``, or
    unpinned when ``version`` is None), once any appear; empty after ``timeout_s``."""
    found: list[dict[str, Any]] = []

    def wanted(swap: dict[str, Any]) -> bool:
        if swap["model"] != name or swap["ts"] < since_ms:
            return False
        return (version is None and not swap["pinned"]) or swap["version"] == version

    def serving(record: ConsumerRecord) -> bool:
        if record.key == b"serving" and wanted(swap := contracts.decode_map(record.value)):
            found.append(swap)
        return bool(found)

    await follow_until(settings, ["metrics"], serving, timeout_s)
    return found


async def wait_snapshot(
    settings: Settings, name: str, seq: int, timeout_s: float = 10.0
) -> tuple[list[dict[str, Any]], tuple[dict[str, Any], bytes] | None]:
    """The effect records of ``snapshot`` command ``seq`` (one per worker that applied it,
    with its ``note``), and the snapshot of ``name`` it caused, ``(metadata, raw)``, once one
    is on ``models`` (``None`` after ``timeout_s``). A snapshot is the command's when a worker
    that applied it wrote it at or after applying it (both times on that worker's clock)."""
    metrics, models = settings.topic("metrics"), settings.topic("models")
    effects: dict[str, dict[str, Any]] = {}  # worker -> its effect record
    written: list[tuple[dict[str, Any], bytes]] = []  # snapshots of name, in topic order
    found: tuple[dict[str, Any], bytes] | None = None  # the first of them the command caused

    def caused(meta: dict[str, Any]) -> bool:
        effect = effects.get(meta.get("worker", ""))
        return bool(effect) and meta.get("created_at", -1) >= effect["applied_at"]

    def seen(record: ConsumerRecord) -> bool:
        nonlocal found
        if record.topic == metrics and record.key == b"control":
            effect = contracts.decode_map(record.value)
            if effect.get("seq") == seq:
                effects[effect["worker"]] = effect
                found = next(((meta, raw) for meta, raw in written if caused(meta)), None)
        elif record.topic == models and record.key == name.encode():
            try:
                written.append((snapshots.read_metadata(record.value), record.value))
            except snapshots.SnapshotRefused:
                pass  # not a snapshot: nothing the command wrote
            else:
                if found is None and caused(written[-1][0]):
                    found = written[-1]
        return found is not None

    await follow_until(settings, ["metrics", "models"], seen, timeout_s)
    return list(effects.values()), found

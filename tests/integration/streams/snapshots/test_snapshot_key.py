"""Safe by default: a worker given no snapshot key signs its snapshots with the key it keeps in
its state directory, and a restart after SIGKILL resumes from them, not from version 0; a
learner runs without snapshots only when told to, and `adstream models snapshot` then fails
with the reason."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from producers.world import World
from streams.cli import main
from streams.snapshots.catalog import snapshot_catalog
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.integration.conditions import model_reported, snapshot_at

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000


def _label(world: World, i: int) -> tuple[bytes, bytes]:
    query, truth = world.next_query(T0 + i)
    label = contracts.query_label(
        event_id=query["event_id"], query=query["query"], path=truth.leaf, ts=T0 + i
    )
    return query["event_id"].encode(), contracts.encode(label)


def _reported_by_other_than(
    workers: set[str], check: Callable[[dict[str, int]], bool]
) -> Callable[[list[Any]], bool]:
    """On ``metrics``: a worker report, by a worker not in ``workers``, whose counters pass."""

    def found(messages: list[Any]) -> bool:
        reports = (contracts.decode_map(m.value()) for m in messages)
        return any(
            r.get("kind") == "worker" and r["worker"] not in workers and check(r["counters"])
            for r in reports
        )

    return found


def _workers(messages: list[Any]) -> set[str]:
    reports = (contracts.decode_map(m.value()) for m in messages)
    return {r["worker"] for r in reports if r.get("kind") == "worker"}


def _use_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in settings.env().items():
        monkeypatch.setenv(name, value)


def test_without_a_key_a_worker_signs_with_its_state_key_and_resumes_after_sigkill(
    settings, start_worker, produce, reader, monkeypatch, capsys
) -> None:
    settings = settings.replace(snapshot_every_examples=20, snapshot_every_s=3600.0)
    assert settings.snapshot_key == "" and settings.snapshots == "on"
    worker = start_worker(settings)
    key_file = Path(settings.state_dir) / "snapshot.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    world = World(seed=6)
    for i in range(50):
        produce("query-labels", *_label(world, i))
    written = reader.read("models", snapshot_at("category", 40), 60)
    assert snapshot_at("category", 40)(written), "no snapshot at 40 examples"
    metrics = reader.read("metrics", lambda ms: bool(_workers(ms)), 30)
    before = _workers(metrics)
    worker.kill()

    start_worker(settings)  # same state dir: same key
    resumed = _reported_by_other_than(
        before, lambda c: c.get("restored.category") == 40 and c.get("learned.category") == 10
    )
    metrics = reader.read("metrics", resumed, 60)
    assert resumed(metrics), "the restarted worker did not resume from version 40"
    assert model_reported("category", 50)(reader.read("metrics", model_reported("category", 50)))

    keyed = settings.with_snapshot_key(create=False)  # what the CLI reads: the same file
    assert keyed.snapshot_key == key_file.read_text().strip()
    rows = asyncio.run(snapshot_catalog(keyed))
    assert [r["version"] for r in rows if r.get("verified")] == [20, 40]
    assert all(r.get("verified") for r in rows)
    other = asyncio.run(snapshot_catalog(settings.replace(snapshot_key="another key")))
    assert {r.get("refused") for r in other} == {
        "bad signature: tampered, or signed with another key"
    }

    _use_env(monkeypatch, settings)  # ADSTREAM_SNAPSHOT_KEY empty: the state dir's key
    capsys.readouterr()
    assert main(["models", "snapshot", "category"]) == 0
    assert "snapshot of category version 50 written by" in capsys.readouterr().out
    assert main(["models", "snapshot", "click", "--timeout", "3"]) == 1  # nothing learned
    err = capsys.readouterr().err
    assert "no snapshot of click written within 3 s" in err
    assert "has not learned click (yet)" in err


def test_models_snapshot_fails_with_the_reason_when_the_learner_has_snapshots_off(
    settings, start_worker, produce, reader, monkeypatch, capsys, tmp_path
) -> None:
    settings = settings.replace(snapshots="off")
    start_worker(settings)
    world = World(seed=7)
    for i in range(10):
        produce("query-labels", *_label(world, i))
    assert model_reported("category", 10)(reader.read("metrics", model_reported("category", 10)))
    log = (tmp_path / "worker-0.log").read_text()
    assert "ADSTREAM_SNAPSHOTS=off" in log and "no recovery after a crash" in log
    assert not (Path(settings.state_dir) / "snapshot.key").exists()

    _use_env(monkeypatch, settings)
    capsys.readouterr()
    started = time.monotonic()
    assert main(["models", "snapshot", "category", "--timeout", "3"]) == 1
    assert time.monotonic() - started < 30
    out, err = capsys.readouterr()
    assert "written by" not in out
    assert "no snapshot of category written within 3 s" in err
    assert "snapshots are off on this worker (ADSTREAM_SNAPSHOTS=off)" in err
    assert main(["models", "list", "category"]) == 1
    assert "no snapshot of category on models" in capsys.readouterr().err

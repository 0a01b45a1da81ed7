"""Snapshots, serving freshness and crash recovery, measured on the embedded broker.

One run, after the latency harness (never at the same time: two cores):

- a learner process (``learn``) and a serving replica (``serve,rank``) on their own topic
  prefix, both started and probed before any clock starts;
- click examples made from the simulated world (the click model's real features) are produced
  at a steady rate; the learner snapshots every ``snapshot_every_examples``; the replica swaps
  each snapshot in. **Freshness** is the replica's time from a snapshot's creation to serving
  with it (its ``serving`` records); **snapshot size and time** are the learner's (bytes on the
  topic, time to pickle, sign and queue) and, in-process, the time to verify and load one;
- the learner is then killed with SIGKILL mid-stream and restarted at once: **recovery** is
  the time from the restart to the restored model (``restore_ms``), to its first learned
  example and to having caught up with every example produced. On the embedded broker the
  learners' group session is 2 s (``streams.kafka.broker.EMBEDDED_LEARN_SESSION_MS``): the dead
  learner's partitions move about 4 s after it died, not 11 s;
- last, the learner is stopped, a backlog of examples is produced, and a learner process
  (``ADSTREAM_AGENTS=learn``) is started on it: its **drain rate** is the click model's
  examples per second, end to end (fetch, decode, ledger, predict, learn, health, snapshots,
  commits), from its own reports while it drains. Then the same with another backlog and a
  learner that runs the join beside it (``join,labels,learn``), whose Faust consumer takes
  its share of the interpreter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from benchmarks.e2e import latency_summary
from learners import features_for
from producers.world import World
from streams import snapshots
from streams.agents.join import slices_of
from streams.kafka.broker import broker_for
from streams.kafka.readers import read_topic
from streams.operations.process import WorkerProcess
from streams.operations.watch import SystemWatcher, wait_until_serving
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["RecoveryOptions", "click_examples", "run_recovery"]

log = logging.getLogger(__name__)

KEY = "bench-snapshot-key"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryOptions:
    """How many examples, how fast, and how often the learner snapshots."""

    examples_before_kill: int = 40_000
    examples_after_kill: int = 10_000
    rate_per_s: float = 5_000.0
    snapshot_every_examples: int = 5_000
    drain_backlog: int = 150_000
    timeout_s: float = 120.0

    @classmethod
    def quick(cls) -> RecoveryOptions:
        return cls(
            examples_before_kill=6_000,
            examples_after_kill=2_000,
            rate_per_s=3_000.0,
            snapshot_every_examples=1_000,
            drain_backlog=20_000,
        )


def click_examples(n: int, first: int, seed: int = 3) -> list[bytes]:
    """Encoded click examples with the features and slices the join gives the click model."""
    world, rng = World(seed=seed), random.Random(seed)
    encoded = []
    for i in range(first, first + n):
        query, truth = world.next_query(1_750_000_000_000 + i)
        ad = rng.choice(query["candidates"])
        clicked = rng.random() < world.click_probability(truth, world.ad(ad["ad_id"]), 0)
        example = contracts.example(
            example_id=f"imp-{i}",
            model="click",
            features=features_for(query, ad, 20),
            label=float(clicked),
            weight=1.0,
            sampling_rate=1.0,
            ts_event=query["ts"],
            ts_label=query["ts"],
            source={"impressions:0": i},
            slices=slices_of(query, ad),
        )
        encoded.append(contracts.encode(example))
    return encoded


async def _produce(
    settings: Settings, examples: list[bytes], rate_per_s: float | None = None
) -> None:
    """Produce at a steady rate, in 10 ms slices (``None``: as fast as the producer goes)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, linger_ms=5)
    await producer.start()
    try:
        started, topic, sent = time.monotonic(), settings.topic("examples"), 0
        while sent < len(examples):
            elapsed = time.monotonic() - started
            due = len(examples) if rate_per_s is None else int(elapsed * rate_per_s) + 1
            due = min(len(examples), due)
            for value in examples[sent:due]:
                await producer.send(topic, value, key=b"click")
            sent = due
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()


async def _wait(watcher: SystemWatcher, what: Any, timeout_s: float, label: str) -> float:
    """Seconds until ``what(watcher)`` holds."""
    started = time.monotonic()
    if not await watcher.wait_for(what, timeout_s):
        raise TimeoutError(f"recovery harness: {label} not within {timeout_s} s")
    return time.monotonic() - started


def _learner_report(watcher: SystemWatcher, pid: int) -> dict[str, Any] | None:
    return next((w for name, w in watcher.workers.items() if name.endswith(f"-{pid}")), None)


def _click_at(n: int) -> Any:
    return lambda w: (w.model("click") or {}).get("version", 0) >= n


async def _drain(
    watcher: SystemWatcher,
    settings: Settings,
    learner_settings: Settings,
    learned: int,
    options: RecoveryOptions,
    log_path: Path,
) -> dict[str, Any]:
    """A learner started on a backlog of ``options.drain_backlog`` examples (the learner before
    it stopped after ``learned``): the click model's examples per second while it drains,
    from its reports (their clocks and versions), between the first that shows progress and
    the last before the end."""
    backlog = click_examples(options.drain_backlog, learned)
    await _produce(settings, backlog)
    total = learned + len(backlog)
    points: dict[int, int] = {}  # report time (ms) -> click version

    def drained(w: SystemWatcher) -> bool:
        report = w.model("click") or {}
        if report.get("worker", "").endswith(f"-{learner.pid}"):
            points[report["ts"]] = report["version"]
        return report.get("version", 0) >= total

    with WorkerProcess(learner_settings, log_path=log_path) as learner:
        await _wait(watcher, drained, options.timeout_s, "draining the backlog")
    draining = sorted((ts, v) for ts, v in points.items() if learned < v < total)
    if len(draining) < 2:
        raise TimeoutError(f"recovery harness: too few reports while draining: {draining}")
    (first_ts, first_v), (last_ts, last_v) = draining[0], draining[-1]
    return {
        "agents": learner_settings.agents,
        "backlog": len(backlog),
        "examples_per_s": (last_v - first_v) / ((last_ts - first_ts) / 1000),
        "measured_examples": last_v - first_v,
        "reports": len(draining),
    }


async def _snapshot_figures(settings: Settings) -> dict[str, Any]:
    """Sizes of the click snapshots on the topic, and the in-process verify+load and dump
    time of the newest one (median of 5)."""
    records = [r for r in await read_topic(settings, "models") if r.key == b"click"]
    newest = records[-1].value
    load_s, dump_s = [], []
    for _ in range(5):
        started = time.perf_counter()
        meta, model = snapshots.load(newest, key=KEY.encode())
        load_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        snapshots.dump(model, key=KEY.encode(), **{k: meta[k] for k in ("model", "version")})
        dump_s.append(time.perf_counter() - started)
    return {
        "count": len(records),
        "bytes_last": len(newest),
        "bytes_max": max(len(r.value) for r in records),
        "version_last": meta["version"],
        "verify_load_ms": statistics.median(load_s) * 1000,
        "dump_ms": statistics.median(dump_s) * 1000,
    }


def run_recovery(options: RecoveryOptions, log_dir: Path) -> dict[str, Any]:
    """Start a broker, measure freshness, snapshots and recovery, stop everything."""
    run_id = uuid.uuid4().hex[:8]
    base = Settings.from_env(
        topic_prefix=f"recovery-{run_id}.",
        app_id=f"recovery-{run_id}",
        snapshot_key=KEY,
        snapshot_every_examples=options.snapshot_every_examples,
        snapshot_every_s=5.0,
        metrics_interval_s=0.25,
    )
    before = click_examples(options.examples_before_kill, 0)
    after = click_examples(options.examples_after_kill, options.examples_before_kill)
    total = len(before) + len(after)
    with broker_for(base, log_path=log_dir / "recovery-broker.log") as settings:
        learner_settings = settings.replace(agents="learn")
        replica = settings.replace(agents="serve,rank")
        with (
            WorkerProcess(replica, log_path=log_dir / "recovery-replica.log"),
            WorkerProcess(learner_settings, log_path=log_dir / "recovery-learner.log") as first,
        ):
            asyncio.run(wait_until_serving(replica, timeout_s=options.timeout_s))
            results = asyncio.run(
                _measure(settings, learner_settings, first, before, after, total, options, log_dir)
            )
    return {"options": dataclasses.asdict(options), **results}


async def _measure(
    settings: Settings,
    learner_settings: Settings,
    first: WorkerProcess,
    before: list[bytes],
    after: list[bytes],
    total: int,
    options: RecoveryOptions,
    log_dir: Path,
) -> dict[str, Any]:
    async with SystemWatcher(settings) as watcher:
        await _produce(settings, before, options.rate_per_s)
        await _wait(watcher, _click_at(len(before)), options.timeout_s, "learning")
        # Kill mid-stream: half of the last examples are produced, some learned past the
        # last snapshot.
        half = len(after) // 2
        await _produce(settings, after[:half], options.rate_per_s)
        at_kill = watcher.model("click")["version"]  # the last report, at most 0.25 s old
        write_us = _learner_report(watcher, first.pid)["counters"]["snapshot_us.click"]
        first.kill()
        second = WorkerProcess(learner_settings, log_path=log_dir / "recovery-learner-2.log")
        restarted = time.monotonic()
        second.start()
        try:
            produced = asyncio.create_task(_produce(settings, after[half:], options.rate_per_s))
            pid = second.pid

            def learned(w: SystemWatcher) -> int:
                report = _learner_report(w, pid) or {"counters": {}}
                return report["counters"].get("learned.click", 0)

            await _wait(
                watcher,
                lambda w: _learner_report(w, pid) is not None,
                options.timeout_s,
                "the restarted learner's first report",
            )
            to_report = time.monotonic() - restarted
            counters = _learner_report(watcher, pid)["counters"]
            await _wait(
                watcher,
                lambda w: learned(w) > 0,
                options.timeout_s,
                "the restarted learner's first example",
            )
            to_learning = time.monotonic() - restarted
            await produced
            await _wait(watcher, _click_at(total), options.timeout_s, "catching up")
            to_caught_up = time.monotonic() - restarted
        finally:
            second.stop()
        drain = await _drain(
            watcher, settings, learner_settings, total, options, log_dir / "recovery-learner-3.log"
        )
        total += options.drain_backlog
        beside = learner_settings.replace(agents="join,labels,learn")
        beside_join = await _drain(
            watcher, settings, beside, total, options, log_dir / "recovery-learner-4.log"
        )
    swaps = [
        contracts.decode_map(r.value)
        for r in await read_topic(settings, "metrics")
        if r.key == b"serving"
    ]
    freshness = [s["freshness_ms"] for s in swaps if s["freshness_ms"] is not None]
    return {
        "drain": drain,
        "drain_beside_join": beside_join,
        "snapshots": {**await _snapshot_figures(settings), "write_ms": write_us / 1000},
        "freshness": {**latency_summary(freshness), "n": len(freshness)},
        "recovery": {
            "version_at_kill": at_kill,
            "restored_version": counters.get("restored.click"),
            "relearned_examples": at_kill - counters.get("restored.click", 0),
            "restore_ms": counters.get("restore_ms"),
            "restart_to_first_report_s": to_report,
            "restart_to_learning_s": to_learning,
            "restart_to_caught_up_s": to_caught_up,
            "examples_total": total,
        },
    }

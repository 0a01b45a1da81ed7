"""End-to-end latency harness: query produced -> prediction consumed, one worker (DESIGN §7).

One run measures two systems on the same embedded broker, one after the other (never both at
once: this machine has two cores), with the same seeded queries at the same fixed rate:

- ``adstream``: one Faust worker (:class:`streams.process.WorkerProcess`) on its own topic prefix;
- ``floor``: a plain aiokafka consume -> work -> produce loop in a child process, on its own
  prefix, doing exactly the serving work (``decode_query`` -> ``serve.predict`` -> ``encode`` ->
  ``send``) with batched ``getmany``, sends not awaited one by one, and one wait per batch.

Each system is started and probed until it answers (:func:`streams.observe.wait_until_serving`)
before the clock starts: broker and worker start-up are never timed. The i-th query is due at
``start + i / rate``; its latency runs from that intended send time to the moment its prediction
is consumed, so a producer that falls behind cannot hide latency. Predictions whose key is not one
of ours (the readiness probe) are ignored. After the last send the harness drains for a bounded
time and counts the queries left unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.synchronize
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from producers.world import World
from streams import contracts
from streams.agents.serve import predict
from streams.broker import broker_for, create_topics
from streams.category import CategoryModel
from streams.emit import now_ms
from streams.models import default_models
from streams.observe import assigned_from_start, consumer_options, wait_until_serving
from streams.process import WorkerProcess
from streams.settings import Settings
from streams.topics import topic_specs

__all__ = [
    "E2EOptions",
    "FloorProcess",
    "Query",
    "latency_summary",
    "make_workload",
    "measure",
    "percentile",
    "run_e2e",
]

log = logging.getLogger(__name__)

WORKLOAD_SEED = 1


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class E2EOptions:
    """Rate and duration of the fixed-rate run, and the bounded waits around it."""

    rate_per_s: float = 1_000.0
    duration_s: float = 20.0
    drain_s: float = 10.0
    ready_timeout_s: float = 90.0
    seed: int = WORKLOAD_SEED

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and self.duration_s > 0 and self.drain_s >= 0):
            raise ValueError("rate_per_s and duration_s must be > 0, drain_s >= 0")

    @property
    def n_queries(self) -> int:
        return max(1, round(self.rate_per_s * self.duration_s))

    @classmethod
    def quick(cls) -> E2EOptions:
        return cls(rate_per_s=300.0, duration_s=5.0, drain_s=5.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Query:
    """One encoded query ready to send: its event id (the prediction's key), key and value."""

    event_id: bytes
    key: bytes
    value: bytes


def make_workload(seed: int, n: int) -> list[Query]:
    """``n`` encoded queries from ``World(seed)``, built before any clock starts."""
    world = World(seed=seed)
    ts = now_ms()
    queries = []
    for _ in range(n):
        event, _truth = world.next_query(ts)
        queries.append(
            Query(event["event_id"].encode(), event["user_id"].encode(), contracts.encode(event))
        )
    return queries


# --------------------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of an ascending sequence; NaN when empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(round(q / 100.0 * len(ordered), 9)))  # 99.9% of 1000 is 999
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50, p99, p99.9, mean and max of latencies in milliseconds."""
    ordered = sorted(latencies_ms)
    mean = sum(ordered) / len(ordered) if ordered else math.nan
    return {
        "p50_ms": percentile(ordered, 50),
        "p99_ms": percentile(ordered, 99),
        "p999_ms": percentile(ordered, 99.9),
        "mean_ms": mean,
        "max_ms": ordered[-1] if ordered else math.nan,
    }


# --------------------------------------------------------------------------- measurement


async def measure(
    settings: Settings, workload: Sequence[Query], options: E2EOptions
) -> dict[str, Any]:
    """Send ``workload`` to ``queries`` at ``options.rate_per_s``; time each prediction.

    The system behind ``settings`` must already be serving.
    """
    index = {query.event_id: i for i, query in enumerate(workload)}
    received: dict[int, float] = {}
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, **settings.client_security())
    await consumer.start()
    await producer.start()
    try:
        await assigned_from_start(consumer, [settings.topic("predictions")])
        n = len(workload)
        drain_deadline: list[float] = []

        async def consume() -> None:
            while len(received) < n:
                if drain_deadline and time.monotonic() > drain_deadline[0]:
                    return
                batches = await consumer.getmany(timeout_ms=100)
                arrived = time.monotonic()
                for records in batches.values():
                    for record in records:
                        i = index.get(record.key)
                        if i is not None and i not in received:
                            received[i] = arrived

        consuming = asyncio.create_task(consume())
        topic, interval = settings.topic("queries"), 1.0 / options.rate_per_s
        started = time.monotonic()
        max_lag_s = 0.0
        sent = 0
        while sent < n:
            now = time.monotonic()
            due = started + sent * interval
            if due > now:
                await asyncio.sleep(due - now)
                continue
            max_lag_s = max(max_lag_s, now - due)
            while sent < n and started + sent * interval <= now:
                query = workload[sent]
                await producer.send(topic, query.value, key=query.key)  # enqueued, not awaited
                sent += 1
        await producer.flush()
        sent_at = time.monotonic()
        drain_deadline.append(sent_at + options.drain_s)
        await consuming
    finally:
        await producer.stop()
        await consumer.stop()
    latencies = [(t - (started + i * interval)) * 1000.0 for i, t in received.items()]
    last = max(received.values(), default=started)
    return {
        "offered_rate_per_s": options.rate_per_s,
        "sent": n,
        "answered": len(received),
        "unanswered": n - len(received),
        "send_duration_s": sent_at - started,
        "achieved_send_rate_per_s": n / (sent_at - started),
        "achieved_throughput_per_s": len(received) / (last - started) if last > started else 0.0,
        "max_producer_lag_ms": max_lag_s * 1000.0,
        **latency_summary(latencies),
    }


# --------------------------------------------------------------------------- the floor


async def _floor_loop(settings: Settings, stop: multiprocessing.synchronize.Event) -> None:
    """consume -> decode -> predict -> encode -> send, one wait for delivery per batch."""
    ctx = SimpleNamespace(
        settings=settings, models=default_models(), category=CategoryModel(n_bits=settings.n_bits)
    )
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka, linger_ms=1, **settings.client_security()
    )
    await consumer.start()
    await producer.start()
    try:
        await assigned_from_start(consumer, [settings.topic("queries")])
        out = settings.topic("predictions")
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=settings.batch_max)
            scored_at = now_ms()
            deliveries = []
            for records in batches.values():
                for record in records:
                    try:
                        query = contracts.decode_query(record.value)
                    except contracts.InvalidEvent:
                        continue
                    value = contracts.encode(predict(ctx, query, scored_at))
                    key = query["event_id"].encode()
                    deliveries.append(await producer.send(out, value, key=key))
            if deliveries:
                await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
        await consumer.stop()


def _floor_main(environ: dict[str, str], stop: multiprocessing.synchronize.Event) -> None:
    asyncio.run(_floor_loop(Settings.from_env(environ), stop))


class FloorProcess:
    """The plain aiokafka serving loop in a spawned child process; a context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._process = context.Process(
            target=_floor_main, args=(settings.env(), self._stop), name="adstream-bench-floor"
        )

    def __enter__(self) -> FloorProcess:
        self._process.start()
        log.info("floor loop started, pid %s", self._process.pid)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(10.0)
        if self._process.is_alive():
            log.warning("floor loop %s did not stop; killing it", self._process.pid)
            self._process.kill()
            self._process.join()


# --------------------------------------------------------------------------- the run


def _ready(settings: Settings, timeout_s: float) -> float:
    return asyncio.run(wait_until_serving(settings, timeout_s=timeout_s))


def run_e2e(options: E2EOptions, log_dir: Path) -> dict[str, Any]:
    """Start the broker, measure adstream then the floor on it, stop everything; the results."""
    run_id = uuid.uuid4().hex[:8]
    log_dir.mkdir(parents=True, exist_ok=True)
    base = Settings.from_env(topic_prefix=f"bench-{run_id}.", app_id=f"bench-{run_id}")
    workload = make_workload(options.seed, options.n_queries)
    results: dict[str, Any] = {"options": dataclasses.asdict(options), "logs": str(log_dir)}
    with broker_for(base, log_path=log_dir / "broker.log") as settings:
        with WorkerProcess(settings, log_path=log_dir / "worker.log") as worker:
            ready_s = _ready(settings, options.ready_timeout_s)
            log.info("adstream worker serving after %.1f s; measuring", ready_s)
            adstream = asyncio.run(measure(settings, workload, options))
            adstream["ready_s"] = ready_s
            adstream["worker_alive_at_end"] = worker.alive()
        results["adstream"] = adstream

        floor_settings = settings.replace(
            topic_prefix=f"bench-{run_id}-floor.", app_id=f"bench-{run_id}-floor"
        )
        specs = list(topic_specs(floor_settings).values())
        create_topics(floor_settings.kafka, specs, floor_settings)
        with FloorProcess(floor_settings):
            ready_s = _ready(floor_settings, options.ready_timeout_s)
            log.info("floor loop serving after %.1f s; measuring", ready_s)
            floor = asyncio.run(measure(floor_settings, workload, options))
            floor["ready_s"] = ready_s
        results["floor"] = floor
    results["ratios"] = {
        f"{name}_adstream_over_floor": _ratio(adstream[f"{name}_ms"], floor[f"{name}_ms"])
        for name in ("p50", "p99", "p999")
    }
    return results


def _ratio(numerator: float, denominator: float) -> float:
    with contextlib.suppress(ZeroDivisionError):
        return numerator / denominator
    return math.nan

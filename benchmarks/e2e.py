"""End-to-end latency harness: query produced -> prediction consumed, one worker (DESIGN §7).

One run measures two systems on the same embedded broker, one after the other (never both at
once: this machine has two cores), with the same seeded queries, in three phases each: at
1,000 and at 5,000 queries/s, and at saturation (a backlog sent at once, drained as fast as the
system can):

- ``adstream``: one Faust serving worker (:class:`streams.operations.process.WorkerProcess`, the
  ``serve`` agent: the work the floor does; ``E2EOptions.agents``);
- ``floor``: a plain aiokafka consume -> work -> produce loop in a child process doing exactly
  the serving work (``decode_query`` -> ``serve.predict_many`` -> ``encode`` -> ``send``) with
  batched ``getmany``, sends not awaited one by one, and one wait per batch.

Both serve the same trained models (:mod:`benchmarks.trained`): the worker loads them as
signed snapshots from ``models`` and the clock starts once it serves them; the floor trains them
in its own process. Every phase of every system gets fresh topics and a fresh process, so no
phase inherits another's backlog, and a fetch wait fitted to its size
(:func:`streams.kafka.broker.fit_fetch_wait`).
Each system is probed until it answers (:func:`streams.operations.watch.wait_until_serving`)
before the clock starts: broker and worker start-up are never timed. The i-th query is due at
``start + i / rate`` (at saturation, all at ``start``); its latency runs from that intended send
time to the moment its prediction is consumed, so a producer that falls behind cannot hide
latency. Predictions whose key is not one of ours (the readiness probe) are ignored. After the
last send the harness drains while answers keep coming (a system slower than the offered rate
works off its backlog) and counts the queries left unanswered.

These phases measure serving without a deadline (``serve_deadline_ms=0``): the floor has none,
and saturation is the rate at which a backlog drains. Then **overload**, adstream alone: at
1.5x and 3x the saturation rate adstream reached in the same run, for ``overload_s`` each,
with the serving deadline on (``deadline_ms``, the setting's default). Each query's record is
stamped with its intended send time, so the worker's deadline and the harness's latency run
from the same moment; latency percentiles are over the answered queries, and the worker's
``shed`` counter (from its reports on ``metrics``, before and after the phase) is reported
beside the queries left unanswered, which it should account for. The overload phases produce
with librdkafka (:class:`_FastSender`): aiokafka in Python could not send 15,000-30,000
queries a second on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import math
import multiprocessing
import multiprocessing.synchronize
import os
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import confluent_kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.trained import TrainedModels, snapshot_records, train
from learners.errors import AdstreamError
from producers.world import World
from streams.agents.serve import predict_many
from streams.kafka.broker import broker_for, create_topics, fit_fetch_wait
from streams.kafka.outbox import now_ms
from streams.kafka.rdkafka import client_config
from streams.kafka.readers import assigned_from_start, consumer_options
from streams.models.category import CATEGORY
from streams.models.registry import CLICK, QUALITY
from streams.operations.process import WorkerProcess
from streams.operations.versions import wait_serving
from streams.operations.watch import SystemWatcher, wait_until_serving
from streams.wire import contracts
from streams.wire.settings import Settings
from streams.wire.topics import MAX_MESSAGE_BYTES, topic_specs

__all__ = [
    "E2EOptions",
    "FloorProcess",
    "Phase",
    "Query",
    "latency_summary",
    "make_workload",
    "measure",
    "percentile",
    "run_e2e",
    "run_phase",
]

log = logging.getLogger(__name__)

WORKLOAD_SEED = 1
TRAIN_SEED = 7  # the world the served models are trained on
DEADLINE_MS = Settings().serve_deadline_ms  # the overload phases' serving deadline


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class E2EOptions:
    """The phases of a run (fixed rates, then a backlog, then overload) and the bounded waits
    around them."""

    rates_per_s: tuple[float, ...] = (1_000.0, 5_000.0)
    duration_s: float = 20.0
    backlog: int = 60_000  # saturation: queries sent at once
    drain_s: float = 10.0  # give up this long after the last new answer
    ready_timeout_s: float = 90.0
    seed: int = WORKLOAD_SEED
    agents: str = "serve"  # adstream's worker: the agents it runs
    #: overload: multiples of the saturation rate measured in the run, each for overload_s,
    #: adstream alone, with a serving deadline of deadline_ms (after a saturation phase only)
    overload_factors: tuple[float, ...] = (1.5, 3.0)
    overload_s: float = 4.0
    deadline_ms: int = DEADLINE_MS

    def __post_init__(self) -> None:
        if not (all(r > 0 for r in self.rates_per_s) and self.duration_s > 0):
            raise ValueError("rates_per_s and duration_s must be > 0")
        if self.backlog < 0 or self.drain_s < 0:
            raise ValueError("backlog and drain_s must be >= 0")
        if not (all(f > 0 for f in self.overload_factors) and self.overload_s > 0):
            raise ValueError("overload_factors and overload_s must be > 0")
        if self.overload_factors and self.deadline_ms <= 0:
            raise ValueError("the overload phases need a serving deadline: deadline_ms > 0")

    def phases(self) -> list[Phase]:
        """Each fixed rate for ``duration_s``, then the backlog (if any)."""
        fixed = [
            Phase(f"{rate:g}/s", rate, max(1, round(rate * self.duration_s)))
            for rate in self.rates_per_s
        ]
        return fixed + ([Phase("saturation", None, self.backlog)] if self.backlog else [])

    def overload_phases(self, saturation_per_s: float) -> list[Phase]:
        """Each overload factor of the saturation rate, for ``overload_s``.

        >>> [(p.name, p.rate_per_s, p.n_queries) for p in E2EOptions().overload_phases(10_000)]
        [('1.5x', 15000.0, 60000), ('3x', 30000.0, 120000)]
        """
        return [
            Phase(
                f"{f:g}x",
                f * saturation_per_s,
                max(1, round(f * saturation_per_s * self.overload_s)),
            )
            for f in self.overload_factors
        ]

    @classmethod
    def quick(cls) -> E2EOptions:
        return cls(rates_per_s=(300.0,), duration_s=5.0, backlog=2_000, drain_s=5.0, overload_s=2.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Phase:
    """One measurement: a fixed rate (``None``: everything due at once) and how many queries."""

    name: str
    rate_per_s: float | None
    n_queries: int


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


class _FastSender:
    """Queries handed to librdkafka (confluent-kafka), for rates beyond aiokafka in Python.

    At 1.5x and 3x saturation (15,000-30,000 queries a second) the aiokafka producer, about
    60 µs of Python a record on this machine, fell up to 630 ms behind and took the core the
    worker needed; librdkafka's ``produce`` costs a couple of µs here and batches in C."""

    def __init__(self, settings: Settings) -> None:
        self._errors: list[str] = []
        self._producer = confluent_kafka.Producer(
            client_config(settings)
            | {
                "linger.ms": 5,
                "enable.idempotence": False,
                "partitioner": "murmur2_random",  # Java's, as aiokafka's
                "queue.buffering.max.messages": 1_000_000,
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
            }
        )

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self._errors.append(str(error))

    def send(self, topic: str, query: Query, timestamp_ms: int) -> None:
        self._producer.produce(topic, query.value, query.key, timestamp=timestamp_ms)
        self._producer.poll(0)  # serves delivery reports; never waits

    async def flush(self) -> None:
        left = await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, 60.0)
        if left or self._errors:
            raise AdstreamError(f"queries not delivered: {left} left, errors {self._errors[:3]}")


async def measure(
    settings: Settings,
    workload: Sequence[Query],
    rate_per_s: float | None,
    drain_s: float,
    *,
    librdkafka: bool = False,
) -> dict[str, Any]:
    """Send ``workload`` to ``queries`` at ``rate_per_s`` (``None``: all at once, a backlog);
    time each prediction. The system behind ``settings`` must already be serving.

    After the last send it drains as long as answers keep coming, and gives up ``drain_s``
    after the last one: a system slower than the offered rate works off its backlog, and its
    latency shows it. Queries are produced with aiokafka, or with ``librdkafka``
    (:class:`_FastSender`) for the overload phases.
    """
    index = {query.event_id: i for i, query in enumerate(workload)}
    received: dict[int, float] = {}
    consumer = AIOKafkaConsumer(**consumer_options(settings))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, **settings.client_security())
    fast = _FastSender(settings) if librdkafka else None
    await consumer.start()
    await producer.start()
    try:
        await assigned_from_start(consumer, [settings.topic("predictions")])
        n = len(workload)
        all_sent = asyncio.Event()

        async def consume() -> None:
            progress = time.monotonic()  # the last new answer
            while len(received) < n:
                batches = await consumer.getmany(timeout_ms=100)
                arrived = time.monotonic()
                before = len(received)
                for records in batches.values():
                    for record in records:
                        i = index.get(record.key)
                        if i is not None and i not in received:
                            received[i] = arrived
                if len(received) > before:
                    progress = arrived
                elif all_sent.is_set() and arrived - max(progress, sent_at) > drain_s:
                    return

        consuming = asyncio.create_task(consume())
        topic = settings.topic("queries")
        interval = 0.0 if rate_per_s is None else 1.0 / rate_per_s
        started = time.monotonic()
        started_ms = time.time() * 1000.0  # the records' timestamps: their intended send times
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
                stamp = round(started_ms + sent * interval * 1000.0)
                if fast is not None:
                    fast.send(topic, query, stamp)
                else:
                    await producer.send(  # enqueued, not awaited
                        topic, query.value, key=query.key, timestamp_ms=stamp
                    )
                sent += 1
            if fast is not None:
                await asyncio.sleep(0)  # the reader's turn: produce() never yields
        await (producer.flush() if fast is None else fast.flush())
        sent_at = time.monotonic()
        all_sent.set()
        await consuming
    finally:
        await producer.stop()
        await consumer.stop()
    latencies = [(t - (started + i * interval)) * 1000.0 for i, t in received.items()]
    last = max(received.values(), default=started)
    return {
        "offered_rate_per_s": rate_per_s,
        "sent": n,
        "answered": len(received),
        "unanswered": n - len(received),
        "send_duration_s": sent_at - started,
        "achieved_send_rate_per_s": n / (sent_at - started),
        "achieved_throughput_per_s": len(received) / (last - started) if last > started else 0.0,
        "max_producer_lag_ms": None if rate_per_s is None else max_lag_s * 1000.0,
        **latency_summary(latencies),
    }


# --------------------------------------------------------------------------- the floor


async def _floor_loop(settings: Settings, stop: multiprocessing.synchronize.Event) -> None:
    """consume -> decode -> predict_many -> encode -> send, one wait for delivery per batch."""
    trained = trained_models(settings.n_bits)
    ctx = trained.serving()
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
            queries = []
            for records in batches.values():
                for record in records:
                    with contextlib.suppress(contracts.InvalidEvent):
                        queries.append(contracts.decode_query(record.value))
            deliveries = [
                await producer.send(
                    out, contracts.encode(prediction), key=prediction["event_id"].encode()
                )
                for prediction in predict_many(ctx, queries, now_ms())
            ]
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

    @property
    def pid(self) -> int | None:
        return self._process.pid

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


def _system(name: str, settings: Settings, log_path: Path) -> WorkerProcess | FloorProcess:
    if name == "adstream":
        return WorkerProcess(settings, log_path=log_path)
    return FloorProcess(settings)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far, all its threads (Linux ``/proc``); NaN
    when it cannot be read.

    >>> import os
    >>> cpu_seconds(os.getpid()) > 0, math.isnan(cpu_seconds(None))
    (True, True)
    """
    if pid is None:
        return math.nan
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@functools.cache
def trained_models(n_bits: int) -> TrainedModels:
    """The models both systems serve: trained on ``World(TRAIN_SEED)``, the same every time,
    once per process (the harness publishes them for every phase of the worker)."""
    return train(World(seed=TRAIN_SEED), random.Random(TRAIN_SEED), n_bits)


async def _publish_trained(settings: Settings) -> int:
    """The trained models as signed snapshots on ``models``, for the worker to serve; returns
    when they are on the broker, with the time they were sent."""
    sent_ms = now_ms()
    records = snapshot_records(trained_models(settings.n_bits), settings.snapshot_key.encode())
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka,
        max_request_size=MAX_MESSAGE_BYTES,
        **settings.client_security(),
    )
    await producer.start()
    try:
        for name, raw in records:
            await producer.send_and_wait(settings.topic("models"), raw, key=name.encode())
    finally:
        await producer.stop()
    return sent_ms


def _serving_trained(settings: Settings, since_ms: int, timeout_s: float) -> None:
    for name in (CLICK, QUALITY, CATEGORY):
        if not asyncio.run(wait_serving(settings, name, None, since_ms, timeout_s)):
            raise AdstreamError(f"the worker did not serve the trained {name} model")


@contextlib.contextmanager
def _collector_quiet() -> Iterator[None]:
    """This process's heap frozen out of garbage collection while a phase is timed: a full
    collection of what the hot-path benchmarks and the trained models left (about 50 ms
    here) would hold up the reading of predictions, and count as either system's latency."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _worker_counters(
    settings: Settings, since_ms: int, enough: Any = None, timeout_s: float = 30.0
) -> tuple[dict[str, int], bool]:
    """The serving worker's counters from its reports on ``metrics``: its latest report made
    at ``since_ms`` or later, once its counters are ``enough`` (or when ``timeout_s`` runs
    out: then whether they were)."""

    def reported(watcher: SystemWatcher) -> bool:
        return any(
            r["ts"] >= since_ms and (enough is None or enough(r["counters"]))
            for r in watcher.workers.values()
        )

    async with SystemWatcher(settings) as watcher:
        done = await watcher.wait_for(reported, timeout_s)
        latest = max(watcher.workers.values(), key=lambda r: r["ts"], default=None)
        return ({} if latest is None else latest["counters"]), done


def _shed(settings: Settings, before: dict[str, int], n: int, timeout_s: float) -> dict[str, Any]:
    """What the worker says of a phase's ``n`` queries: how many it read, shed and served."""
    read_before = before.get("read.queries", 0)
    after, complete = asyncio.run(
        _worker_counters(
            settings,
            now_ms(),
            lambda c: c.get("read.queries", 0) - read_before >= n,
            timeout_s,
        )
    )
    if not complete:
        log.warning("the worker did not report reading all %d queries of the phase", n)
    return {
        name: after.get(counter, 0) - before.get(counter, 0)
        for name, counter in (
            ("worker_read", "read.queries"),
            ("shed", "shed"),
            ("worker_predictions", "predictions"),
        )
    }


def run_phase(
    system: str,
    settings: Settings,
    phase: Phase,
    options: E2EOptions,
    log_dir: Path,
    *,
    librdkafka: bool = False,
) -> dict[str, Any]:
    """One phase of one system, on topics of its own: start it serving the trained models,
    measure, stop it. Under a serving deadline, the worker's counts of shed queries too (the
    readiness probes it shed while it joined its group are left out: counted from a report
    made once it served)."""
    create_topics(settings.kafka, list(topic_specs(settings).values()), settings)
    workload = make_workload(options.seed, phase.n_queries)
    log_path = log_dir / f"{system}-{phase.name.replace('/', '-per-')}.log"
    if system == "adstream":
        published_ms = asyncio.run(_publish_trained(settings))
    with _system(system, settings, log_path) as process:
        ready_s = _ready(settings, options.ready_timeout_s)
        if system == "adstream":
            _serving_trained(settings, published_ms, options.ready_timeout_s)
        shedding = system == "adstream" and settings.serve_deadline_ms > 0
        if shedding:
            before, _ = asyncio.run(_worker_counters(settings, now_ms()))
        log.info("%s serving after %.1f s; measuring %s", system, ready_s, phase.name)
        cpu_before = cpu_seconds(process.pid)
        with _collector_quiet():
            result = asyncio.run(
                measure(
                    settings, workload, phase.rate_per_s, options.drain_s, librdkafka=librdkafka
                )
            )
        cpu_s = cpu_seconds(process.pid) - cpu_before
        if shedding:
            result |= _shed(settings, before, phase.n_queries, options.ready_timeout_s)
    result["cpu_us_per_query"] = (
        cpu_s / result["answered"] * 1e6 if result["answered"] else math.nan
    )
    result["ready_s"] = ready_s
    result["fetch_max_wait_ms"] = settings.fetch_max_wait_ms
    return result


SYSTEMS = ("adstream", "floor")


def run_e2e(options: E2EOptions, log_dir: Path) -> dict[str, Any]:
    """Start the broker, measure both systems phase by phase on it, stop it; the results.

    ``results["phases"][phase name]`` holds each system's figures and the adstream/floor ratios
    of its latency percentiles and of its throughput.
    """
    run_id = uuid.uuid4().hex[:8]
    log_dir.mkdir(parents=True, exist_ok=True)
    no_deadline = {"serve_deadline_ms": 0}  # the phases compared with the floor
    base = Settings.from_env(
        topic_prefix=f"bench-{run_id}.", app_id=f"bench-{run_id}", snapshot_key=uuid.uuid4().hex
    )
    results: dict[str, Any] = {
        "options": dataclasses.asdict(options),
        "logs": str(log_dir),
        "phases": {},
    }
    with broker_for(base, log_path=log_dir / "broker.log") as broker_settings:
        for k, phase in enumerate(options.phases()):
            figures = {}
            for system in SYSTEMS:  # interleaved: both see the broker in the same state
                prefix = f"bench-{run_id}-{k}-{system}"
                settings = fit_fetch_wait(
                    broker_settings.replace(
                        topic_prefix=f"{prefix}.",
                        app_id=prefix,
                        agents=options.agents if system == "adstream" else "",
                        **no_deadline,
                    ),
                    phase.n_queries,
                )
                figures[system] = run_phase(system, settings, phase, options, log_dir)
            adstream, floor = figures["adstream"], figures["floor"]
            figures["ratios"] = {
                **{
                    f"{name}_adstream_over_floor": _ratio(
                        adstream[f"{name}_ms"], floor[f"{name}_ms"]
                    )
                    for name in ("p50", "p99", "p999")
                },
                "throughput_adstream_over_floor": _ratio(
                    adstream["achieved_throughput_per_s"], floor["achieved_throughput_per_s"]
                ),
                "cpu_adstream_over_floor": _ratio(
                    adstream["cpu_us_per_query"], floor["cpu_us_per_query"]
                ),
            }
            figures["rate_per_s"] = phase.rate_per_s
            figures["n_queries"] = phase.n_queries
            results["phases"][phase.name] = figures
        saturation = results["phases"].get("saturation")
        if saturation and options.overload_factors:
            results["overload"] = _overload(
                broker_settings,
                options,
                saturation["adstream"]["achieved_throughput_per_s"],
                f"bench-{run_id}-overload",
                log_dir,
            )
    return results


def _overload(
    base: Settings, options: E2EOptions, saturation_per_s: float, prefix: str, log_dir: Path
) -> dict[str, Any]:
    """adstream at each overload factor of ``saturation_per_s``, under the serving deadline:
    per phase, what :func:`measure` sees from outside and what the worker shed."""
    phases = {}
    for k, phase in enumerate(options.overload_phases(saturation_per_s)):
        settings = fit_fetch_wait(
            base.replace(
                topic_prefix=f"{prefix}-{k}.",
                app_id=f"{prefix}-{k}",
                agents=options.agents,
                serve_deadline_ms=options.deadline_ms,
            ),
            phase.n_queries,
        )
        figures = run_phase("adstream", settings, phase, options, log_dir, librdkafka=True)
        sent = figures["sent"]
        figures |= {
            "factor": options.overload_factors[k],
            "rate_per_s": phase.rate_per_s,
            "n_queries": phase.n_queries,
            "shed_fraction": figures["shed"] / sent,
            "unanswered_fraction": figures["unanswered"] / sent,
            "unanswered_not_shed": figures["unanswered"] - figures["shed"],
        }
        phases[phase.name] = figures
    return {
        "saturation_per_s": saturation_per_s,
        "deadline_ms": options.deadline_ms,
        "duration_s": options.overload_s,
        "phases": phases,
    }


def _ratio(numerator: float, denominator: float) -> float:
    with contextlib.suppress(ZeroDivisionError):
        return numerator / denominator
    return math.nan

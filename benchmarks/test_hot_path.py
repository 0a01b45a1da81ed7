"""Micro-benchmarks of the serving and learning hot path, in-process (DESIGN §7).

The workload is seeded and realistic: ``WORKLOAD_QUERIES`` queries from ``World(seed=1)``
(5-20 candidates each) scored by a click model pre-trained on a few thousand simulated
impressions, so its weights are non-zero. Every benchmark processes the *whole* workload per
call and records in ``extra_info`` how many events that is (``events``) and of which kind
(``unit``: query, candidate or example); ``benchmarks.run`` divides the median by it to get
per-event figures. Each benchmark names a ``key`` used in ``summary.json``.

Run on its own with::

    pytest benchmarks/test_hot_path.py -p no:cacheprovider -o addopts=""
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message
from river import linear_model, optim

from benchmarks.recovery import click_examples
from benchmarks.trained import TRAIN_QUERIES, TS0_MS, labelled, train
from learners import candidate_features, query_context
from producers.world import World
from streams.agents.learn import LearnLoop
from streams.agents.serve import predict, predict_many, timely
from streams.models.registry import CLICK, ENGAGEMENT, QUALITY, LiveModel
from streams.wire import contracts
from streams.wire.settings import Settings
from streams.worker.compose import create_app

WORKLOAD_SEED = 1
WORKLOAD_QUERIES = 200
LEARN_ROUND = 10_000  # examples the learn loop learns per round


class Workload:
    """Seeded queries, their hashed features and labels, and pre-trained models."""

    def __init__(self) -> None:
        self.settings = Settings()
        n_bits = self.settings.n_bits
        world = World(seed=WORKLOAD_SEED)
        rng = random.Random(WORKLOAD_SEED)
        self.river = linear_model.LogisticRegression(optimizer=optim.SGD(0.05))
        trained = train(world, rng, n_bits, queries=TRAIN_QUERIES, click_references=[self.river])
        self.models, self.category = trained.models, trained.category  # what a worker serves
        self.click = self.models[CLICK].estimator
        self.quality = self.models[QUALITY].estimator
        pairs = [
            world.next_query(TS0_MS + (TRAIN_QUERIES + i) * 50) for i in range(WORKLOAD_QUERIES)
        ]
        self.queries = [event for event, _ in pairs]
        self.raw = [contracts.encode(event) for event in self.queries]
        self.xs = [
            [candidate_features(query_context(q, n_bits), ad) for ad in q["candidates"]]
            for q in self.queries
        ]
        self.examples = [
            example
            for (event, truth) in pairs
            for example in labelled(world, rng, event, truth, n_bits)
        ]
        self.n_candidates = sum(len(q["candidates"]) for q in self.queries)
        self.ctx = trained.serving()
        self.predictions = [predict(self.ctx, q, TS0_MS) for q in self.queries]


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload()


def _run(
    benchmark: Any,
    fn: Callable[[], Any],
    *,
    key: str,
    events: int,
    unit: str,
    iterations: int = 1,
) -> None:
    """Time ``fn`` (``events`` events of ``unit`` a call). A call of a few microseconds is
    timed ``iterations`` times a round over 200 rounds: left to itself pytest-benchmark runs
    tens of thousands of rounds and keeps every one in the results file."""
    benchmark.extra_info.update(key=key, events=events, unit=unit)
    if iterations == 1:
        benchmark(fn)
    else:
        benchmark.pedantic(fn, rounds=200, iterations=iterations, warmup_rounds=1)


# --------------------------------------------------------------------------- codec


@pytest.mark.benchmark(group="codec")
def test_decode_query(benchmark: Any, workload: Workload) -> None:
    raw, decode = workload.raw, contracts.decode_query

    def run() -> None:
        for data in raw:
            decode(data)

    _run(benchmark, run, key="decode_per_query", events=len(raw), unit="query")


@pytest.mark.benchmark(group="codec")
def test_encode_prediction(benchmark: Any, workload: Workload) -> None:
    predictions, encode = workload.predictions, contracts.encode

    def run() -> None:
        for prediction in predictions:
            encode(prediction)

    _run(benchmark, run, key="encode_per_query", events=len(predictions), unit="query")


# --------------------------------------------------------------------------- features


@pytest.mark.benchmark(group="features")
def test_features_per_query(benchmark: Any, workload: Workload) -> None:
    queries, n_bits = workload.queries, workload.settings.n_bits

    def run() -> None:
        for q in queries:
            qctx = query_context(q, n_bits)
            [candidate_features(qctx, ad) for ad in q["candidates"]]

    _run(benchmark, run, key="features_per_query", events=len(queries), unit="query")


# --------------------------------------------------------------------------- predict


@pytest.mark.benchmark(group="predict")
def test_predict_bare_ftrl(benchmark: Any, workload: Workload) -> None:
    """The bare River predict cost of the served objective models (click and quality):
    ``predict_proba_one`` of each, per candidate."""
    xs = workload.xs
    predicts = [model.estimator.predict_proba_one for model in workload.models.values()]

    def run() -> None:
        for candidates in xs:
            for predict_one in predicts:
                [predict_one(x)[True] for x in candidates]

    _run(benchmark, run, key="predict_bare_per_query", events=len(xs), unit="query")


@pytest.mark.benchmark(group="predict")
def test_predict_bare_category(benchmark: Any, workload: Workload) -> None:
    """The bare predict cost of the served category model: its top paths, once per query."""
    category = workload.category
    xs = [category.features(q) for q in workload.queries]

    def run() -> None:
        for x in xs:
            category.top_paths(x)

    _run(benchmark, run, key="predict_bare_category_per_query", events=len(xs), unit="query")


@pytest.mark.benchmark(group="predict")
def test_predict_bare_river_logreg(benchmark: Any, workload: Workload) -> None:
    """Reference: River's own LogisticRegression on the same hashed features."""
    xs, predict_one = workload.xs, workload.river.predict_proba_one

    def run() -> None:
        for candidates in xs:
            [predict_one(x)[True] for x in candidates]

    _run(benchmark, run, key="predict_river_logreg_per_query", events=len(xs), unit="query")


# --------------------------------------------------------------------------- serve


@pytest.mark.benchmark(group="serve")
def test_serve_hot_path(benchmark: Any, workload: Workload) -> None:
    """decode -> features -> every model's scores -> Prediction -> encode, per query."""
    raw, ctx = workload.raw, workload.ctx
    decode, encode = contracts.decode_query, contracts.encode

    def run() -> None:
        for data in raw:
            encode(predict(ctx, decode(data), TS0_MS))

    _run(benchmark, run, key="serve_per_query", events=len(raw), unit="query")


@pytest.mark.benchmark(group="serve")
def test_serve_hot_path_batched(benchmark: Any, workload: Workload) -> None:
    """The same hot path for the whole workload as one batch (as the serve agent does with the
    queries of one ``take``), per query."""
    raw, ctx = workload.raw, workload.ctx
    decode, encode = contracts.decode_query, contracts.encode

    def run() -> None:
        for prediction in predict_many(ctx, [decode(data) for data in raw], TS0_MS):
            encode(prediction)

    _run(benchmark, run, key="serve_batched_per_query", events=len(raw), unit="query")


@pytest.mark.benchmark(group="serve")
def test_serve_hot_path_per_candidate(benchmark: Any, workload: Workload) -> None:
    """The same hot path, reported per candidate scored."""
    raw, ctx = workload.raw, workload.ctx
    decode, encode = contracts.decode_query, contracts.encode

    def run() -> None:
        for data in raw:
            encode(predict(ctx, decode(data), TS0_MS))

    _run(benchmark, run, key="serve_per_candidate", events=workload.n_candidates, unit="candidate")


def _stamped(workload: Workload, ts_ms: int) -> list[Message]:
    return [
        Message(
            topic="queries",
            partition=0,
            offset=i,
            value=raw,
            timestamp=(TIMESTAMP_CREATE_TIME, ts_ms),
        )
        for i, raw in enumerate(workload.raw)
    ]


@pytest.mark.benchmark(group="serve")
@pytest.mark.parametrize(
    ("age_ms", "key"),
    [(50, "shed_check_per_query"), (5_000, "shed_per_query")],
    ids=["none-shed", "all-shed"],
)
def test_deadline(benchmark: Any, workload: Workload, age_ms: int, key: str) -> None:
    """The serving deadline (200 ms) on a batch of librdkafka messages: what checking it adds
    per query when none is shed (the hot path's case), and what a shed query costs."""
    now = TS0_MS + 10_000
    messages = _stamped(workload, now - age_ms)
    kept = timely(messages, now, 200)
    assert kept is messages if age_ms < 200 else kept == []

    _run(
        benchmark,
        lambda: timely(messages, now, 200),
        key=key,
        events=len(messages),
        unit="query",
        iterations=100,
    )


# --------------------------------------------------------------------------- learn


@pytest.mark.benchmark(group="learn")
def test_learn_one_ftrl(benchmark: Any, workload: Workload) -> None:
    """``learn_one`` per example (the model keeps learning across rounds, as it would live)."""
    model = workload.click.clone()
    for x, y in workload.examples:
        model.learn_one(x, y)
    examples, learn = workload.examples, model.learn_one

    def run() -> None:
        for x, y in examples:
            learn(x, y)

    _run(benchmark, run, key="learn_per_example", events=len(examples), unit="example")


@pytest.mark.benchmark(group="learn")
def test_live_model_predict_learn(benchmark: Any, workload: Workload) -> None:
    """What the learn agent does per example: predict, progressive metrics, then learn."""
    live = LiveModel(CLICK, ENGAGEMENT, workload.click.clone())
    examples, learn = workload.examples, live.learn

    def run() -> None:
        for x, y in examples:
            learn(x, y)

    _run(benchmark, run, key="live_predict_learn_per_example", events=len(examples), unit="example")


class _Outputs(list[bytes]):
    """Where the learn loop's outputs (snapshots, dead letters) go: kept, never sent."""

    def add(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        self.append(value)

    async def flush(self) -> None:
        self.clear()


@pytest.mark.benchmark(group="learn")
def test_learn_loop(benchmark: Any) -> None:
    """What a learning worker does per example, in-process: ``LearnLoop.learn`` on librdkafka
    messages of click examples with the join's features and slices (decode, ledger, predict,
    progressive metrics, learn, health, recent examples, snapshots every 5,000; the fetch and
    the delivery excepted). Every round learns examples never seen: the ledger skips replays."""
    worker = create_app(Settings(kafka="127.0.0.1:9", snapshot_key="bench"))
    loop = LearnLoop(
        settings=worker.settings,
        learner=worker.learner,
        counters=worker.counters,
        dead_letters=worker.io.dead_letters,
        request_report=lambda: None,
    )
    outputs, rounds = _Outputs(), 5
    encoded = click_examples((rounds + 1) * LEARN_ROUND, 0)
    batches = iter(
        [
            Message(topic="examples", partition=0, offset=offset, value=value)
            for offset, value in enumerate(encoded[start : start + LEARN_ROUND], start)
        ]
        for start in range(0, len(encoded), LEARN_ROUND)
    )
    loop.learn(next(batches), outputs)  # warm-up: the model's weights, its health, the ledger

    def round_of_examples() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (next(batches), outputs), {}

    benchmark.extra_info.update(key="learn_loop_per_example", events=LEARN_ROUND, unit="example")
    benchmark.pedantic(loop.learn, setup=round_of_examples, rounds=rounds)
    assert worker.models[CLICK].n_learned == (rounds + 1) * LEARN_ROUND, "examples were skipped"


@pytest.mark.benchmark(group="learn")
def test_bare_river_predict_learn(benchmark: Any, workload: Workload) -> None:
    """Reference: bare River LogisticRegression predict + learn on the same hashed features."""
    model = workload.river.clone()
    examples = workload.examples
    predict_one, learn_one = model.predict_proba_one, model.learn_one

    def run() -> None:
        for x, y in examples:
            predict_one(x)
            learn_one(x, y)

    _run(
        benchmark, run, key="river_predict_learn_per_example", events=len(examples), unit="example"
    )

"""serve: queries -> predictions. A batch of queries per fetch (:class:`ServeLoop`); features
for all their candidates at once; the scores of every candidate in one call per model."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from learners import query_context
from learners.candidate_rows import CandidateRows
from learners.sparse import SparseRows
from streams import contracts
from streams.emit import Sink, now_ms
from streams.rdkafka import BatchConsumer, BatchProducer, DeliveryFailed

if TYPE_CHECKING:
    from streams.app import WorkerContext
    from streams.serving import Serving

    ServingView = Serving | WorkerContext  # anything with settings, models and category

__all__ = ["ServeLoop", "predict", "predict_many", "register"]

log = logging.getLogger(__name__)


def predict_many(
    ctx: ServingView, queries: Sequence[dict[str, Any]], scored_at_ms: int
) -> list[dict[str, Any]]:
    """The Predictions for validated queries: their top category paths (each node's models
    score all the queries that reach it at once), the features of every candidate of every
    query at once (:class:`~learners.candidate_rows.CandidateRows`; the click model sees the
    query-ad category match), then every objective's score for all of them, one call per
    model."""
    category = ctx.category
    n_bits = ctx.settings.n_bits
    paths_of = category.top_paths_rows(
        SparseRows.from_dicts([category.features(query) for query in queries])
    )
    rows = _candidate_rows(n_bits).rows(
        [
            query_context(query, n_bits, category=paths[0][0] if paths else None)
            for query, paths in zip(queries, paths_of, strict=True)
        ],
        [query["candidates"] for query in queries],
    )
    models = ctx.models.values()
    scores = {model.objective: model.score(rows) for model in models}
    versions = {model.name: model.version for model in models} | {category.name: category.version}
    predictions = []
    start = 0
    for query, paths in zip(queries, paths_of, strict=True):
        candidates = query["candidates"]
        end = start + len(candidates)
        predictions.append(
            contracts.prediction(
                event_id=query["event_id"],
                ts_event=query["ts"],
                ts_scored=scored_at_ms,
                ad_ids=[ad["ad_id"] for ad in candidates],
                scores={objective: s[start:end] for objective, s in scores.items()},
                versions=versions,
                category=dict(paths),
            )
        )
        start = end
    return predictions


@functools.cache
def _candidate_rows(n_bits: int) -> CandidateRows:
    """One builder per feature space in a process: it keeps the hashed tokens of the ads."""
    return CandidateRows(n_bits)


def predict(ctx: ServingView, query: dict[str, Any], scored_at_ms: int) -> dict[str, Any]:
    """The Prediction for one validated query (:func:`predict_many` of one)."""
    return predict_many(ctx, [query], scored_at_ms)[0]


def register(ctx: WorkerContext) -> None:
    loop = ServeLoop(ctx)
    ctx.app.startup_hooks.append(loop.connect)
    ctx.app.task(loop.run)


class ServeLoop:
    """queries -> predictions, a batch at a time, as an app task with clients of its own.

    A Faust agent costs about 200 µs per event here (the event, its acknowledgement, the
    hand-off from the consumer thread) and aiokafka another 50 µs of protocol work in Python,
    more than the scoring. Serving keeps no state that must stay consistent with a Faust table,
    so it reads ``queries`` with a librdkafka group consumer (:mod:`streams.rdkafka`; the group
    ``<group_id>.serve``: workers share the partitions), scores whatever one fetch brought (up
    to ``batch_max`` queries), hands the predictions to librdkafka and waits for their
    delivery, and commits the position at most every ``commit_interval_s``: at-least-once, a
    query is served again after a crash or a failed delivery, never lost.
    """

    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx
        self._predictions = ctx.topic_name("predictions")
        self._consumer: BatchConsumer | None = None
        self._producer: BatchProducer | None = None

    async def connect(self) -> None:
        """Create the clients and join the group (a start-up hook: the group join, seconds on
        some brokers, goes on while the app starts)."""
        settings = self._ctx.settings
        self._consumer = BatchConsumer(
            settings, settings.topic("queries"), f"{settings.group_id}.serve"
        )
        self._producer = BatchProducer(settings)

    async def run(self) -> None:
        settings = self._ctx.settings
        consumer, producer = self._consumer, self._producer
        assert consumer is not None and producer is not None, "connect() runs at start-up"
        positions: dict[tuple[str, int], int] = {}  # delivered: the next offset to read
        committed_at = time.monotonic()
        try:
            while True:
                messages = await consumer.next_batch(settings.batch_max, 0.2)
                if messages:
                    try:
                        await self.serve(messages, producer)
                    except DeliveryFailed as error:
                        log.error("%s; serving the batch again", error)
                        self._ctx.counters["serve.delivery_failed"] += 1
                        await consumer.rewind(messages)
                        continue
                    for message in messages:
                        positions[message.topic(), message.partition()] = message.offset() + 1
                if positions and time.monotonic() - committed_at >= settings.commit_interval_s:
                    await consumer.commit(positions)
                    positions, committed_at = {}, time.monotonic()
        finally:
            if positions:
                await consumer.commit(positions, wait=True)
            await consumer.close()
            await producer.close()

    async def serve(self, messages: Sequence[Any], out: Sink) -> None:
        """Predict every valid query of ``messages`` (librdkafka messages), dead-letter the
        others; returns once ``out`` has delivered every output."""
        ctx = self._ctx
        scored_at = now_ms()
        ctx.counters["read.queries"] += len(messages)
        queries, read = [], []
        for message in messages:
            try:
                queries.append(contracts.decode_query(message.value()))
                read.append(message)
            except contracts.InvalidEvent as error:
                self._reject(out, message, error.reason)
        try:
            predictions = predict_many(ctx.serving, queries, scored_at)
        except Exception as error:  # a model fault must not stop serving: every query is told
            log.exception("serving a batch of %d queries failed", len(queries))
            for message in read:
                self._reject(out, message, f"serving failed: {error!r}"[:200])
            predictions = []
        for prediction in predictions:
            self._watch_scores(prediction)
            out.add(self._predictions, prediction["event_id"], contracts.encode(prediction))
        ctx.counters["predictions"] += len(predictions)
        await out.flush()

    def _reject(self, out: Sink, message: Any, reason: str) -> None:
        self._ctx.dead_letters.reject_at(
            out, reason, message.topic(), message.partition(), message.offset(), message.value()
        )

    def _watch_scores(self, prediction: dict[str, Any]) -> None:
        """The served scores of every model past its warm-up, for the score-shift rule."""
        ctx = self._ctx
        for model in ctx.serving.models.values():
            if model.version >= ctx.settings.alert_warmup_examples:
                ctx.health.observe_scores(model.name, prediction["scores"][model.objective])

"""serve: queries -> predictions. A batch of queries per fetch (:class:`ServeLoop`); features
for all their candidates at once; the scores of every candidate in one call per model."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from learners import query_context
from learners.candidate_rows import CandidateRows
from learners.sparse import SparseRows
from streams import contracts
from streams.emit import now_ms
from streams.observe import consumer_options

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
    ctx.app.task(ServeLoop(ctx).run)


class ServeLoop:
    """queries -> predictions, a batch at a time, as an app task with a consumer of its own.

    A Faust agent costs about 200 µs per event on this machine (the event, its acknowledgement
    and the hand-off from the consumer thread), more than the scoring itself; serving has no
    state to keep consistent with a Faust table, so it reads ``queries`` as a plain aiokafka
    group consumer (the group ``<group_id>.serve``: workers share the partitions), scores
    whatever one fetch returned (up to ``batch_max`` queries), sends the predictions and waits
    for their delivery, and commits the position at most every ``commit_interval_s``:
    at-least-once, a query is served again after a crash, never lost.
    """

    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx
        self._predictions = ctx.topic_name("predictions")
        self._delivered: dict[TopicPartition, int] = {}  # next offset to commit
        self._committed_at = 0.0

    async def run(self) -> None:
        settings = self._ctx.settings
        consumer = AIOKafkaConsumer(
            settings.topic("queries"),
            **consumer_options(settings),
            group_id=f"{settings.group_id}.serve",
            auto_offset_reset="earliest",
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=settings.batch_max)
                records = [record for batch in batches.values() for record in batch]
                if records:
                    await self.serve(records)
                    for tp, batch in batches.items():
                        self._delivered[tp] = batch[-1].offset + 1
                await self._commit(consumer, settings.commit_interval_s)
        finally:
            await self._commit(consumer, 0.0)
            await consumer.stop()

    async def serve(self, records: Sequence[Any]) -> None:
        """Predict every valid query of ``records``, dead-letter the others; returns once all
        the outputs are delivered."""
        ctx = self._ctx
        outbox = ctx.outbox()
        scored_at = now_ms()
        ctx.counters["read.queries"] += len(records)
        queries, read = [], []
        for record in records:
            try:
                queries.append(contracts.decode_query(record.value))
                read.append(record)
            except contracts.InvalidEvent as error:
                ctx.dead_letters.reject(outbox, record, error.reason)
        try:
            predictions = predict_many(ctx.serving, queries, scored_at)
        except Exception as error:  # a model fault must not stop serving: every query is told
            log.exception("serving a batch of %d queries failed", len(queries))
            for record in read:
                ctx.dead_letters.reject(outbox, record, f"serving failed: {error!r}"[:200])
            predictions = []
        for prediction in predictions:
            self._watch_scores(prediction)
            outbox.add(self._predictions, prediction["event_id"], contracts.encode(prediction))
        ctx.counters["predictions"] += len(predictions)
        await outbox.flush()

    def _watch_scores(self, prediction: dict[str, Any]) -> None:
        """The served scores of every model past its warm-up, for the score-shift rule."""
        ctx = self._ctx
        for model in ctx.serving.models.values():
            if model.version >= ctx.settings.alert_warmup_examples:
                ctx.health.observe_scores(model.name, prediction["scores"][model.objective])

    async def _commit(self, consumer: AIOKafkaConsumer, every_s: float) -> None:
        """Commit the delivered positions if ``every_s`` has passed since the last commit; a
        commit refused by a rebalance is only logged (those queries are served again)."""
        now = time.monotonic()
        if not self._delivered or now - self._committed_at < every_s:
            return
        delivered, self._delivered = self._delivered, {}
        self._committed_at = now
        try:
            await consumer.commit({tp: offset for tp, offset in delivered.items()})
        except KafkaError as error:  # CommitFailedError after a rebalance, among others
            log.warning("serving position not committed (%s); it will be served again", error)

"""serve: queries -> predictions. A batch of queries per fetch (:class:`ServeLoop`); features
for all their candidates at once; the scores of every candidate in one call per model.

Overload is bounded by a deadline (``serve_deadline_ms``, default 200; 0: none): a query
whose record is older than the deadline when its turn to be scored comes (a fetched batch is
checked a slice of :data:`DEADLINE_CHECK_EVERY` at a time) is *shed*, skipped before it is
decoded, with no prediction and no dead letter (it is valid, only too late: the front-end
has fallen back to its own default by then), counted as ``shed`` and committed like a
served one. Its age is the worker's clock less the record's Kafka timestamp, not the query's
``ts``:

- it is read without decoding the query (a shed query costs a tuple and a comparison, where
  decoding it would cost microseconds: shedding must be cheapest when the worker is behind);
- it is when the query entered Kafka: ``CreateTime``, set by the producer's client when the
  front-end sends (librdkafka, aiokafka and the Java client all stamp it then, and take an
  explicit timestamp: a front-end that wants its deadline to run from the query's own
  ``ts`` sets the record's timestamp to it, as the simulator does), or the broker's clock
  with ``message.timestamp.type=LogAppendTime`` on the topic, which takes the producers'
  clocks out of the age altogether;
- a query re-sent from a log or a file keeps its old event time ``ts`` (the join needs it)
  but gets a new record timestamp, so it is served, not shed (a copy that keeps the old
  record timestamps, like MirrorMaker's, should be served with ``serve_deadline_ms=0``).

A record without a timestamp (``TIMESTAMP_NOT_AVAILABLE``) is never shed, nor is one from a
clock ahead of the worker's (a negative age). Both clocks are wall clocks: keep them in sync
(NTP); a producer's clock behind the worker's by more than the deadline sheds its every
query, which the ``shed`` counter shows at once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

from learners.feature_spec import FeatureSpec
from learners.features import features_of
from learners.sparse import SparseRows
from streams.kafka.outbox import DeadLetters, Sink, now_ms
from streams.kafka.rdkafka import BatchConsumer, BatchProducer, DeliveryFailed
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.serving.view import Serving
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["ServeLoop", "past_deadline", "predict", "predict_many", "timely"]

log = logging.getLogger(__name__)

#: Under a serving deadline, the queries of a fetched batch scored between two looks at the
#: clock (about 8 ms of work at full speed): the largest batches score as fast per query.
DEADLINE_CHECK_EVERY = 100


def predict_many(
    serving: Serving, queries: Sequence[dict[str, Any]], scored_at_ms: int
) -> list[dict[str, Any]]:
    """The Predictions for validated queries: their top category paths (each node's models
    score all the queries that reach it at once), the features of every candidate of every
    query at once, once per feature set the models use (:meth:`learners.features.Features.rows`,
    with the query-ad category match), then every objective's score for all of them, one call
    per model."""
    category = serving.category
    paths_of = category.top_paths_rows(
        SparseRows.from_dicts([category.features(query) for query in queries])
    )
    best = [paths[0][0] if paths else None for paths in paths_of]
    candidates = [query["candidates"] for query in queries]
    rows_of: dict[FeatureSpec, SparseRows] = {}

    def rows(spec: FeatureSpec) -> SparseRows:
        if spec not in rows_of:
            features = features_of(spec)
            contexts = [features.query(q, c) for q, c in zip(queries, best, strict=True)]
            rows_of[spec] = features.rows(contexts, candidates)
        return rows_of[spec]

    models = serving.models.values()
    scores = {model.objective: model.score(rows(model.features)) for model in models}
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


def past_deadline(age_ms: int, deadline_ms: int) -> bool:
    """Whether a query ``age_ms`` old when read is shed under ``deadline_ms`` (0: never).

    >>> past_deadline(201, 200), past_deadline(200, 200), past_deadline(10_000, 0)
    (True, False, False)
    >>> past_deadline(-50, 200)  # a producer's clock ahead of ours: served
    False
    """
    return 0 < deadline_ms < age_ms


def timely(messages: Sequence[Any], now_ms: int, deadline_ms: int) -> Sequence[Any]:
    """The librdkafka messages of ``messages`` not :func:`past_deadline` at ``now_ms``, in
    order (the same sequence when none is shed): the age of each is ``now_ms`` less its
    record timestamp, and one without a timestamp is kept."""
    if not deadline_ms:
        return messages
    oldest = now_ms - deadline_ms  # age > deadline <=> timestamp < now - deadline
    kept = [
        m for m in messages if (t := m.timestamp())[1] >= oldest or t[0] == TIMESTAMP_NOT_AVAILABLE
    ]
    return messages if len(kept) == len(messages) else kept


def predict(serving: Serving, query: dict[str, Any], scored_at_ms: int) -> dict[str, Any]:
    """The Prediction for one validated query (:func:`predict_many` of one)."""
    return predict_many(serving, [query], scored_at_ms)[0]


class ServeLoop:
    """queries -> predictions, a batch at a time, as an app task with clients of its own.

    A Faust agent costs about 200 µs per event here (the event, its acknowledgement, the
    hand-off from the consumer thread) and aiokafka another 50 µs of protocol work in Python,
    more than the scoring. Serving keeps no state that must stay consistent with a Faust table,
    so it reads ``queries`` with a librdkafka group consumer (:mod:`streams.kafka.rdkafka`; the
    group ``<group_id>.serve``: workers share the partitions), scores whatever one fetch brought (up
    to ``batch_max`` queries), hands the predictions to librdkafka and waits for their
    delivery, and commits the position at most every ``commit_interval_s``: at-least-once, a
    query is served again after a crash or a failed delivery, never lost. A query older than
    ``serve_deadline_ms`` when its turn comes is shed (see the module's docstring), and its
    position committed with the others. It scores with ``serving``, counts in ``counters``,
    dead-letters through ``dead_letters`` and shows the served scores to ``health``.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        serving: Serving,
        counters: Counters,
        dead_letters: DeadLetters,
        health: WorkerHealth,
    ) -> None:
        self._settings = settings
        self._serving = serving
        self._counters = counters
        self._dead_letters = dead_letters
        self._health = health
        self._predictions = settings.topic("predictions")
        self._deadline_ms = settings.serve_deadline_ms
        counters.setdefault("shed", 0)  # reported from the start: a rate needs a zero
        self._consumer: BatchConsumer | None = None
        self._producer: BatchProducer | None = None

    async def connect(self) -> None:
        """Create the clients and join the group (a start-up hook: the group join, seconds on
        some brokers, goes on while the app starts)."""
        settings = self._settings
        if 0 < settings.serve_deadline_ms <= 2 * settings.fetch_max_wait_ms:
            log.warning(
                "serve_deadline_ms=%d is within twice fetch_max_wait_ms=%d: on a broker that "
                "answers a fetch only when its wait runs out (the embedded one), queries that "
                "only waited for a fetch are shed",
                settings.serve_deadline_ms,
                settings.fetch_max_wait_ms,
            )
        self._consumer = BatchConsumer(
            settings, settings.topic("queries"), f"{settings.group_id}.serve"
        )
        self._producer = BatchProducer(settings)

    async def run(self) -> None:
        settings = self._settings
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
                        self._counters["serve.delivery_failed"] += 1
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
        """Predict every valid query of ``messages`` (librdkafka messages) still within the
        deadline, shed the late ones, dead-letter the invalid; returns once ``out`` has
        delivered every output.

        Under a deadline the batch is scored :data:`DEADLINE_CHECK_EVERY` queries at a time,
        each slice checked against the clock when its turn comes: a full batch takes 50 ms to
        score at 10,000 queries/s (longer on a busy machine), and its last queries would
        otherwise be that much older than the deadline allowed when they are answered. Each
        slice's predictions are handed to ``out`` before the next is scored."""
        self._counters["read.queries"] += len(messages)
        step = DEADLINE_CHECK_EVERY if self._deadline_ms else max(1, len(messages))
        for start in range(0, len(messages), step):
            self._serve_timely(messages[start : start + step], out)
        await out.flush()

    def _serve_timely(self, messages: Sequence[Any], out: Sink) -> None:
        """Shed the messages past the deadline now, predict the valid others into ``out``."""
        scored_at = now_ms()
        served = timely(messages, scored_at, self._deadline_ms)
        if len(served) < len(messages):
            self._counters["shed"] += len(messages) - len(served)
        queries, read = [], []
        for message in served:
            try:
                queries.append(contracts.decode_query(message.value()))
                read.append(message)
            except contracts.InvalidEvent as error:
                self._reject(out, message, error.reason)
        try:
            predictions = predict_many(self._serving, queries, scored_at)
        except Exception as error:  # a model fault must not stop serving: every query is told
            log.exception("serving a batch of %d queries failed", len(queries))
            for message in read:
                self._reject(out, message, f"serving failed: {error!r}"[:200])
            predictions = []
        for prediction in predictions:
            self._watch_scores(prediction)
            out.add(self._predictions, prediction["event_id"], contracts.encode(prediction))
        self._counters["predictions"] += len(predictions)
        self._count_missing()

    def _count_missing(self) -> None:
        """How often the served queries lacked an attribute a feature set names (it took its
        default), in total over the feature sets of the served models."""
        missing: Counter[str] = Counter()
        for spec in {model.features for model in self._serving.models.values()}:
            missing.update(features_of(spec).missing)
        for key, count in missing.items():
            self._counters[f"features.missing.{key}"] = count

    def _reject(self, out: Sink, message: Any, reason: str) -> None:
        self._dead_letters.reject_at(
            out, reason, message.topic(), message.partition(), message.offset(), message.value()
        )

    def _watch_scores(self, prediction: dict[str, Any]) -> None:
        """The served scores of every model past its warm-up, for the score-shift rule."""
        warmup = self._settings.alert_warmup_examples
        for model in self._serving.models.values():
            if model.version >= warmup:
                self._health.observe_scores(model.name, prediction["scores"][model.objective])

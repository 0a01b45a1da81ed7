"""serve: queries -> predictions. Features once per query; the scores of every candidate of a
batch of queries in one call per model."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from learners import query_context
from learners.candidate_rows import CandidateRows
from learners.sparse import SparseRows
from streams import contracts
from streams.emit import now_ms

if TYPE_CHECKING:
    from streams.app import WorkerContext
    from streams.serving import Serving

    ServingView = Serving | WorkerContext  # anything with settings, models and category

__all__ = ["predict", "predict_many", "register"]


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
    predictions = ctx.topic_name("predictions")
    size, within = ctx.batch
    warmup = ctx.settings.alert_warmup_examples
    health = ctx.health

    def watch_scores(prediction: dict[str, Any]) -> None:
        """The served scores of every model past its warm-up, for the score-shift rule."""
        for model in ctx.serving.models.values():
            if model.version >= warmup:
                health.observe_scores(model.name, prediction["scores"][model.objective])

    @ctx.app.agent(ctx.topics["queries"], name="serve")
    async def serve(stream: Any) -> None:
        async for events in stream.take_events(size, within):
            outbox = ctx.outbox()
            scored_at = now_ms()
            ctx.counters["read.queries"] += len(events)
            queries = []
            for event in events:
                try:
                    queries.append(contracts.decode_query(event.value))
                except contracts.InvalidEvent as error:
                    ctx.dead_letters.reject(outbox, event.message, error.reason)
            for prediction in predict_many(ctx.serving, queries, scored_at):
                watch_scores(prediction)
                outbox.add(predictions, prediction["event_id"], contracts.encode(prediction))
            ctx.counters["predictions"] += len(queries)
            await outbox.flush()

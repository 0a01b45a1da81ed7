"""serve: queries -> predictions. Features once per query, a score per objective per candidate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learners import candidate_features, query_context
from streams import contracts
from streams.emit import now_ms

if TYPE_CHECKING:
    from streams.app import WorkerContext
    from streams.serving import Serving

    ServingView = Serving | WorkerContext  # anything with settings, models and category

__all__ = ["predict", "register"]


def predict(ctx: ServingView, query: dict[str, Any], scored_at_ms: int) -> dict[str, Any]:
    """The Prediction for one validated query: its top category paths, then every objective's
    score per candidate (the click model sees the query-ad category match)."""
    category = ctx.category
    paths = category.top_paths(category.features(query))
    best_path = paths[0][0] if paths else None
    query_ctx = query_context(query, ctx.settings.n_bits, category=best_path)
    candidates = query["candidates"]
    xs = [candidate_features(query_ctx, ad) for ad in candidates]
    models = ctx.models.values()
    return contracts.prediction(
        event_id=query["event_id"],
        ts_event=query["ts"],
        ts_scored=scored_at_ms,
        ad_ids=[ad["ad_id"] for ad in candidates],
        scores={model.objective: model.score(xs) for model in models},
        versions={model.name: model.version for model in models}
        | {category.name: category.version},
        category=dict(paths),
    )


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
            for event in events:
                try:
                    query = contracts.decode_query(event.value)
                except contracts.InvalidEvent as error:
                    ctx.dead_letters.reject(outbox, event.message, error.reason)
                    continue
                prediction = predict(ctx.serving, query, scored_at)
                watch_scores(prediction)
                outbox.add(predictions, query["event_id"], contracts.encode(prediction))
                ctx.counters["predictions"] += 1
            await outbox.flush()

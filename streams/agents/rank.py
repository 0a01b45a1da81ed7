"""rank: predictions -> rankings, ordered by the combined objective score."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from learners import Weights, combine, rank
from streams.kafka.outbox import now_ms
from streams.wire import contracts

if TYPE_CHECKING:
    from streams.worker.compose import WorkerContext

__all__ = ["ARM", "ranking_for", "register"]

ARM = "main"


def ranking_for(prediction: dict[str, Any], weights: Weights, ranked_at_ms: int) -> dict[str, Any]:
    """The Ranking of one validated prediction under a weight set."""
    combined = combine(prediction["scores"], weights)
    order = rank(prediction["ad_ids"], combined)
    ad_ids = prediction["ad_ids"]
    return contracts.ranking(
        event_id=prediction["event_id"],
        ts_event=prediction["ts_event"],
        ad_ids=[ad_ids[i] for i in order],
        combined=[combined[i] for i in order],
        weights=dataclasses.asdict(weights),
        arm=ARM,
        ts_ranked=ranked_at_ms,
    )


def register(ctx: WorkerContext) -> None:
    rankings = ctx.topic_name("rankings")
    size, within = ctx.batch

    @ctx.app.agent(ctx.topics["predictions"], name="rank")
    async def rank_agent(stream: Any) -> None:
        async for events in stream.take_events(size, within):
            outbox = ctx.outbox()
            for event in events:
                try:
                    prediction = contracts.decode_prediction(event.value)
                    ranking = ranking_for(prediction, ctx.weights, now_ms())
                except ValueError as error:  # InvalidEvent, or scores missing a weighted objective
                    ctx.dead_letters.reject(outbox, event.message, str(error))
                    continue
                outbox.add(rankings, ranking["event_id"], contracts.encode(ranking))
                ctx.counters["rankings"] += 1
            await outbox.flush()

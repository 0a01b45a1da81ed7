"""rank: predictions -> rankings, ordered by the combined objective score."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from learners import Weights, combine, rank
from streams.agents.io import AgentIO, batch_agent
from streams.kafka.outbox import Sink, now_ms
from streams.wire import contracts

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


def register(io: AgentIO, weights: Callable[[], Weights]) -> None:
    """Rank every prediction with the ``weights()`` in force (a prediction whose scores lack
    a weighted objective is dead-lettered, as an invalid one is)."""
    rankings = io.topic_name("rankings")

    def handle(event: Any, out: Sink) -> None:
        prediction = contracts.decode_prediction(event.value)
        ranking = ranking_for(prediction, weights(), now_ms())
        out.add(rankings, ranking["event_id"], contracts.encode(ranking))
        io.counters["rankings"] += 1

    batch_agent(io, "predictions", "rank", handle)

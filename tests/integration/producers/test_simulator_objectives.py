"""The Simulator's second objective on the embedded broker: quality ratings, exploration with
logged propensities and business metrics per weight version, answered by an echo responder
that ranks under two weight versions."""

import math
import time

import pytest

from producers import Simulator, World
from streams.wire import contracts

pytestmark = pytest.mark.broker

SEED = 1
RATE = 200
DURATION_S = 3.0
N = int(RATE * DURATION_S)
EPSILON = 0.25
RATING_RATE = 0.2
RATING_DELAY_S = (0.05, 0.3)  # short, so that almost every rating is sent before the run ends
#: version -> weights: the first half of the queries is ranked in the given (random) order,
#: the second half by true quality; every 50th query from the 7th names no version.
WEIGHTS = {1: {"alpha": 0.0, "beta": 1.0}, 2: {"alpha": 1.0, "beta": 0.5}}
UNVERSIONED = {i for i in range(N) if i % 50 == 7}


class Replica:
    """The run's world made again: the hidden truth of every query it will make (candidates
    and leaves do not depend on the time a query is made), and the rankings the echo sent."""

    def __init__(self) -> None:
        self.world = World(seed=SEED)
        truths = (self.world.next_query(ts_ms=0)[1] for _ in range(N))
        self.truths = {truth.event_id: truth for truth in truths}
        self.ranked: dict[str, list[str]] = {}

    def quality(self, event_id: str, ad_id: str) -> float:
        return self.world.quality(self.truths[event_id], self.world.ad(ad_id))

    def answer(self, query: dict) -> dict:
        """The first half of the queries in the given order under version 1, the second half
        by true quality under version 2; the ranked order is noted."""
        event_id = query["event_id"]
        ad_ids = [ad["ad_id"] for ad in query["candidates"]]
        index = int(event_id.rsplit("-", 1)[1])
        version = 1 if index < N // 2 else 2
        if version == 2:
            ad_ids.sort(key=lambda ad_id: self.quality(event_id, ad_id), reverse=True)
        weights = {**WEIGHTS[version], "version": version}
        if index in UNVERSIONED:
            del weights["version"]
        self.ranked[event_id] = ad_ids
        return {"ad_ids": ad_ids, "weights": weights, "ts_ranked": int(time.time() * 1000)}


@pytest.mark.asyncio
async def test_ratings_propensities_and_business_metrics(settings, reader, responder):
    replica = Replica()
    simulator = Simulator(
        settings=settings,
        world=World(seed=SEED),
        rate_per_s=RATE,
        duration_s=DURATION_S,
        epsilon=EPSILON,
        rating_rate=RATING_RATE,
        rating_delay_s=RATING_DELAY_S,
    )
    async with responder(settings, simulator, answer=replica.answer):
        stats = await simulator.run()
    assert stats.queries_sent == stats.impressions == N
    assert stats.bad_messages == stats.unmatched == stats.send_errors == 0

    # impressions: arm and propensity as the epsilon-greedy policy says
    impressions = {
        shown["impression_id"]: shown
        for shown in (
            contracts.decode_impression(message.value())
            for message in reader.read("impressions", lambda records: len(records) >= N)
        )
    }
    assert len(impressions) == N
    for shown in impressions.values():
        ad_ids = replica.ranked[shown["event_id"]]
        top, n = ad_ids[0], len(ad_ids)
        assert shown["arm"] in ("exploit", "explore") and shown["ad_id"] in ad_ids
        if shown["arm"] == "exploit":
            assert shown["ad_id"] == top
        expected = 1 - EPSILON + EPSILON / n if shown["ad_id"] == top else EPSILON / n
        assert shown["propensity"] == pytest.approx(expected, rel=1e-12)
    explored = sum(shown["arm"] == "explore" for shown in impressions.values())
    assert explored == stats.explored
    # binomial(600, 0.25): sd 10.6; 4 sd either side
    assert abs(explored - EPSILON * N) <= 4 * math.sqrt(N * EPSILON * (1 - EPSILON))

    # ratings: keyed by impression, decodable, delayed as configured, close to the true quality
    assert stats.ratings_sent >= 50
    messages = reader.read("ratings", lambda records: len(records) >= stats.ratings_sent)
    assert len(messages) == stats.ratings_sent
    errors = []
    for message in messages:
        rating = contracts.decode_rating(message.value())
        shown = impressions[rating["impression_id"]]
        assert message.key() == rating["impression_id"].encode()
        low, high = (round(1000 * bound) for bound in RATING_DELAY_S)
        assert low <= rating["ts"] - shown["ts"] <= high
        errors.append(abs(rating["quality"] - replica.quality(shown["event_id"], shown["ad_id"])))
    assert max(errors) <= 0.5  # noise sd 0.1: 5 sd
    assert sum(errors) / len(errors) < 0.12  # E|N(0, 0.1)| = 0.08; clipping only shrinks it
    # every impression is rated with probability 0.2: binomial(600, 0.2), sd 9.8; 4 sd
    rated = stats.ratings_sent + stats.ratings_pending
    assert abs(rated - RATING_RATE * N) <= 4 * math.sqrt(N * RATING_RATE * (1 - RATING_RATE))

    # business metrics: one row per version the echo named, with its weights
    business = stats.business()
    assert list(business) == [1, 2]
    assert stats.unversioned_rankings == len(UNVERSIONED)
    assert sum(row["impressions"] for row in business.values()) == N - len(UNVERSIONED)
    for version, row in business.items():
        assert (row["alpha"], row["beta"]) == (WEIGHTS[version]["alpha"], WEIGHTS[version]["beta"])
        assert 0.0 <= row["ctr"] <= 1.0 and 0.0 <= row["mean_quality"] <= 1.0
    # given order ~0.43 mean quality; ranked by quality ~0.82 (~0.72 with exploration)
    assert business[2]["mean_quality"] > business[1]["mean_quality"] + 0.15

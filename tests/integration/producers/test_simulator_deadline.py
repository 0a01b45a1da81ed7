"""The simulated front-end under a deadline: a query that gets no answer (a worker shed it) is
given up on within the front-end's deadline and counted, and the run does not wait for it."""

import time
import zlib

import pytest

from producers import Simulator, World

pytestmark = pytest.mark.broker


@pytest.mark.asyncio
async def test_unanswered_queries_time_out_within_the_deadline_and_are_counted(settings, responder):
    skipped: set[str] = set()

    def every_fifth_unanswered(query: dict) -> dict | None:
        if zlib.crc32(query["event_id"].encode()) % 5 == 0:
            skipped.add(query["event_id"])
            return None
        return {}

    simulator = Simulator(
        settings=settings,
        world=World(seed=6),
        rate_per_s=200,
        duration_s=2,
        drain_timeout_s=30,
        answer_deadline_s=1.0,
    )
    started = time.monotonic()
    async with responder(settings, simulator, answer=every_fifth_unanswered):
        stats = await simulator.run()
    elapsed_s = time.monotonic() - started

    assert stats.queries_sent == 400 and 40 <= len(skipped) <= 120
    assert stats.timed_out == len(skipped) == stats.unanswered()
    assert stats.rankings_received == stats.impressions == 400 - len(skipped)
    assert stats.unmatched == stats.bad_messages == 0
    assert stats.late_predictions == stats.late_rankings == 0
    assert len(stats.latencies_ms) == stats.predictions_received
    assert elapsed_s < 2 + 1.0 + 10, "the run waited for queries the front-end gave up on"

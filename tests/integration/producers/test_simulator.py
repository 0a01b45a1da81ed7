"""The Simulator against the embedded broker, answered by a tiny echo responder."""

import math
import time

import pytest

from producers import SimulationStats, Simulator, World

pytestmark = pytest.mark.broker


@pytest.mark.asyncio
async def test_every_query_is_answered_and_every_ranking_shown(settings, responder):
    ticks: list[int] = []
    simulator = Simulator(settings=settings, world=World(seed=1), rate_per_s=200, duration_s=3)
    async with responder(settings, simulator, poison=True):  # one bad message
        stats = await simulator.run(on_tick=lambda live: ticks.append(live.queries_sent))

    assert stats.queries_sent == 600
    assert stats.unanswered() == 0
    assert stats.predictions_received == stats.rankings_received == 600
    assert stats.impressions == stats.rankings_received
    assert stats.bad_messages == 1 and stats.unmatched == 0 and stats.send_errors == 0
    assert stats.clicks == stats.clicks_sent + stats.clicks_pending
    assert stats.late_clicks_sent <= stats.clicks_sent
    assert len(stats.latencies_ms) == 600
    assert 0 < stats.latency_ms(50) <= stats.latency_ms(99) < 5_000
    assert 0.005 < stats.expected_ctr() < 0.05 and math.isfinite(stats.realized_ctr())
    assert len(ticks) >= 4 and ticks == sorted(ticks)


@pytest.mark.asyncio
async def test_stop_ends_the_run_early(settings):
    simulator = Simulator(settings=settings, world=World(seed=2), rate_per_s=100, duration_s=60)

    def stop_at_first_tick(stats: SimulationStats) -> None:
        simulator.stop()

    started = time.monotonic()
    stats = await simulator.run(on_tick=stop_at_first_tick)
    assert time.monotonic() - started < 5
    assert 0 < stats.queries_sent < 6_000

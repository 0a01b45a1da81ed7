"""The simulated front-end's deadline, without a broker: what it gives up on, and what comes
after that (a clock of our own; the answers handed over as the consumer would)."""

import pytest

from producers import Simulator, World
from streams.wire import contracts
from streams.wire.settings import Settings

T0_S = 1_700_000_000.0


def _front_end(deadline_s: float | None) -> tuple[Simulator, list[float]]:
    now = [T0_S]
    simulator = Simulator(
        settings=Settings(kafka="127.0.0.1:9"),
        world=World(seed=2),
        rate_per_s=10,
        duration_s=1,
        clock=lambda: now[0],
        answer_deadline_s=deadline_s,
    )
    return simulator, now


def _prediction(event_id: str) -> bytes:
    return contracts.encode(
        contracts.prediction(
            event_id=event_id,
            ts_event=int(T0_S * 1000),
            ts_scored=int(T0_S * 1000),
            ad_ids=["a"],
            scores={"engagement": [0.5]},
            versions={"click": 1},
            category=None,
        )
    )


def test_a_query_without_a_ranking_by_the_deadline_is_given_up_and_its_answer_is_late():
    simulator, now = _front_end(0.5)
    sent = []
    for i in range(3):
        _, truth = simulator.world.next_query(ts_ms=int(T0_S * 1000))
        simulator._track(T0_S + 0.1 * i, truth)
        sent.append(truth.event_id)
    simulator._on_prediction(_prediction(sent[1]))  # in time, but never ranked
    now[0] = T0_S + 0.6  # past the deadline of the first two, not of the third
    simulator._give_up_overdue()
    stats = simulator.stats
    assert stats.timed_out == 2 and stats.predictions_received == 1
    simulator._on_prediction(_prediction(sent[0]))  # too late: not counted as received
    assert stats.late_predictions == 1 and stats.predictions_received == 1
    assert stats.unmatched == 0
    now[0] = T0_S + 0.7
    simulator._give_up_overdue()
    assert stats.timed_out == 3 and simulator._all_answered.is_set()
    simulator._on_prediction(_prediction("not-ours"))
    assert stats.unmatched == 1 and stats.late_predictions == 1 and stats.late_rankings == 0


def test_without_a_deadline_nothing_is_given_up():
    simulator, now = _front_end(None)
    _, truth = simulator.world.next_query(ts_ms=int(T0_S * 1000))
    simulator._track(T0_S, truth)
    now[0] = T0_S + 3600
    simulator._give_up_overdue()
    assert simulator.stats.timed_out == 0 and not simulator._all_answered.is_set()


def test_the_deadline_must_be_positive():
    with pytest.raises(ValueError, match="answer_deadline_s"):
        _front_end(0.0)

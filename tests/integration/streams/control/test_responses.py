"""The automatic responses on the embedded broker: a calibration break rolls the served model
back to the snapshot before it and forward once the live model is calibrated again; a loss
drift starts a challenger, reported next to its champion, and with ``promote`` a challenger
that predicts better replaces it, in a version ``models rebuild`` reproduces. Every action is
an alert, and each rollback a command on the control log."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from streams import snapshots
from streams.control.client import send_command, wait_applied
from streams.control.responses import AUTO_ROLLBACK
from streams.operations.rebuild import rebuild
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.integration.conditions import model_reported, snapshot_at

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000
CLEAN, CORRUPTED, RECOVERED = 8_000, 4_000, 10_000


def _example(i: int, feature: int, clicked: bool) -> dict[str, Any]:
    return contracts.example(
        example_id=f"imp-{i}",
        model="click",
        features={feature: 1.0, 100: 1.0},
        label=float(clicked),
        weight=1.0,
        sampling_rate=1.0,
        ts_event=T0 + i,
        ts_label=T0 + i,
        source={"impressions:0": i},
    )


def _examples(rng: random.Random) -> Iterator[dict[str, Any]]:
    """Click examples of a stable world; in the middle stretch five times as many clicks
    are recorded as happen (a broken click pipeline): the model's calibration breaks."""
    for i in range(CLEAN + CORRUPTED + RECOVERED):
        feature = rng.randrange(20)
        p_click = 0.02 + feature / 70
        if CLEAN <= i < CLEAN + CORRUPTED:
            p_click = min(1.0, 5 * p_click)
        yield _example(i, feature, rng.random() < p_click)


@pytest.fixture
def learning(new_settings, start_worker, produce) -> Callable[..., Settings]:
    """Starts a worker that snapshots every 1,000 examples, fed ``examples`` of the click
    model, with the settings given; returns them."""

    def start(examples: Iterable[dict[str, Any]], **overrides: Any) -> Settings:
        settings = new_settings(
            snapshot_key="responses-test", snapshot_every_examples=1_000, **overrides
        )
        start_worker(settings)
        for example in examples:
            produce("examples", b"click", contracts.encode(example), settings)
        return settings

    return start


def _alerts(messages: list[Any]) -> list[dict[str, Any]]:
    return [contracts.decode_map(m.value()) for m in messages]


def _cycle_done(kind: str):
    """On ``alerts``: ``kind`` of the click model raised, then cleared."""

    def done(messages: list[Any]) -> bool:
        states = [a["state"] for a in _alerts(messages) if a["kind"] == kind]
        return "raised" in states and "cleared" in states[states.index("raised") :]

    return done


def test_a_calibration_break_rolls_back_and_forward_and_a_drift_starts_a_challenger(
    learning, reader_for
) -> None:
    settings = learning(_examples(random.Random(11)), alert_warmup_examples=4_000)

    messages = reader_for(settings).read("alerts", _cycle_done("rollback"), 120)
    alerts = [a for a in _alerts(messages) if a["model"] == "click"]
    kinds = [(a["kind"], a["state"]) for a in alerts]
    assert ("calibration_drift", "raised") in kinds, kinds
    assert _cycle_done("rollback")(messages), f"no rollback raised and cleared: {kinds}"
    # the rollback followed the calibration alert and cleared after it cleared
    break_at = kinds.index(("calibration_drift", "raised"))
    assert break_at < kinds.index(("rollback", "raised"))
    assert kinds.index(("calibration_drift", "cleared")) < kinds.index(("rollback", "cleared"))
    served = next(a for a in alerts if a["kind"] == "rollback")["evidence"]["serving_version"]
    assert served <= CLEAN, "rolled back to a model that learned corrupted clicks"

    commands = [
        contracts.decode_command(m.value())
        for m in reader_for(settings).read("control", lambda ms: len(ms) >= 2, 30)
    ]
    assert [(c["cmd"], c["args"]["version"], c["issued_by"]) for c in commands[:2]] == [
        ("rollback", served, AUTO_ROLLBACK),
        ("promote", -1, AUTO_ROLLBACK),
    ]

    # the break is a drift: a challenger trained on the examples since it ran alongside. It
    # starts at the first report tick after the detection, which may come after the break's
    # last example (the learner takes a backlog of thousands of examples between two ticks),
    # but it is trained from within the break.
    challenger = next(
        (a for a in alerts if a["kind"] == "challenger" and a["state"] == "raised"), None
    )
    assert challenger is not None, kinds
    evidence = challenger["evidence"]
    assert evidence["started_at"] >= CLEAN, (evidence, kinds)
    assert evidence["trained_from"] <= CLEAN + CORRUPTED, (evidence, kinds)
    assert evidence["trained_from"] < evidence["started_at"]
    assert evidence["logloss"] > 0 and evidence["champion_logloss"] > 0


REVERSED_AT, AFTER, HELD_BACK = 6_000, 6_000, 3_000


def _reversing_examples(rng: random.Random) -> Iterator[dict[str, Any]]:
    """Click examples of two kinds of feature, clicked 3 % and 50 % of the time, which swap at
    ``REVERSED_AT`` (the click rate stays the same): the model is confidently wrong, its loss
    drifts (about 600 examples in, offline), and a model trained since the change predicts
    better than one that must unlearn (FTRL's steps shrink with what a feature has seen)."""
    for i in range(REVERSED_AT + AFTER):
        feature = rng.randrange(20)
        likely = (feature >= 10) == (i < REVERSED_AT)
        yield _example(i, feature, rng.random() < (0.5 if likely else 0.03))


def _raised(kind: str):
    """On ``alerts``: ``kind`` raised."""
    return lambda messages: any(a["kind"] == kind for a in _alerts(messages))


def test_a_challenger_that_predicts_better_is_promoted_and_its_version_rebuilt_exactly(
    learning, produce, reader_for
) -> None:
    examples = list(_reversing_examples(random.Random(12)))
    settings = learning(
        examples[:-HELD_BACK],
        alert_warmup_examples=3_000,
        responses="*=challenger,promote",
        challenge_examples=2_000,
    )
    # The challenger starts at the first report after the detection; on a backlog the learner
    # may be thousands of examples past it by then. The last examples come once it runs, so
    # that it has its 2,000 to learn.
    started = reader_for(settings).read("alerts", _raised("challenger"), 120)
    assert _raised("challenger")(started), [(a["kind"], a["state"]) for a in _alerts(started)]
    for example in examples[-HELD_BACK:]:
        produce("examples", b"click", contracts.encode(example), settings)

    promoted = _raised("promotion")
    messages = reader_for(settings).read("alerts", promoted, 120)
    alerts = [a for a in _alerts(messages) if a["model"] == "click"]
    kinds = [(a["kind"], a["state"]) for a in alerts]
    assert promoted(messages), kinds
    assert kinds.index(("loss_drift", "raised")) < kinds.index(("challenger", "raised"))
    evidence = next(a for a in alerts if a["kind"] == "promotion")["evidence"]
    assert evidence["version"] > REVERSED_AT and evidence["examples"] == 2_000, evidence
    assert evidence["logloss"] < 0.99 * evidence["champion_logloss"], evidence

    # the promotion is in the lineage of every later snapshot; the last is rebuilt exactly
    total = REVERSED_AT + AFTER
    assert model_reported("click", total)(
        reader_for(settings).read("metrics", model_reported("click", total), 60)
    )
    seq = asyncio.run(send_command(settings, "snapshot", {"model": "click"}, issued_by="t"))
    assert asyncio.run(wait_applied(settings, seq, timeout_s=60))
    written = reader_for(settings).read("models", snapshot_at("click", total), 60)
    assert snapshot_at("click", total)(written), "no snapshot of the final version"
    newest = max(
        (m for m in written if m.key() == b"click"),
        key=lambda m: snapshots.read_metadata(m.value())["version"],
    )
    meta, last = snapshots.load(newest.value(), key=settings.snapshot_key.encode())
    assert meta["version"] == total
    assert evidence["version"] in [p.version for p in last.promotions]
    verdict = asyncio.run(rebuild(settings, "click", total))
    assert verdict.identical and verdict.examples == total, verdict

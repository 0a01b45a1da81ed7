"""WorkerHealth watches the category model with the rules that fit a multiclass model: its
loss, its skill and its staleness (a label rate and a residual are a binary model's)."""

from __future__ import annotations

import random

import pytest

from learners.category_health import CategoryGuess
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.wire.settings import Settings

CLASSES = ("a", "b", "c", "d", "e")


def _example(label: str, at_s: float) -> dict:
    ts = int(at_s * 1000)
    return {"label": label, "ts_event": ts - 250, "ts_label": ts}


def _feed(health: WorkerHealth, n: int, *, skilled: bool, start_s: float = 0.0) -> float:
    """``n`` category examples at 100/s; a skilled model gives the true class 0.9, one without
    skill 0.1 (worse than the class frequencies' 0.2). Returns the time of the last."""
    rng = random.Random(3)
    at_s = start_s
    for i in range(n):
        at_s = start_s + i / 100
        label = rng.choice(CLASSES)
        guess = CategoryGuess(label if skilled else "z", 0.9, 0.9 if skilled else 0.1)
        health.observe_guess("category", _example(label, at_s), guess, at_s)
    return at_s


def _ticks(health: WorkerHealth, counters: Counters, from_s: float, to_s: float):
    """A report tick every 0.5 s while queries are served; the last reports, every record."""
    records, now_s = [], from_s
    while now_s <= to_s:
        counters["read.queries"] += 100
        reports, new = health.tick(now_s, int(now_s * 1000), {}, {})
        records += new
        now_s += 0.5
    return reports, records


def test_a_category_model_without_skill_raises_no_skill_and_nothing_binary():
    counters = Counters()
    health = WorkerHealth(Settings(alert_warmup_examples=1_000), counters, "w")
    last_s = _feed(health, 2_000, skilled=False)
    reports, records = _ticks(health, counters, last_s, last_s + 1.0)
    category = reports["category"]
    assert category["recent"]["accuracy"] == 0.0 and category["recent"]["ne"] > 1.4
    assert category["label_delay_ms"]["p50"] == 250
    assert category["examples_per_s"] == pytest.approx(100, abs=10)
    assert [(r["kind"], r["model"], r["state"]) for r in records] == [
        ("no_skill", "category", "raised")
    ]


def test_a_skilled_category_model_raises_nothing_until_its_labels_stop():
    counters = Counters()
    health = WorkerHealth(Settings(alert_warmup_examples=1_000, stale_after_s=5.0), counters, "w")
    last_s = _feed(health, 2_000, skilled=True)
    reports, records = _ticks(health, counters, last_s, last_s + 4.5)
    assert records == []
    assert reports["category"]["recent"]["calibration"] == pytest.approx(0.9)  # all right
    _, records = _ticks(health, counters, last_s + 5.0, last_s + 6.0)
    assert [(r["kind"], r["model"], r["state"]) for r in records] == [
        ("stale", "category", "raised")
    ]

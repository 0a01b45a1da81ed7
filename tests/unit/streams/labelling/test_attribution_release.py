"""Attribution hands back every input's source exactly once, and only once it left the state:
what lets the join acknowledge inputs late enough to rebuild its state after a crash."""

from __future__ import annotations

import collections
import random

import pytest

from streams.labelling.attribution import Attribution

T0 = 1_700_000_000_000
WINDOW, GRACE, WAIT = 1_000, 100, 500


def _soup(seed: int) -> list[tuple[int, str, dict, dict[str, int]]]:
    """Queries, impressions, clicks and ratings with every oddity the join handles: duplicates,
    orphans, early and late feedback, unknown impressions; slightly out of order."""
    rng = random.Random(seed)
    events: list[tuple[int, str, dict, dict[str, int]]] = []
    offsets: collections.Counter[str] = collections.Counter()

    def add(ts: int, kind: str, event: dict) -> None:
        position = f"{kind}:0"
        events.append((ts, kind, event, {position: offsets[position]}))
        offsets[position] += 1

    for i in range(300):
        ts = T0 + 37 * i
        event_id, impression_id = f"q{i}", f"i{i}"
        query = {"event_id": event_id, "ts": ts, "candidates": [{"ad_id": "a"}]}
        if rng.random() > 0.05:  # else the impression is an orphan
            add(ts, "query", query)
        if rng.random() < 0.05:
            add(ts, "query", query)  # duplicate
        impression = {"impression_id": impression_id, "event_id": event_id, "ad_id": "a"}
        add(ts + 5, "impression", {**impression, "ts": ts + 5})
        if rng.random() < 0.05:
            add(ts + 6, "impression", {**impression, "ts": ts + 5})  # duplicate
        for kind in ("click", "rating"):
            if rng.random() < 0.4:
                delay = rng.choice([-3, 50, 400, WINDOW + 200])  # early, in window, late
                feedback = {"impression_id": impression_id, "ts": ts + 5 + delay, "quality": 0.5}
                add(ts + 5 + delay, kind, feedback)
                if rng.random() < 0.1:
                    add(ts + 6 + delay, kind, feedback)  # duplicate
        if rng.random() < 0.02:
            add(ts, "click", {"impression_id": "nobody", "ts": ts})  # unknown impression
    events.sort(key=lambda event: event[0] + rng.randint(-20, 20))  # a little out of order
    return events


@pytest.mark.parametrize("seed", range(5))
def test_every_source_is_released_exactly_once_after_it_leaves_the_state(seed: int) -> None:
    join = Attribution(window_ms=WINDOW, grace_ms=GRACE, wait_ms=WAIT)
    given: list[tuple[str, int]] = []
    released: list[tuple[str, int]] = []
    done: set[tuple[str, int]] = set()  # impressions labelled, rejected, or found duplicate
    seen_impressions: set[str] = set()
    add = {"click": join.add_click, "rating": join.add_rating, "impression": join.add_impression}
    events = _soup(seed)
    for step, (ts, kind, event, source) in enumerate(events):
        given.append(next(iter(source.items())))
        if kind == "query":
            join.add_query(event, source)
        else:
            if kind == "impression":
                if event["impression_id"] in seen_impressions:
                    done.add(next(iter(source.items())))
                seen_impressions.add(event["impression_id"])
            add[kind](event, source)
        if step % 7 == 0 or step == len(events) - 1:
            watermark = ts - 50 if step < len(events) - 1 else ts + 100 * WINDOW
            for label in join.advance(watermark):
                done.add(next(iter(label.source.items())))
            for _, _, origin in join.take_rejected():
                done.add(next(iter(origin.items())))
            for items in join.take_released():
                for item in items.items():
                    if item[0] == "impression:0":
                        assert item in done, f"impression {item} released while still held"
                    released.append(item)
    assert collections.Counter(released) == collections.Counter(given)
    assert len(join) == 0 or join.advance(T0 + 10**9) == []
    assert join.take_released() == []


def test_a_query_outlives_the_impressions_made_within_its_wait() -> None:
    join = Attribution(window_ms=WINDOW, grace_ms=GRACE, wait_ms=WAIT)
    join.add_query({"event_id": "q", "ts": T0, "candidates": []}, {"query:0": 0})
    join.add_impression({"impression_id": "i", "event_id": "q", "ts": T0 + WAIT}, {"imp:0": 0})
    assert join.advance(T0 + WAIT + WINDOW + GRACE - 1) == []
    assert join.take_released() == []
    assert len(join.advance(T0 + WAIT + WINDOW + GRACE)) == 1
    assert sorted(item for source in join.take_released() for item in source.items()) == [
        ("imp:0", 0),
        ("query:0", 0),
    ]

"""Click attribution: queries + impressions + clicks -> labels, driven by an event-time watermark.

The join is pure: events go in, the test advances the watermark, labels and rejections come
out. No clock, no sleeps. Feeding an event never returns a label: every label, positive or
negative, comes out of ``advance`` once the watermark passes its impression's window and grace.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.labelling.attribution import Attribution, Label, Watermark

WINDOW = 1_000
GRACE = 200
WAIT = 5_000
T0 = 1_700_000_000_000
FAR = T0 + 10**9
LATER = FAR + 10**9  # closed ids are remembered for 10 windows after they close, at FAR


def drain(join: Attribution) -> list[Label]:
    """Advance far beyond everything: close every window, then forget every closed id."""
    return join.advance(FAR) + join.advance(LATER)


def new_join(**overrides: int) -> Attribution:
    return Attribution(
        **{"window_ms": WINDOW, "grace_ms": GRACE, "wait_ms": WAIT, **overrides}  # type: ignore[arg-type]
    )


def q(event_id: str, ts: int = T0) -> dict[str, Any]:
    return {"event_id": event_id, "ts": ts, "candidates": [{"ad_id": "a1"}]}


def imp(impression_id: str, event_id: str = "e1", ts: int = T0 + 10) -> dict[str, Any]:
    return {"impression_id": impression_id, "event_id": event_id, "ad_id": "a1", "ts": ts}


def clk(impression_id: str, ts: int) -> dict[str, Any]:
    return {"impression_id": impression_id, "ts": ts}


def imp_src(offset: int) -> dict[str, int]:
    return {"adstream.impressions:0": offset}


def clk_src(offset: int) -> dict[str, int]:
    return {"adstream.clicks:1": offset}


def labelled(labels: list[Label]) -> list[tuple[str, float]]:
    return [(label.impression["impression_id"], label.label) for label in labels]


# --------------------------------------------------------------------------- clicks


def test_click_within_window_is_a_positive_label_when_the_window_closes_with_both_sources() -> None:
    join = new_join()
    assert join.add_query(q("e1")) is None
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(5)) is None
    assert join.add_click(clk("i1", T0 + 10 + WINDOW), clk_src(9)) is None  # window is inclusive
    deadline = T0 + 10 + WINDOW + GRACE
    assert join.advance(deadline - 1) == [], "a positive waits for its window to close"
    labels = join.advance(deadline + 1)
    assert len(labels) == 1
    label = labels[0]
    assert label.label == 1.0
    assert label.impression["impression_id"] == "i1"
    assert label.query["event_id"] == "e1"
    assert label.ts_label == T0 + 10 + WINDOW
    assert label.source == {"adstream.impressions:0": 5, "adstream.clicks:1": 9}
    assert join.advance(FAR) == [], "a labelled impression is never labelled again"


@pytest.mark.parametrize("grace", [0, GRACE])
def test_positive_is_not_emitted_before_its_window_and_grace_close(grace: int) -> None:
    """A click right after the impression still waits, exactly as long as a negative would."""
    join = new_join(grace_ms=grace)
    join.add_query(q("e1", T0))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert join.add_click(clk("i1", T0 + 1), clk_src(2)) is None
    assert join.advance(T0 + 1) == []
    assert join.advance(T0 + WINDOW + grace - 1) == []
    labels = join.advance(T0 + WINDOW + grace + 1)
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].ts_label == T0 + 1


def test_positive_does_not_overtake_the_negative_of_an_earlier_impression() -> None:
    """Labels come out in window order, whatever their value: no positives ahead of negatives."""
    join = new_join()
    join.add_query(q("e1", T0))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    join.add_impression(imp("i2", ts=T0 + 100), imp_src(2))
    join.add_click(clk("i2", T0 + 150), clk_src(3))  # i2 clicked long before i1's window closes
    assert join.advance(T0 + WINDOW + GRACE - 1) == []
    assert labelled(join.advance(T0 + WINDOW + GRACE + 1)) == [("i1", 0.0)]
    assert join.advance(T0 + 100 + WINDOW + GRACE - 1) == []
    assert labelled(join.advance(T0 + 100 + WINDOW + GRACE + 1)) == [("i2", 1.0)]


def test_no_click_is_a_negative_only_once_the_watermark_passes_window_and_grace() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1", ts=T0), imp_src(5))
    deadline = T0 + WINDOW + GRACE
    assert join.advance(T0 + WINDOW) == [], "the grace period is for clicks still in flight"
    assert join.advance(deadline - 1) == []
    labels = join.advance(deadline + 1)
    assert labelled(labels) == [("i1", 0.0)]
    assert labels[0].ts_label == T0 + WINDOW
    assert labels[0].source == imp_src(5)
    assert labels[0].query == q("e1")
    assert join.advance(FAR) == []


def test_click_during_grace_but_within_window_is_still_a_positive() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert join.advance(T0 + WINDOW + GRACE // 2) == []
    assert join.add_click(clk("i1", T0 + WINDOW - 1), clk_src(2)) is None
    labels = join.advance(T0 + WINDOW + GRACE + 1)
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].ts_label == T0 + WINDOW - 1
    assert join.counts["late_clicks"] == 0


def test_click_after_window_is_late_and_the_impression_still_becomes_a_negative() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert join.add_click(clk("i1", T0 + WINDOW + 1), clk_src(2)) is None
    assert join.counts["late_clicks"] == 1
    labels = join.advance(T0 + WINDOW + GRACE + 1)
    assert labelled(labels) == [("i1", 0.0)]
    assert labels[0].ts_label == T0 + WINDOW
    assert labels[0].source == imp_src(1), "a late click's position is not part of the label"


def test_click_arriving_after_its_impression_closed_is_counted_late() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert labelled(join.advance(T0 + WINDOW + GRACE + 1)) == [("i1", 0.0)]
    assert join.add_click(clk("i1", T0 + 50), clk_src(2)) is None  # in window, arrived too late
    assert join.counts["late_clicks"] == 1
    assert join.advance(FAR) == [], "the closed impression is not relabelled"
    assert join.take_rejected() == [], "a late click is counted, not an unknown one"


def test_duplicate_click_is_counted_once() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1"), imp_src(1))
    assert join.add_click(clk("i1", T0 + 100), clk_src(2)) is None
    assert join.add_click(clk("i1", T0 + 100), clk_src(3)) is None
    assert join.add_click(clk("i1", T0 + 200), clk_src(4)) is None
    assert join.counts["duplicate_clicks"] == 2
    labels = join.advance(FAR)
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].ts_label == T0 + 100
    assert labels[0].source == {**imp_src(1), **clk_src(2)}, "the first click is the one kept"
    assert join.advance(LATER) == []
    assert join.take_rejected() == []


def test_duplicate_click_before_the_query_arrives_gives_one_positive() -> None:
    join = new_join()
    assert join.add_impression(imp("i1"), imp_src(1)) is None
    assert join.add_click(clk("i1", T0 + 100), clk_src(2)) is None
    assert join.add_click(clk("i1", T0 + 100), clk_src(3)) is None
    assert join.add_query(q("e1")) is None
    assert join.counts["duplicate_clicks"] == 1
    labels = join.advance(FAR)
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].query == q("e1")
    assert join.advance(LATER) == []


def test_duplicate_early_clicks_are_counted_once() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_click(clk("i1", T0 + 100), clk_src(2))
    join.add_click(clk("i1", T0 + 100), clk_src(3))
    assert join.counts["duplicate_clicks"] == 1
    assert join.add_impression(imp("i1"), imp_src(1)) is None
    assert join.counts["duplicate_clicks"] == 1, "replaying the kept early click is no duplicate"
    assert labelled(join.advance(FAR)) == [("i1", 1.0)]
    assert join.advance(LATER) == []
    assert join.counts["unknown_clicks"] == 0


def test_early_click_becomes_a_positive_when_its_impression_arrives() -> None:
    join = new_join()
    join.add_query(q("e1"))
    assert join.add_click(clk("i1", T0 + 100), clk_src(7)) is None
    assert join.advance(T0 + 100 + WAIT - 1) == []
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(3)) is None
    labels = join.advance(FAR)
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].source == {**imp_src(3), **clk_src(7)}
    assert labels[0].ts_label == T0 + 100
    assert join.take_rejected() == []
    assert join.counts["unknown_clicks"] == 0


def test_early_clicks_out_of_order_keep_the_one_within_the_window() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_click(clk("i1", T0 + 10 + WINDOW + 500), clk_src(7))  # late, but read first
    join.add_click(clk("i1", T0 + 300), clk_src(8))
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(3)) is None
    labels = join.advance(FAR)
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].ts_label == T0 + 300
    assert labels[0].source == {**imp_src(3), **clk_src(8)}


def test_early_click_outside_the_window_of_its_impression_is_late() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_click(clk("i1", T0 + 10 + WINDOW + 1), clk_src(7))
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(3)) is None
    assert join.counts["late_clicks"] == 1
    assert labelled(join.advance(FAR)) == [("i1", 0.0)]


def test_click_whose_impression_never_arrives_is_rejected_after_the_wait() -> None:
    join = new_join()
    join.add_query(q("e1"))
    click = clk("ghost", T0 + 100)
    join.add_click(click, clk_src(7))
    assert join.advance(T0 + 100 + WAIT - 1) == []
    assert join.take_rejected() == [], "its impression may still be on its way"
    assert join.advance(T0 + 100 + WAIT + 1) == []
    rejected = join.take_rejected()
    assert len(rejected) == 1
    reason, event, source = rejected[0]
    assert "unknown impression" in reason
    assert event == click
    assert source == clk_src(7)
    assert join.counts["unknown_clicks"] == 1
    assert join.take_rejected() == [], "take_rejected hands each rejection over once"


# --------------------------------------------------------------------------- queries


def test_impression_before_its_query_is_labelled_once_the_query_arrived_and_it_closes() -> None:
    join = new_join()
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(1)) is None
    assert join.add_impression(imp("i2", ts=T0 + 10), imp_src(2)) is None
    assert join.add_click(clk("i1", T0 + 300), clk_src(3)) is None
    assert join.add_query(q("e1")) is None
    assert join.advance(T0 + 10 + WINDOW + GRACE - 1) == []
    labels = join.advance(T0 + 10 + WINDOW + GRACE + 1)
    assert sorted(labelled(labels)) == [("i1", 1.0), ("i2", 0.0)]
    assert [label.query for label in labels] == [q("e1"), q("e1")]
    assert {label.ts_label for label in labels} == {T0 + 300, T0 + 10 + WINDOW}
    assert join.take_rejected() == []


def test_impression_whose_query_never_arrives_is_rejected_as_an_orphan() -> None:
    join = new_join()
    impression = imp("i1", event_id="lost", ts=T0)
    join.add_impression(impression, imp_src(4))
    assert join.advance(T0 + WINDOW + GRACE - 1) == []
    assert join.take_rejected() == []
    assert join.advance(T0 + WINDOW + GRACE + 1) == []
    rejected = join.take_rejected()
    assert len(rejected) == 1
    reason, event, source = rejected[0]
    assert "without a known query" in reason
    assert event == impression
    assert source == imp_src(4)
    assert join.counts["orphan_impressions"] == 1
    assert join.add_query(q("lost", ts=T0)) is None
    assert join.advance(T0 + WINDOW + GRACE + 2) == [], "an orphan is not labelled later"
    assert join.advance(FAR) == []


def test_clicked_orphan_is_rejected_at_its_own_position_first() -> None:
    """The dead-letter record names one position: the impression's own comes first."""
    join = new_join()
    join.add_impression(imp("i1", event_id="lost", ts=T0), imp_src(4))
    join.add_click(clk("i1", T0 + 100), clk_src(8))
    join.advance(FAR)
    ((reason, event, source),) = join.take_rejected()
    assert "without a known query" in reason
    assert event["impression_id"] == "i1"
    assert next(iter(source.items())) == ("adstream.impressions:0", 4)


def test_an_orphaned_impression_does_not_orphan_later_ones_of_the_same_query() -> None:
    """i1 times out waiting for e1; i2 (same query, shown later) must still get e1."""
    join = new_join()
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    join.add_impression(imp("i2", ts=T0 + 3_000), imp_src(2))
    join.advance(T0 + WINDOW + GRACE + 1)
    assert [event["impression_id"] for _, event, _ in join.take_rejected()] == ["i1"]
    assert join.add_query(q("e1", ts=T0)) is None
    assert join.advance(T0 + 3_000 + WINDOW + GRACE - 1) == []
    assert labelled(join.advance(T0 + 3_000 + WINDOW + GRACE + 1)) == [("i2", 0.0)]
    assert join.counts["orphan_impressions"] == 1


def test_query_is_forgotten_after_its_wait_window_and_grace() -> None:
    join = new_join()
    join.add_query(q("e1", ts=T0))
    join.advance(T0 + WAIT + WINDOW + GRACE + 1)
    join.add_impression(imp("i1", ts=T0 + WAIT + WINDOW + GRACE + 2), imp_src(1))
    assert join.advance(FAR) == []
    assert join.counts["orphan_impressions"] == 1


def test_duplicate_impression_is_counted_and_labelled_once() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1"), imp_src(1))
    assert join.add_impression(imp("i1"), imp_src(2)) is None
    labels = join.advance(FAR - 1)
    assert labelled(labels) == [("i1", 0.0)]
    assert labels[0].source == imp_src(1), "the first copy is the one labelled"
    assert join.add_impression(imp("i1"), imp_src(3)) is None
    assert join.advance(FAR) == [], "closed ids are remembered"
    assert join.counts["duplicate_impressions"] == 2


# --------------------------------------------------------------------------- memory


def test_memory_is_released_once_the_watermark_passes_everything() -> None:
    join = new_join()
    for n in range(50):
        ts = T0 + 100 * n
        join.add_query(q(f"e{n}", ts))
        join.add_impression(imp(f"i{n}", f"e{n}", ts + 5), imp_src(n))
        join.add_impression(imp(f"j{n}", f"missing{n}", ts + 5), imp_src(1000 + n))
        if n % 3 == 0:
            join.add_click(clk(f"i{n}", ts + 50), clk_src(n))
        if n % 5 == 0:
            join.add_click(clk(f"ghost{n}", ts + 50), clk_src(2000 + n))
    assert len(join) > 0
    labels = join.advance(FAR)
    assert len(join) > 0, "closed ids are remembered a while, for late and duplicate clicks"
    assert join.advance(FAR + 10 * WINDOW) == []
    assert len(join) == 0
    assert len(labels) == 50, "every joinable impression, clicked or not, labelled at its close"
    assert sorted(label.impression["impression_id"] for label in labels) == sorted(
        f"i{n}" for n in range(50)
    )
    positives = {label.impression["impression_id"] for label in labels if label.label == 1.0}
    assert positives == {f"i{n}" for n in range(0, 50, 3)}
    assert join.counts["orphan_impressions"] == 50
    assert join.counts["unknown_clicks"] == 10
    assert len(join.take_rejected()) == 60


def test_memory_is_bounded_while_streaming() -> None:
    join = new_join()
    held = []
    for n in range(2_000):
        ts = T0 + 10 * n
        join.add_query(q(f"e{n}", ts))
        join.add_impression(imp(f"i{n}", f"e{n}", ts), imp_src(n))
        if n % 4 == 0:
            join.add_click(clk(f"i{n}", ts + 20), clk_src(n))
        join.advance(ts)
        held.append(len(join))
    # queries live wait+window, closed ids 10 windows: about (5 + 1 + 10) s at 100 events/s
    assert max(held) < 2 * (WAIT + WINDOW + 10 * WINDOW) // 10
    assert max(held[1_000:]) <= max(held[:1_500]), "it plateaus instead of growing"


# --------------------------------------------------------------------------- watermark


def starve_clicks(join: Attribution, marks: Watermark, *, behind: set[str]) -> list[Label]:
    """Impression i1 read, then 19 s of impressions far past its window while the clicks
    partition, read up to i1's time, delivers nothing; the labels that closes."""
    marks.observe("clicks:1", T0, now_ms=0)
    join.add_query(q("e1"))
    join.add_impression(imp("i1"), imp_src(1))
    labels = []
    for n in range(1, 20):
        marks.observe("impressions:0", T0 + n * WINDOW, now_ms=n * 1_000)
        labels += join.advance(marks.current(now_ms=n * 1_000, behind=behind))
    return labels


def test_a_starved_click_partition_holds_windows_open_until_its_click_is_read() -> None:
    """The worker case: the click is on the log, but its partition is starved for longer than
    the idle time (a slow fetch, a paused worker). Behind, it still holds the watermark."""
    join, marks = new_join(), Watermark(idle_ms=5_000)
    assert starve_clicks(join, marks, behind={"clicks:1"}) == []
    join.add_click(clk("i1", T0 + 20), clk_src(2))
    marks.observe("clicks:1", T0 + 20 * WINDOW, now_ms=20_000)
    assert labelled(join.advance(marks.current(now_ms=20_000))) == [("i1", 1.0)]


def test_a_quiet_click_partition_read_to_its_end_holds_nothing_back() -> None:
    join, marks = new_join(), Watermark(idle_ms=5_000)
    assert labelled(starve_clicks(join, marks, behind=set())) == [("i1", 0.0)]


def test_advancing_once_per_batch_gives_the_labels_of_advancing_once_per_event() -> None:
    """The join agent advances the watermark once per batch: that changes when labels come
    out, never which."""

    def labels(batch: int) -> list[tuple[str, float]]:
        join, out = new_join(), []
        for n in range(1_000):
            ts = T0 + 37 * n
            join.add_query(q(f"e{n}", ts))
            join.add_impression(imp(f"i{n}", f"e{n}", ts + 5), imp_src(n))
            if n % 7 == 0:
                join.add_click(clk(f"i{n - 3}" if n > 3 else f"i{n}", ts + 20), clk_src(n))
            if n % batch == batch - 1:
                out += labelled(join.advance(ts))
        return sorted(out + labelled(drain(join)))

    per_event = labels(1)
    assert per_event == labels(50) == labels(333)
    assert {label for _, label in per_event} == {0.0, 1.0}


# --------------------------------------------------------------------------- properties


@st.composite
def scenarios(
    draw: st.DrawFn, max_queries: int = 4
) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """Queries, impressions (some of unknown queries) and clicks (some late, some duplicate)."""
    n_queries = draw(st.integers(1, max_queries))
    query_ts = [T0 + draw(st.integers(0, 3_000)) for _ in range(n_queries)]
    events: list[tuple[str, Any]] = [("query", q(f"e{n}", ts)) for n, ts in enumerate(query_ts)]
    truth: dict[str, Any] = {}
    for n in range(draw(st.integers(0, 8))):
        which = draw(st.integers(0, n_queries))  # == n_queries: a query that never arrives
        event_id = f"e{which}"
        ts = (query_ts[which] if which < n_queries else T0) + draw(st.integers(0, WAIT // 2))
        impression_id = f"i{n}"
        events.append(("impression", imp(impression_id, event_id, ts)))
        offsets = draw(st.lists(st.integers(0, 2 * WINDOW), max_size=3))
        events += [("click", clk(impression_id, ts + offset)) for offset in offsets]
        truth[impression_id] = {
            "known": which < n_queries,
            "ts": ts,
            "deadline": ts + WINDOW + GRACE,
            "query_ts": query_ts[which] if which < n_queries else None,
            "event_id": event_id,
            "clicked": any(offset <= WINDOW for offset in offsets),
            "click_ts": {ts + offset for offset in offsets if offset <= WINDOW},
        }
    return events, truth


def feed(join: Attribution, kind: str, event: dict[str, Any], offset: int) -> None:
    """Feed one event; feeding never labels anything, only ``advance`` does."""
    if kind == "query":
        result = join.add_query(event)
    elif kind == "impression":
        result = join.add_impression(event, imp_src(offset))
    else:
        result = join.add_click(event, clk_src(offset))
    assert result is None, f"feeding a {kind} returned {result!r}"


def check_label_fields(label: Label, expected: dict[str, Any], impression_offset: int) -> None:
    """A label's timestamp and positions agree with its value."""
    assert label.query["event_id"] == expected["event_id"]
    assert label.source["adstream.impressions:0"] == impression_offset
    if label.label == 1.0:
        assert label.ts_label in expected["click_ts"], "a positive is timed by a click in window"
        assert "adstream.clicks:1" in label.source
    else:
        assert label.label == 0.0
        assert label.ts_label == expected["ts"] + WINDOW
        assert set(label.source) == {"adstream.impressions:0"}


def impression_offsets(order: list[tuple[str, Any]]) -> dict[str, int]:
    return {
        event["impression_id"]: offset
        for offset, (kind, event) in enumerate(order)
        if kind == "impression"
    }


@given(data=st.data(), scenario=scenarios())
@settings(max_examples=300)
def test_any_arrival_order_labels_each_joinable_impression_exactly_once(
    data: st.DataObject, scenario: tuple[list[tuple[str, Any]], dict[str, Any]]
) -> None:
    events, truth = scenario
    order = data.draw(st.permutations(events), label="arrival order")
    join = new_join()
    for offset, (kind, event) in enumerate(order):
        feed(join, kind, event, offset)
    if truth:
        first_close = min(t["deadline"] for t in truth.values())
        assert join.advance(first_close - 1) == [], "no label before its window closes"
    labels = drain(join)

    ids = [label.impression["impression_id"] for label in labels]
    assert sorted(ids) == sorted(i for i, t in truth.items() if t["known"])
    offsets = impression_offsets(order)
    for label in labels:
        impression_id = label.impression["impression_id"]
        expected = truth[impression_id]
        assert label.label == (1.0 if expected["clicked"] else 0.0)
        check_label_fields(label, expected, offsets[impression_id])
    orphans = [
        event["impression_id"] for reason, event, _ in join.take_rejected() if "query" in reason
    ]
    assert sorted(orphans) == sorted(i for i, t in truth.items() if not t["known"])
    assert len(join) == 0


@given(data=st.data(), scenario=scenarios())
@settings(max_examples=300)
def test_with_a_correct_watermark_every_joinable_impression_gets_its_true_label(
    data: st.DataObject, scenario: tuple[list[tuple[str, Any]], dict[str, Any]]
) -> None:
    """Events arrive in any order, but the watermark never passes an event not yet read."""
    events, truth = scenario
    order = data.draw(st.permutations(events), label="arrival order")
    join = new_join()
    emitted: list[tuple[Label, int]] = []  # (label, watermark that released it)
    for offset, (kind, event) in enumerate(order):
        feed(join, kind, event, offset)
        unread = [later["ts"] for _, later in order[offset + 1 :]]
        watermark = min(unread) - 1 if unread else FAR
        emitted += [(label, watermark) for label in join.advance(watermark)]
    emitted += [(label, LATER) for label in drain(join)]

    offsets = impression_offsets(order)
    for label, watermark in emitted:
        impression_id = label.impression["impression_id"]
        assert watermark >= truth[impression_id]["deadline"], "label before its window closed"
        check_label_fields(label, truth[impression_id], offsets[impression_id])
    by_id = {label.impression["impression_id"]: label.label for label, _ in emitted}
    assert len(by_id) == len(emitted), "one label per impression"
    assert by_id == {i: float(t["clicked"]) for i, t in truth.items() if t["known"]}
    assert len(join) == 0


@given(data=st.data(), scenario=scenarios(max_queries=2))
@settings(max_examples=500)
def test_with_any_watermark_each_impression_has_one_justified_outcome(
    data: st.DataObject, scenario: tuple[list[tuple[str, Any]], dict[str, Any]]
) -> None:
    """Watermarks jump arbitrarily: outcomes may be negatives or orphans, but never wrong ones.

    Each impression ends as exactly one label or one orphan rejection; no label, positive or
    negative, comes before its window and grace have passed; a positive always has a click
    within the window, already read; a negative despite such a click already read needs that
    click to have been given up on as unknown (it waited longer than the wait for its
    impression); an impression is an orphan only if its query had not arrived when its window
    closed, or had already been forgotten when the impression arrived.
    """
    events, truth = scenario
    order = data.draw(st.permutations(events), label="arrival order")
    jumps = data.draw(st.lists(st.integers(0, 4_000), min_size=len(order), max_size=len(order)))
    join = new_join()
    watermark = 0
    query_step: dict[str, int] = {}  # event id -> step at which the query was fed
    arrival_watermark: dict[str, int] = {}  # impression id -> watermark when it was fed
    in_window_click_steps: dict[str, list[int]] = {i: [] for i in truth}
    unknown_click_steps: dict[str, list[int]] = {i: [] for i in truth}
    outcomes: dict[str, list[tuple[str, float | None, int, int]]] = {i: [] for i in truth}

    def record(step: int) -> None:
        for label in join.advance(watermark):
            outcomes[label.impression["impression_id"]].append(
                ("label", label.label, watermark, step)
            )
        for reason, rejected, _ in join.take_rejected():
            if "query" in reason:
                outcomes[rejected["impression_id"]].append(("orphan", None, watermark, step))
            else:
                unknown_click_steps[rejected["impression_id"]].append(step)

    for step, ((kind, event), jump) in enumerate(zip(order, jumps, strict=True)):
        feed(join, kind, event, step)
        if kind == "query":
            query_step[event["event_id"]] = step
        elif kind == "impression":
            arrival_watermark[event["impression_id"]] = watermark
        elif event["ts"] in truth[event["impression_id"]]["click_ts"]:
            in_window_click_steps[event["impression_id"]].append(step)
        watermark = max(watermark, T0 + jump)
        record(step)
    watermark = FAR
    record(len(order))
    watermark = LATER
    record(len(order) + 1)

    for impression_id, found in outcomes.items():
        expected = truth[impression_id]
        assert len(found) == 1, f"{impression_id}: {found}"
        ((kind, label, at, step),) = found
        if kind == "label":
            assert expected["known"], "a label needs the query"
            assert at >= expected["deadline"], f"label {label} before its window closed"
            click_read = any(fed <= step for fed in in_window_click_steps[impression_id])
            if label == 1.0:
                assert expected["clicked"], "a positive needs a click within the window"
                assert click_read, "a positive needs that click to have been read"
            elif click_read:
                assert any(gave_up <= step for gave_up in unknown_click_steps[impression_id]), (
                    f"{impression_id}: negative though a click within the window was read"
                )
        elif expected["known"]:
            fed = query_step.get(expected["event_id"])
            query_came_later = fed is None or fed > step
            query_forgotten = arrival_watermark[impression_id] >= (
                expected["query_ts"] + WAIT + WINDOW
            )
            assert query_came_later or query_forgotten, (
                f"{impression_id} orphaned at step {step} though its query came at step {fed}"
            )
    assert len(join) == 0


@pytest.mark.parametrize("grace", [0, GRACE])
def test_negative_waits_for_exactly_window_plus_grace(grace: int) -> None:
    join = new_join(grace_ms=grace)
    join.add_query(q("e1", T0))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert join.advance(T0 + WINDOW + grace - 1) == []
    assert labelled(join.advance(T0 + WINDOW + grace + 1)) == [("i1", 0.0)]

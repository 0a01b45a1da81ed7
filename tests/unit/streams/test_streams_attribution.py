"""Click attribution: queries + impressions + clicks -> labels, driven by an event-time watermark.

The join is pure: events go in, the test advances the watermark, labels and rejections come
out. No clock, no sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.attribution import Attribution, Label

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


def test_click_within_window_is_a_positive_label_at_once_with_both_sources() -> None:
    join = new_join()
    assert join.add_query(q("e1")) == []
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(5)) == []
    labels = join.add_click(clk("i1", T0 + 10 + WINDOW), clk_src(9))  # the window is inclusive
    assert len(labels) == 1
    label = labels[0]
    assert label.label == 1.0
    assert label.impression["impression_id"] == "i1"
    assert label.query["event_id"] == "e1"
    assert label.ts_label == T0 + 10 + WINDOW
    assert label.source == {"adstream.impressions:0": 5, "adstream.clicks:1": 9}
    assert join.advance(FAR) == [], "a labelled impression is never labelled again"


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
    assert labelled(join.add_click(clk("i1", T0 + WINDOW - 1), clk_src(2))) == [("i1", 1.0)]


def test_click_after_window_is_late_and_the_impression_still_becomes_a_negative() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert join.add_click(clk("i1", T0 + WINDOW + 1), clk_src(2)) == []
    assert join.counts["late_clicks"] == 1
    assert labelled(join.advance(T0 + WINDOW + GRACE + 1)) == [("i1", 0.0)]


def test_click_arriving_after_its_impression_closed_is_counted_late() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1", ts=T0), imp_src(1))
    assert labelled(join.advance(T0 + WINDOW + GRACE + 1)) == [("i1", 0.0)]
    assert join.add_click(clk("i1", T0 + 50), clk_src(2)) == []  # in window, arrived too late
    assert join.counts["late_clicks"] == 1
    assert join.take_rejected() == [], "a late click is counted, not an unknown one"


def test_duplicate_click_is_counted_once() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1"), imp_src(1))
    assert labelled(join.add_click(clk("i1", T0 + 100), clk_src(2))) == [("i1", 1.0)]
    assert join.add_click(clk("i1", T0 + 100), clk_src(3)) == []
    assert join.add_click(clk("i1", T0 + 200), clk_src(4)) == []
    assert join.counts["duplicate_clicks"] == 2
    assert join.advance(FAR) == []
    assert join.take_rejected() == []


def test_duplicate_click_before_the_query_arrives_gives_one_positive() -> None:
    join = new_join()
    join.add_impression(imp("i1"), imp_src(1))
    assert join.add_click(clk("i1", T0 + 100), clk_src(2)) == []
    assert join.add_click(clk("i1", T0 + 100), clk_src(3)) == []
    assert labelled(join.add_query(q("e1"))) == [("i1", 1.0)]
    assert join.counts["duplicate_clicks"] == 1
    assert join.advance(FAR) == []


def test_duplicate_early_clicks_are_counted_once() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_click(clk("i1", T0 + 100), clk_src(2))
    join.add_click(clk("i1", T0 + 100), clk_src(3))
    assert join.counts["duplicate_clicks"] == 1
    assert labelled(join.add_impression(imp("i1"), imp_src(1))) == [("i1", 1.0)]


def test_early_click_becomes_a_positive_when_its_impression_arrives() -> None:
    join = new_join()
    join.add_query(q("e1"))
    assert join.add_click(clk("i1", T0 + 100), clk_src(7)) == []
    assert join.advance(T0 + 100 + WAIT - 1) == []
    labels = join.add_impression(imp("i1", ts=T0 + 10), imp_src(3))
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].source == {**imp_src(3), **clk_src(7)}
    assert labels[0].ts_label == T0 + 100
    join.advance(FAR)
    assert join.take_rejected() == []
    assert join.counts["unknown_clicks"] == 0


def test_early_clicks_out_of_order_keep_the_one_within_the_window() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_click(clk("i1", T0 + 10 + WINDOW + 500), clk_src(7))  # late, but read first
    join.add_click(clk("i1", T0 + 300), clk_src(8))
    labels = join.add_impression(imp("i1", ts=T0 + 10), imp_src(3))
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].ts_label == T0 + 300
    assert labels[0].source == {**imp_src(3), **clk_src(8)}


def test_early_click_outside_the_window_of_its_impression_is_late() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_click(clk("i1", T0 + 10 + WINDOW + 1), clk_src(7))
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(3)) == []
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


def test_impression_before_its_query_is_labelled_when_the_query_arrives() -> None:
    join = new_join()
    assert join.add_impression(imp("i1", ts=T0 + 10), imp_src(1)) == []
    assert join.add_impression(imp("i2", ts=T0 + 10), imp_src(2)) == []
    assert join.add_click(clk("i1", T0 + 300), clk_src(3)) == []
    labels = join.add_query(q("e1"))
    assert labelled(labels) == [("i1", 1.0)]
    assert labels[0].query == q("e1")
    negatives = join.advance(T0 + 10 + WINDOW + GRACE + 1)
    assert labelled(negatives) == [("i2", 0.0)]
    assert negatives[0].query == q("e1")


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
    assert join.add_query(q("lost", ts=T0)) == [], "an orphan is not labelled later"
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
    assert join.add_query(q("e1", ts=T0)) == []
    assert labelled(join.advance(T0 + 3_000 + WINDOW + GRACE + 1)) == [("i2", 0.0)]
    assert join.counts["orphan_impressions"] == 1


def test_query_is_forgotten_after_its_wait_and_window() -> None:
    join = new_join()
    join.add_query(q("e1", ts=T0))
    join.advance(T0 + WAIT + WINDOW + 1)
    join.add_impression(imp("i1", ts=T0 + WAIT + WINDOW + 2), imp_src(1))
    assert join.advance(FAR) == []
    assert join.counts["orphan_impressions"] == 1


def test_duplicate_impression_is_counted_and_labelled_once() -> None:
    join = new_join()
    join.add_query(q("e1"))
    join.add_impression(imp("i1"), imp_src(1))
    assert join.add_impression(imp("i1"), imp_src(2)) == []
    assert labelled(join.advance(FAR - 1)) == [("i1", 0.0)]
    assert join.add_impression(imp("i1"), imp_src(3)) == [], "closed ids are remembered"
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
    assert len(labels) == 50 - 17, "the clicked ones were labelled on arrival"
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
            "query_ts": query_ts[which] if which < n_queries else None,
            "event_id": event_id,
            "clicked": any(offset <= WINDOW for offset in offsets),
        }
    return events, truth


def feed(join: Attribution, kind: str, event: dict[str, Any], offset: int) -> list[Label]:
    if kind == "query":
        return join.add_query(event)
    if kind == "impression":
        return join.add_impression(event, imp_src(offset))
    return join.add_click(event, clk_src(offset))


@given(data=st.data(), scenario=scenarios())
@settings(max_examples=300)
def test_any_arrival_order_labels_each_joinable_impression_exactly_once(
    data: st.DataObject, scenario: tuple[list[tuple[str, Any]], dict[str, Any]]
) -> None:
    events, truth = scenario
    order = data.draw(st.permutations(events), label="arrival order")
    join = new_join()
    labels: list[Label] = []
    for offset, (kind, event) in enumerate(order):
        labels += feed(join, kind, event, offset)
    labels += drain(join)

    ids = [label.impression["impression_id"] for label in labels]
    assert sorted(ids) == sorted(i for i, t in truth.items() if t["known"])
    for label in labels:
        expected = truth[label.impression["impression_id"]]
        assert label.label == (1.0 if expected["clicked"] else 0.0)
        assert label.query["event_id"] == expected["event_id"]
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
    labels: list[Label] = []
    for offset, (kind, event) in enumerate(order):
        labels += feed(join, kind, event, offset)
        unread = [later["ts"] for _, later in order[offset + 1 :]]
        labels += join.advance(min(unread) - 1 if unread else FAR)
    labels += drain(join)

    by_id = {label.impression["impression_id"]: label.label for label in labels}
    assert len(by_id) == len(labels), "one label per impression"
    assert by_id == {i: float(t["clicked"]) for i, t in truth.items() if t["known"]}
    assert len(join) == 0


@given(data=st.data(), scenario=scenarios(max_queries=2))
@settings(max_examples=500)
def test_with_any_watermark_each_impression_has_one_justified_outcome(
    data: st.DataObject, scenario: tuple[list[tuple[str, Any]], dict[str, Any]]
) -> None:
    """Watermarks jump arbitrarily: outcomes may be negatives or orphans, but never wrong ones.

    Each impression ends as exactly one label or one orphan rejection; a positive always has a
    click within the window; a negative never comes before the window and grace have passed;
    an impression is an orphan only if its query had not arrived when its window closed, or had
    already been forgotten when the impression arrived.
    """
    events, truth = scenario
    order = data.draw(st.permutations(events), label="arrival order")
    jumps = data.draw(st.lists(st.integers(0, 4_000), min_size=len(order), max_size=len(order)))
    join = new_join()
    watermark = 0
    query_step: dict[str, int] = {}  # event id -> step at which the query was fed
    arrival_watermark: dict[str, int] = {}  # impression id -> watermark when it was fed
    outcomes: dict[str, list[tuple[str, float | None, int, int]]] = {i: [] for i in truth}

    def record(step: int) -> None:
        for label in join.advance(watermark):
            outcomes[label.impression["impression_id"]].append(
                ("label", label.label, watermark, step)
            )
        for reason, rejected, _ in join.take_rejected():
            if "query" in reason:
                outcomes[rejected["impression_id"]].append(("orphan", None, watermark, step))

    for step, ((kind, event), jump) in enumerate(zip(order, jumps, strict=True)):
        for label in feed(join, kind, event, step):
            outcomes[label.impression["impression_id"]].append(("label", label.label, 0, step))
        if kind == "query":
            query_step[event["event_id"]] = step
        elif kind == "impression":
            arrival_watermark[event["impression_id"]] = watermark
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
            if label == 1.0:
                assert expected["clicked"], "a positive needs a click within the window"
            else:
                assert at >= expected["ts"] + WINDOW + GRACE, "negative before its window closed"
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

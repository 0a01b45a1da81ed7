"""Click attribution: impressions joined with their query and a later click into labels.

Pure state machine, no I/O and no clock: callers feed decoded events and advance a watermark
(milliseconds). When the watermark passes an impression's window (plus a grace period for
events still in flight), the impression becomes a positive label if a click arrived within
``window_ms`` of it, and a negative one otherwise.

Every label, positive or negative, is emitted when its window closes. Emitting positives at the
click and negatives at the window's end would hand the learner positives 30 s before their
negatives. Measured on the simulated world (30 s window, 500 queries/s, 60 s): the scores such
a model served averaged 0.90 at a 4.7% click rate (served AUC 0.37), while its progressive
metrics looked excellent for the wrong reason (AUC 0.88 at learn time). Waiting costs
freshness (the window); correcting early positives with importance weights (fake negatives)
is the way to win it back.

Inputs may arrive in any order across topics: an impression waits for its query, a click for
its impression, each for a bounded time. Memory is bounded by rate x (window + grace + waits):
every held item has a deadline.

Each input is given with its source (``{"topic:partition": offset}``), and each source is handed
back exactly once by :meth:`Attribution.take_released` when the input has left the state: its
label emitted, its rejection reported, or the input found a duplicate. A caller that
acknowledges inputs only then can rebuild the state after a crash by re-reading what was not
released. A query is kept for ``wait + window + grace`` after its time, so that it outlives
every impression made within ``wait`` of it.

>>> join = Attribution(window_ms=1000, grace_ms=0, wait_ms=500)
>>> join.add_query({"event_id": "q1", "ts": 0})
>>> join.add_impression({"impression_id": "i1", "event_id": "q1", "ts": 10}, {"imp:0": 5})
>>> join.add_impression({"impression_id": "i2", "event_id": "q1", "ts": 20}, {"imp:0": 6})
>>> join.add_click({"impression_id": "i1", "ts": 400}, {"clk:0": 9})
>>> join.advance(900)
[]
>>> [(label.impression["impression_id"], label.label) for label in join.advance(2000)]
[('i1', 1.0), ('i2', 0.0)]
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Container
from typing import Any

__all__ = ["Attribution", "Label", "Watermark"]

Event = dict[str, Any]


@dataclasses.dataclass(slots=True)
class Label:
    """An impression with its query, its label (1.0 clicked, 0.0 not), its quality rating if one
    arrived within the window, and its source offsets."""

    impression: Event
    query: Event
    label: float
    ts_label: int
    source: dict[str, int]
    quality: float | None = None


@dataclasses.dataclass(slots=True)
class _Pending:
    impression: Event
    source: dict[str, int]
    query: Event | None = None
    click_ts: int | None = None
    quality: float | None = None


class Attribution:
    """Joins queries, impressions and clicks into labels within an attribution window.

    Outcomes that are not labels are counted in :attr:`counts`: ``late_clicks`` (after the
    window), ``duplicate_clicks``, ``unknown_clicks`` (no impression within the wait), the same
    three for ratings (``late_ratings``: after the window closed),
    ``orphan_impressions`` (no query within the wait). :meth:`take_rejected` hands the unknown
    clicks and orphan impressions to the caller for the dead-letter topic.
    """

    def __init__(
        self, *, window_ms: int, grace_ms: int, wait_ms: int, memory_ms: int | None = None
    ) -> None:
        self.window_ms = window_ms
        self.grace_ms = grace_ms
        self.wait_ms = wait_ms
        self.memory_ms = 10 * window_ms if memory_ms is None else memory_ms
        self.counts: collections.Counter[str] = collections.Counter()
        self._queries: dict[str, Event] = {}
        self._query_sources: dict[str, dict[str, int]] = {}
        self._query_deadlines: collections.deque[tuple[int, str]] = collections.deque()
        self._pending: dict[str, _Pending] = {}
        self._pending_deadlines: collections.deque[tuple[int, str]] = collections.deque()
        self._waiting_for_query: dict[str, list[str]] = {}
        # (kind, impression id) -> (event, source): clicks and ratings ahead of their impression
        self._early: dict[tuple[str, str], tuple[Event, dict[str, int]]] = {}
        self._early_deadlines: collections.deque[tuple[int, str, str]] = collections.deque()
        self._closed: dict[str, bool] = {}  # impression id -> was clicked
        self._closed_deadlines: collections.deque[tuple[int, str]] = collections.deque()
        self._rejected: list[tuple[str, Event, dict[str, int]]] = []
        self._released: list[dict[str, int]] = []

    def __len__(self) -> int:
        """Items held: queries, open impressions, early clicks and remembered closed ids."""
        return len(self._queries) + len(self._pending) + len(self._early) + len(self._closed)

    # ------------------------------------------------------------------ inputs

    def add_query(self, query: Event, source: dict[str, int] | None = None) -> None:
        event_id = query["event_id"]
        if event_id in self._queries:
            self.counts["duplicate_queries"] += 1
            self._release(source)
            return
        self._queries[event_id] = query
        self._query_sources[event_id] = dict(source or {})
        deadline = query["ts"] + self.wait_ms + self.window_ms + self.grace_ms
        self._query_deadlines.append((deadline, event_id))
        for impression_id in self._waiting_for_query.pop(event_id, ()):
            pending = self._pending.get(impression_id)
            if pending is not None:
                pending.query = query

    def add_impression(self, impression: Event, source: dict[str, int]) -> None:
        impression_id = impression["impression_id"]
        if impression_id in self._pending or impression_id in self._closed:
            self.counts["duplicate_impressions"] += 1
            self._release(source)
            return
        pending = _Pending(impression, dict(source), self._queries.get(impression["event_id"]))
        self._pending[impression_id] = pending
        deadline = impression["ts"] + self.window_ms + self.grace_ms
        self._pending_deadlines.append((deadline, impression_id))
        if pending.query is None:
            self._waiting_for_query.setdefault(impression["event_id"], []).append(impression_id)
        early = self._early.pop(("click", impression_id), None)
        if early is not None:
            self.add_click(*early)
        early = self._early.pop(("rating", impression_id), None)
        if early is not None:
            self.add_rating(*early)

    def add_click(self, click: Event, source: dict[str, int]) -> None:
        impression_id = click["impression_id"]
        pending = self._pending.get(impression_id)
        if pending is None:
            self._click_without_open_impression(click, source)
        elif pending.click_ts is not None:
            self.counts["duplicate_clicks"] += 1
            self._release(source)
        elif click["ts"] - pending.impression["ts"] > self.window_ms:
            self.counts["late_clicks"] += 1
            self._release(source)
        else:
            pending.click_ts = click["ts"]
            pending.source.update(source)

    def add_rating(self, rating: Event, source: dict[str, int]) -> None:
        """A quality rating counts if it arrives before its impression's window closes."""
        impression_id = rating["impression_id"]
        pending = self._pending.get(impression_id)
        if pending is None:
            if impression_id in self._closed:
                self.counts["late_ratings"] += 1
                self._release(source)
            elif ("rating", impression_id) in self._early:
                self.counts["duplicate_ratings"] += 1
                self._release(source)
            else:  # its impression may still be on its way
                self._hold("rating", rating, source)
        elif pending.quality is not None:
            self.counts["duplicate_ratings"] += 1
            self._release(source)
        else:
            pending.quality = rating["quality"]
            pending.source.update(source)

    def _click_without_open_impression(self, click: Event, source: dict[str, int]) -> None:
        impression_id = click["impression_id"]
        clicked = self._closed.get(impression_id)
        early = self._early.get(("click", impression_id))
        if clicked is True:
            self.counts["duplicate_clicks"] += 1
            self._release(source)
        elif clicked is False:
            self.counts["late_clicks"] += 1
            self._release(source)
        elif early is not None:
            self.counts["duplicate_clicks"] += 1
            if click["ts"] < early[0]["ts"]:  # keep the one in the window
                self._early["click", impression_id] = (click, dict(source))
                self._release(early[1])
            else:
                self._release(source)
        else:  # its impression may still be on its way
            self._hold("click", click, source)

    def _hold(self, kind: str, event: Event, source: dict[str, int]) -> None:
        impression_id = event["impression_id"]
        self._early[kind, impression_id] = (event, dict(source))
        self._early_deadlines.append((event["ts"] + self.wait_ms, kind, impression_id))

    # ------------------------------------------------------------------ time

    def advance(self, watermark_ms: int) -> list[Label]:
        """Close every window that ends before ``watermark_ms``; return the labels that makes."""
        labels: list[Label] = []
        deadlines = self._pending_deadlines
        while deadlines and deadlines[0][0] <= watermark_ms:
            _, impression_id = deadlines.popleft()
            pending = self._pending.pop(impression_id, None)
            if pending is None:
                continue
            if pending.query is None:
                self.counts["orphan_impressions"] += 1
                self._reject("impression without a known query", pending.impression, pending.source)
                self._stop_waiting(pending.impression["event_id"], impression_id)
                self._remember(impression_id, False, watermark_ms)
                continue
            self._close(impression_id, pending, labels, watermark_ms)
        while self._query_deadlines and self._query_deadlines[0][0] <= watermark_ms:
            event_id = self._query_deadlines.popleft()[1]
            del self._queries[event_id]
            self._release(self._query_sources.pop(event_id))
        while self._closed_deadlines and self._closed_deadlines[0][0] <= watermark_ms:
            self._closed.pop(self._closed_deadlines.popleft()[1], None)
        while self._early_deadlines and self._early_deadlines[0][0] <= watermark_ms:
            _, kind, impression_id = self._early_deadlines.popleft()
            early = self._early.pop((kind, impression_id), None)
            if early is not None:
                self.counts[f"unknown_{kind}s"] += 1
                self._reject(f"{kind} for an unknown impression", *early)
        return labels

    def take_rejected(self) -> list[tuple[str, Event, dict[str, int]]]:
        """(reason, event, source) of inputs that could not be joined since the last call."""
        rejected, self._rejected = self._rejected, []
        return rejected

    def take_released(self) -> list[dict[str, int]]:
        """The sources of the inputs that have left the state since the last call (each once):
        in labels returned by :meth:`advance`, in rejections, or found duplicate or late."""
        released, self._released = self._released, []
        return released

    # ------------------------------------------------------------------ helpers

    def _release(self, source: dict[str, int] | None) -> None:
        if source:
            self._released.append(source)

    def _reject(self, reason: str, event: Event, source: dict[str, int]) -> None:
        self._rejected.append((reason, event, source))
        self._release(source)

    def _close(self, impression_id: str, pending: _Pending, labels: list[Label], now: int) -> None:
        clicked = pending.click_ts is not None
        ts_label = pending.click_ts if clicked else pending.impression["ts"] + self.window_ms
        labels.append(
            Label(
                pending.impression,
                pending.query,
                float(clicked),
                ts_label,
                pending.source,
                pending.quality,
            )
        )
        self._release(pending.source)
        self._remember(impression_id, clicked, now)

    def _remember(self, impression_id: str, clicked: bool, now: int) -> None:
        self._closed[impression_id] = clicked
        self._closed_deadlines.append((now + self.memory_ms, impression_id))

    def _stop_waiting(self, event_id: str, impression_id: str) -> None:
        """Drop one impression from its query's waiting list; the others keep waiting."""
        waiting = self._waiting_for_query.get(event_id, [])
        if impression_id in waiting:
            waiting.remove(impression_id)
        if not waiting:
            self._waiting_for_query.pop(event_id, None)


class Watermark:
    """Event-time watermark over several input partitions: the slowest active one.

    Each source (a topic partition) reports the largest event time it has delivered; the
    watermark is the smallest of those among the active sources, so a partition read ahead of
    the others cannot close windows whose events are still unread elsewhere. A source is active
    while it has delivered within ``idle_ms`` of processing time, or while the caller says it is
    ``behind`` (records on the log it has not delivered yet): a partition that went quiet does
    not hold time back, but one that is merely starved (a paused worker, a slow fetch) does.
    A source :meth:`expect`-ed but not yet heard from holds time back until it has been quiet
    for ``idle_ms`` too (after a restart, the first fetch of one partition can come well after
    another's). It never goes backwards. Processing time is passed in (no clock here).

    >>> marks = Watermark(idle_ms=1000)
    >>> marks.observe("impressions:0", 5_000, now_ms=0)
    >>> marks.observe("impressions:1", 3_000, now_ms=0)
    >>> marks.current(now_ms=10)
    3000
    >>> marks.current(now_ms=2_000)  # both idle: time stands still
    3000
    >>> marks.expect("clicks:0", now_ms=2_000)
    >>> marks.observe("impressions:1", 9_000, now_ms=2_000)
    >>> marks.current(now_ms=2_010)  # clicks:0 may still hold older events
    3000
    >>> marks.observe("impressions:1", 9_500, now_ms=3_100)
    >>> marks.current(now_ms=3_100, behind={"impressions:0"})  # quiet, but not read to its end
    5000
    >>> marks.current(now_ms=3_100)  # ... read to its end: it and clicks:0 are merely quiet
    9500

    A revoked source is forgotten: another worker reads it now, and it holds nothing back here.

    >>> marks = Watermark(idle_ms=1000)
    >>> marks.observe("clicks:0", 1_000, now_ms=0)
    >>> marks.observe("clicks:1", 4_000, now_ms=0)
    >>> marks.current(now_ms=10)
    1000
    >>> marks.forget("clicks:0")
    >>> marks.current(now_ms=10)
    4000
    """

    def __init__(self, *, idle_ms: int) -> None:
        self.idle_ms = idle_ms
        self._sources: dict[str, tuple[int, int]] = {}  # source -> (max event ts, last seen)
        self._watermark = 0

    def expect(self, source: str, *, now_ms: int) -> None:
        """A source assigned to us: unheard from, it holds time back for ``idle_ms``."""
        previous = self._sources.get(source)
        self._sources[source] = (-1 if previous is None else previous[0], now_ms)

    def forget(self, source: str) -> None:
        """A source no longer ours (revoked): it holds nothing back any more."""
        self._sources.pop(source, None)

    def observe(self, source: str, ts: int, *, now_ms: int) -> None:
        previous = self._sources.get(source)
        self._sources[source] = (ts if previous is None else max(ts, previous[0]), now_ms)

    def current(self, *, now_ms: int, behind: Container[str] = ()) -> int:
        """The watermark; ``behind``: sources with records on the log not yet delivered."""
        active = [
            ts
            for source, (ts, seen) in self._sources.items()
            if now_ms - seen <= self.idle_ms or source in behind
        ]
        if active:
            self._watermark = max(self._watermark, min(active))
        return self._watermark

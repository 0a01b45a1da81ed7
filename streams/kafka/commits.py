"""What a consumer group may commit: never past an input whose effect is not yet durable.

One rule for every consumer here: the committed offset of a partition is the lowest offset
still in flight there (read, its effect not yet delivered), or one past the highest offset
read when nothing is. An input that is dead-lettered, skipped or found a duplicate is done at
once, but the commit still stops at the oldest input held before it: the join holds
impressions for their whole attribution window, and a malformed impression behind them must
not carry the commit past them (a crash would then lose them for good).

:class:`InFlight` is pure bookkeeping (no client, no clock). The Faust agents' consumer
(:mod:`streams.kafka.faust_transport`) reports every message handed to an agent as read and every
acknowledgement as done, and commits what :meth:`InFlight.committable` says.

>>> offsets = InFlight()
>>> for offset in (10, 11, 12, 13):
...     offsets.read("impressions:0", offset)
>>> offsets.done("impressions:0", 12)  # a malformed impression, dead-lettered at once
>>> offsets.done("impressions:0", 13)
>>> offsets.committable("impressions:0")  # 10 and 11 are still in open windows
10
>>> offsets.done("impressions:0", 10)
>>> offsets.committable("impressions:0")
11
>>> offsets.done("impressions:0", 11)
>>> offsets.committable("impressions:0")  # nothing in flight: past the last read
14
>>> offsets.committable("clicks:0") is None  # nothing read there
True
>>> offsets.read("impressions:0", 14)
>>> offsets.forget(["impressions:0"])  # revoked: its next owner reads 14 again
>>> offsets.committable("impressions:0") is None
True
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable

__all__ = ["InFlight"]


class _Partition:
    """One partition's inputs in flight: a set, and a min-heap of them with lazy removal."""

    __slots__ = ("heap", "live", "next_offset")

    def __init__(self) -> None:
        self.live: set[int] = set()
        self.heap: list[int] = []  # every live offset, and done ones not yet popped
        self.next_offset = 0  # one past the highest offset read

    def lowest(self) -> int | None:
        heap, live = self.heap, self.live
        while heap and heap[0] not in live:
            heapq.heappop(heap)
        return heap[0] if heap else None


class InFlight:
    """Offsets read and not yet done, per partition (any hashable key: a ``TP``, a name)."""

    __slots__ = ("_partitions",)

    def __init__(self) -> None:
        self._partitions: dict[Hashable, _Partition] = {}

    def read(self, partition: Hashable, offset: int) -> None:
        """An input handed to processing: in flight until :meth:`done` (reading it again
        before then changes nothing)."""
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        if offset not in state.live:
            state.live.add(offset)
            heapq.heappush(state.heap, offset)
        state.next_offset = max(state.next_offset, offset + 1)

    def done(self, partition: Hashable, offset: int) -> None:
        """The input's effect is durable (or it has none); inputs not in flight are ignored."""
        state = self._partitions.get(partition)
        if state is not None:
            state.live.discard(offset)

    def committable(self, partition: Hashable) -> int | None:
        """The offset to commit: the lowest in flight, else one past the highest read;
        ``None`` if nothing was read in ``partition`` (since it was assigned)."""
        state = self._partitions.get(partition)
        if state is None:
            return None
        lowest = state.lowest()
        return state.next_offset if lowest is None else lowest

    def in_flight(self, partition: Hashable) -> int:
        """How many inputs of ``partition`` are read and not done."""
        state = self._partitions.get(partition)
        return 0 if state is None else len(state.live)

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Partitions revoked: what was in flight there is read again by their next owner."""
        for partition in partitions:
            self._partitions.pop(partition, None)

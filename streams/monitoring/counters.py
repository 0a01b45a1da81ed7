"""The counters of one worker: cumulative event counts, published with every report."""

from __future__ import annotations

import collections

__all__ = ["Counters"]


class Counters(collections.Counter[str]):
    """Cumulative event counters of one worker, published on the metrics topic.

    >>> counters = Counters()
    >>> counters["read.queries"] += 3
    >>> dict(counters)
    {'read.queries': 3}
    """

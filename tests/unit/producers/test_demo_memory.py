"""The demo's memory summary reads the worker's gauges around the traffic: the last report
before it, the first at half time, the last during it, and the peak during it."""

from __future__ import annotations

import types

from producers.demo.summary import memory_summary

T0 = 1_700_000_000_000  # when the traffic started, in ms
MIB = 2**20


def _watcher(*reports: tuple[float, int, int]):
    """Worker reports at (seconds since T0, RSS MiB, join items)."""
    gauges = [
        (T0 + int(at_s * 1000), "w1", {"rss_bytes": rss * MIB, "join.held": held})
        for at_s, rss, held in reports
    ]
    return types.SimpleNamespace(gauges=gauges)


def test_the_figures_come_from_the_reports_before_during_and_at_half_time_of_the_traffic():
    watcher = _watcher(
        (-2.0, 150, 0),
        (-1.0, 151, 0),  # the last before the traffic
        (10.0, 200, 900),
        (49.0, 260, 1_000),
        (50.5, 250, 1_100),  # the first at half time (50 s of 100)
        (90.0, 300, 1_000),  # the peak
        (100.0, 280, 1_050),  # the last during the traffic
        (130.0, 400, 10),  # after it: windows closing, not counted
    )
    memory = memory_summary(watcher, T0, 100.0)
    assert memory["rss_mib"] == {"start": 151, "half": 250, "end": 280, "max": 300}
    assert memory["join_held"] == {"start": 0, "half": 1_100, "end": 1_050, "max": 1_100}
    assert memory["samples"][0] == [-2.0, 150, 0] and len(memory["samples"]) == 8


def test_without_a_resident_memory_there_is_no_summary():
    watcher = types.SimpleNamespace(gauges=[(T0 + 1_000, "w1", {"join.held": 5})])
    assert memory_summary(watcher, T0, 100.0) == {}

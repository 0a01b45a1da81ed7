"""The worker's collector policy, in a fresh interpreter (freezing the test process's heap
would outlive the test)."""

from __future__ import annotations

import json
import subprocess
import sys

from streams.worker.run import GEN0_THRESHOLD

_PROBE = """
import asyncio, gc, json, weakref
from streams.worker.run import freeze_startup_heap, tune_collector
gc.disable()  # no automatic collection: only freeze_startup_heap's own can free the cycle
class Node: pass
node = Node()
node.self = node  # a cycle, garbage once the name goes: to be collected, not frozen
garbage = weakref.ref(node)
del node
before = gc.get_freeze_count()
tune_collector()
asyncio.run(freeze_startup_heap())
print(json.dumps({"threshold": gc.get_threshold(), "before": before,
                  "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "garbage_collected": garbage() is None}))
"""


def test_a_worker_collects_young_objects_rarely_and_freezes_what_start_up_built() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    state = json.loads(out)
    assert state["threshold"][0] == GEN0_THRESHOLD
    assert state["before"] == 0
    assert state["frozen"] > 10_000  # the imported modules and their objects
    assert state["tracked"] < 1_000  # what a full collection still walks
    assert state["garbage_collected"]

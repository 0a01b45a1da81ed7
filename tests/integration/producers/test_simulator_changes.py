"""The Simulator with a schedule of world changes and a labelling process, on the embedded
broker, answered by an echo responder that also predicts categories from query words."""

import asyncio
import math
from collections import Counter

import pytest

from producers import Simulator, World, WorldChange
from streams.wire import contracts

pytestmark = pytest.mark.broker

SEED = 3
RATE = 200
DURATION_S = 6.0
NEW = "electronics/wearables/smartwatches"
LAUNCH = WorldChange(at_s=1.5, kind="launch", path=NEW)
RETIRE = WorldChange(at_s=4.0, kind="retire", path=NEW)


def word_leaves() -> dict[str, str]:
    """Word -> leaf for every leaf the run will know: a replica world with the leaf launched
    (a launched leaf's words depend on the seed and the path only)."""
    replica = World(seed=SEED)
    replica.launch_leaf(NEW)
    return {word: leaf.path for leaf in replica.leaves for word in leaf.words}


def categorizer(words: dict[str, str], uncategorized: list[str]):
    """An answer whose category is the leaf most of the query's words belong to (none when no
    word is a leaf's), candidates kept in their given order; notes the queries answered
    without a category."""

    def answer(query: dict) -> dict:
        votes = Counter(words[word] for word in query["query"].split() if word in words)
        category = {path: count / 4 for path, count in votes.items()}
        if not category:
            uncategorized.append(query["event_id"])
        return {"category": category}

    return answer


def query_index(event_id: str) -> int:
    """``q-<seed>-<n>`` -> n: the n-th query was due ``n / RATE`` seconds into the traffic."""
    return int(event_id.rsplit("-", 1)[1])


@pytest.mark.asyncio
async def test_a_scheduled_launch_and_retirement_with_labels(settings, reader, responder):
    world = World(seed=SEED)
    calls: list[tuple[WorldChange, int, bool]] = []

    async def on_change(change: WorldChange, ts_ms: int) -> None:
        await asyncio.sleep(0)  # yields to the loop, as sending a control command would
        calls.append((change, ts_ms, NEW in world.leaf_paths))

    simulator = Simulator(
        settings=settings,
        world=world,
        rate_per_s=RATE,
        duration_s=DURATION_S,
        label_rate=0.3,
        label_delay_s=(0.2, 1.0),
        changes=[RETIRE, LAUNCH],  # applied in time order
        on_change=on_change,
    )
    uncategorized: list[str] = []
    async with responder(settings, simulator, answer=categorizer(word_leaves(), uncategorized)):
        stats = await simulator.run()

    total = int(RATE * DURATION_S)
    assert stats.queries_sent == total and stats.unanswered() == 0
    assert stats.send_errors == 0 and stats.bad_messages == 0

    # The callback ran right after each change was applied, when it was due: changes apply
    # by the clock, at most one pacing sleep (50 ms) plus loop lag late; 500 ms is generous.
    assert [(change, applied) for change, _, applied in calls] == [(LAUNCH, True), (RETIRE, False)]
    assert [(change, ts) for change, ts, _ in calls] == stats.changes_applied
    for change, ts_ms, _ in calls:
        late_ms = ts_ms - (stats.started_ms + 1000 * change.at_s)
        assert -1 <= late_ms < 500, (change, late_ms)
    assert NEW not in world.leaf_paths

    # One draw per query: labels ~ Binomial(1200, 0.3), mean 360, sd 15.9; 4 sd is 64.
    labelled = stats.labels_sent + stats.labels_pending
    assert abs(labelled - 0.3 * total) < 4 * math.sqrt(total * 0.3 * 0.7)
    assert 0 < stats.labels_pending < stats.labels_sent  # delays <= 1 s: only the last second

    records = reader.read("query-labels", lambda got: len(got) >= stats.labels_sent)
    assert len(records) == stats.labels_sent
    labels = [contracts.decode_query_label(record.value()) for record in records]
    assert [record.key().decode() for record in records] == [x["event_id"] for x in labels]
    assert len({label["event_id"] for label in labels}) == len(labels)
    for label in labels:
        n = query_index(label["event_id"])
        due_ms = label["ts"] - (stats.started_ms + n * 1000 // RATE)
        assert 190 <= due_ms <= 1010, label  # the query's ts + a delay drawn in [0.2, 1.0] s
        if not LAUNCH.at_s * RATE <= n < RETIRE.at_s * RATE:
            assert label["path"] != NEW, label  # none before the launch or after retirement
    new_labels = [label for label in labels if label["path"] == NEW]
    assert len(new_labels) >= 3  # ~7 % of its 500 queries, x 0.3: Poisson(10.6) < 3 is 0.1 %

    # Category accuracy from the served predictions, per leaf and bucket of query time.
    by_leaf = stats.category_by_leaf()
    scored = stats.predictions_received - len(uncategorized)  # empty maps are not scored
    assert 0 < len(uncategorized) < 0.1 * total
    assert sum(n for _, n in by_leaf.values()) == scored
    assert by_leaf[NEW][1] > 0 and stats.category_accuracy(leaf=NEW) > 0.8
    assert stats.category_accuracy() > 0.8
    launch_ms = stats.started_ms + 1000 * LAUNCH.at_s
    retire_ms = stats.started_ms + 1000 * RETIRE.at_s
    for bucket, leaf in stats.category_hits:
        if leaf == NEW:
            assert launch_ms - stats.category_bucket_ms < bucket < retire_ms


@pytest.mark.asyncio
async def test_a_plain_callback_and_no_labels(settings, reader):
    world = World(seed=SEED)
    old = world.leaf_paths[1]
    seen: list[tuple[WorldChange, bool]] = []
    retire = WorldChange(at_s=0.2, kind="retire", path=old)
    simulator = Simulator(
        settings=settings,
        world=world,
        rate_per_s=50,
        duration_s=1.0,
        label_rate=0.0,
        drain_timeout_s=0.5,  # nobody answers
        changes=[retire],
        on_change=lambda change, ts_ms: seen.append((change, old in world.leaf_paths)),
    )
    stats = await simulator.run()
    assert seen == [(retire, False)] and [c for c, _ in stats.changes_applied] == [retire]
    assert stats.queries_sent == 50 and stats.labels_sent == stats.labels_pending == 0

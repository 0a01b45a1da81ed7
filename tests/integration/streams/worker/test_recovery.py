"""Crash recovery: a worker killed with SIGKILL mid-stream loses no example and learns none
twice; its final models equal those of a worker that was never killed, on the same stream."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from learners import candidate_features, query_context
from producers.world import World
from streams import snapshots
from streams.cli import main
from streams.control.client import send_command, wait_applied
from streams.kafka.readers import read_topic
from streams.models.ledger import id_digest
from streams.operations.rebuild import rebuild
from streams.snapshots.catalog import latest_snapshots
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.integration.conditions import model_reported, snapshot_at

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000
QUERY_EVERY_MS = 20  # event time between queries
CHUNK_GAP_MS = 60_000  # event time between chunks: no window is open across a chunk boundary


#: Topics that get malformed records mixed in, and how each kind of bad record looks there.
MALFORMED_EVERY = 37  # a malformed record after every this many valid ones, per topic


def _malformed(topic: str, n: int) -> bytes:
    """The ``n``-th malformed record of ``topic``, unique (so its dead letter can be found):
    in turn, bytes that are no msgpack map, a map missing a field, and a NaN or wrong type."""
    kind = n % 3
    if kind == 0:
        return b"\xc1 not msgpack " + f"{topic}-{n}".encode()
    if kind == 1:
        return contracts.encode({"v": contracts.SCHEMA_VERSION, "junk": f"{topic}-{n}"})
    bad: dict[str, Any] = {
        "impressions": {"impression_id": f"bad-{n}", "event_id": "q", "ad_id": 1, "ts": 1},
        "clicks": {"impression_id": f"bad-{n}", "ts": float("nan")},
        "ratings": {"impression_id": f"bad-{n}", "quality": float("nan"), "ts": 1},
        "query-labels": {"event_id": f"bad-{n}", "query": "q", "path": "", "ts": 1},
        "control": {"seq": -n, "cmd": "set_weights", "args": {}, "issued_by": "t", "ts": 1},
    }[topic]
    return contracts.encode({"v": contracts.SCHEMA_VERSION, **bad})


def _chunk(
    world: World, rng: random.Random, first: int, n: int, t0: int, *, malformed: bool = False
) -> Iterator[tuple]:
    """``(ts, topic, key, event or raw bytes)`` of ``n`` queries from index ``first``, in
    event-time order: each shows a random candidate; clicks (some after the 2 s window) and
    ratings follow. With ``malformed``, bad records are mixed into every input the join reads,
    and into ``control``. (No category labels: the category model's answers are features of
    the click and quality examples, so what it learned would differ between the systems.)"""
    events: list[tuple[int, str, bytes, dict[str, Any] | bytes]] = []
    for i in range(first, first + n):
        ts = t0 + (i - first) * QUERY_EVERY_MS
        query, truth = world.next_query(ts)
        events.append((ts, "queries", query["user_id"].encode(), query))
        ad = rng.choice(query["candidates"])
        impression_id = f"imp-{i}"
        impression = contracts.impression(
            impression_id=impression_id,
            event_id=query["event_id"],
            ad_id=ad["ad_id"],
            position=0,
            ts=ts + 5,
            arm="main",
        )
        events.append((ts + 5, "impressions", impression_id.encode(), impression))
        p_click = 3 * world.click_probability(truth, world.ad(ad["ad_id"]), 0)
        if rng.random() < p_click:
            delay = rng.choice([rng.randint(50, 1_400), 2_600])  # in the window, or late
            click = contracts.click(impression_id=impression_id, ts=ts + 5 + delay)
            events.append((click["ts"], "clicks", impression_id.encode(), click))
        if rng.random() < 0.2:
            quality = world.quality(truth, world.ad(ad["ad_id"]))
            rating = contracts.rating(
                impression_id=impression_id, quality=quality, ts=ts + 5 + rng.randint(50, 1_400)
            )
            events.append((rating["ts"], "ratings", impression_id.encode(), rating))
    events.sort(key=lambda event: event[0])
    if not malformed:
        yield from events
        return
    seen: collections.Counter[str] = collections.Counter()
    for event in events:
        yield event
        topic = event[1]
        seen[topic] += 1
        if topic != "queries" and seen[topic] % MALFORMED_EVERY == 0:
            yield (event[0], topic, b"bad", _malformed(topic, first + seen[topic]))
    for k in range(2):  # the control topic is read whole by every worker: a few suffice
        yield (events[-1][0], "control", b"bad", _malformed("control", first + k))


def _produce_chunk(
    chunk: Iterable[tuple],
    systems: tuple[Settings, ...],
    produce: Callable[..., None],
    expected_ids: list[str],
    malformed: list[tuple[str, bytes]],
    probe: list[dict[int, float]],
) -> None:
    """Produce a chunk's records to every system, and note what they make: the example ids
    (a click example per impression, a quality one per rating), the malformed records, and
    the candidate features of the first queries (up to 300 probes)."""
    for _, topic, key, event in chunk:
        value = event if isinstance(event, bytes) else contracts.encode(event)
        for system in systems:
            produce(topic, key, value, system)
        if isinstance(event, bytes):
            malformed.append((topic, event))
        elif topic == "impressions":
            expected_ids.append(event["impression_id"])
        elif topic == "ratings":
            expected_ids.append(f"{event['impression_id']}:quality")
        elif topic == "queries" and len(probe) < 300:
            context = query_context(event, systems[0].n_bits)
            probe += [candidate_features(context, ad) for ad in event["candidates"][:2]]


def _values(system: Settings, logical: str) -> list[bytes]:
    """The values of every record on a topic of ``system``."""
    return [record.value for record in asyncio.run(read_topic(system, logical))]


def _worker_reports(values: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The ``kind: worker`` reports among records of ``metrics``."""
    reports = (contracts.decode_map(value) for value in values)
    return (report for report in reports if report.get("kind") == "worker")


def _workers_reported(count: int) -> Callable[[list[Any]], bool]:
    """On ``metrics``: the counters of ``count`` worker processes or more."""

    def reported(messages: list[Any]) -> bool:
        workers = {r["worker"] for r in _worker_reports(m.value() for m in messages)}
        return len(workers) >= count

    return reported


def _worker_counters(system: Settings) -> dict[str, dict[str, int]]:
    """The latest counters each worker process of ``system`` published."""
    records = asyncio.run(read_topic(system, "metrics"))
    return {r["worker"]: r["counters"] for r in _worker_reports(r.value for r in records)}


@pytest.mark.parametrize(
    ("join_apart", "signal"),
    [(False, "SIGKILL"), (True, "SIGKILL"), (False, "SIGTERM")],
    ids=["whole-worker", "join-worker", "whole-worker-sigterm"],
)
def test_sigkill_three_times_loses_nothing_and_learns_nothing_twice(
    join_apart, signal, new_settings, start_worker, produce, reader_for
):
    """The whole loop in one worker (or the join in a worker of its own, the learner in
    another), killed three times at random moments while it joins and learns, with malformed
    records mixed into every input; restarted each time at once, with a backlog waiting. The
    reference is one worker never killed.

    A dead-lettered input must not let the committed offset pass the inputs the join still
    holds: before that rule, the join committed one past each malformed impression while
    earlier impressions waited in open windows, and a kill lost them. Stopped with SIGTERM
    instead, in the middle of its batches, the worker shuts down cleanly (exit 0) and the
    same holds."""
    rng = random.Random(2026)
    common = {
        "partitions": 1,  # one impressions partition: the join's output order is the input's
        "snapshot_key": "recovery-test",
        "snapshot_every_examples": 100,
        "snapshot_every_s": 1.0,
    }
    victim, reference = new_settings(**common), new_settings(**common)
    start_worker(reference)
    if join_apart:
        start_worker(victim.replace(agents="learn"), serving=False)
        killed = victim.replace(agents="join,labels")
        worker = start_worker(killed, serving=False)
        started = 2
    else:
        killed = victim
        worker = start_worker(victim)
        started = 1

    world, stream_rng = World(seed=5), random.Random(5)
    sizes = [250, 300, 250, 200]
    expected_ids: list[str] = []
    malformed: list[tuple[str, bytes]] = []
    probe: list[dict[int, float]] = []
    first = 0
    for k, size in enumerate(sizes):
        chunk = _chunk(world, stream_rng, first, size, T0 + k * CHUNK_GAP_MS, malformed=True)
        _produce_chunk(chunk, (victim, reference), produce, expected_ids, malformed, probe)
        first += size
        if k == len(sizes) - 1:
            break
        # SIGKILL once the victim has snapshotted a random number of this chunk's click
        # examples: it is then joining, learning and snapshotting mid-chunk. (The chunk's
        # last windows close with the next chunk: about 130 queries are still open.)
        target = rng.randint(first - size + 10, first - 130)
        written = reader_for(victim).read("models", snapshot_at("click", target), 60)
        assert snapshot_at("click", target)(written), f"no click snapshot at {target} examples"
        # and once it has reported its counters: a restarted worker can reach the target
        # before its first report, and what it did would then be unknown
        reported = _workers_reported(started)
        assert reported(reader_for(victim).read("metrics", reported, 30)), "a worker never reported"
        if signal == "SIGKILL":
            worker.kill()
        else:
            assert worker.stop(timeout_s=30) == 0, "no clean shutdown on SIGTERM"
        worker = start_worker(killed, serving=False)  # the next chunk waits for it as backlog
        started += 1

    # every impression makes a click example, every rating (all within the window) a quality one
    wanted = {
        "click": [i for i in expected_ids if not i.endswith(":quality")],
        "quality": [i for i in expected_ids if i.endswith(":quality")],
    }
    _assert_same_models(victim, reference, wanted, probe)
    # Every malformed record was dead-lettered (the control topic's by a serving worker), and
    # no valid input was: after a restart, feedback whose impression was labelled before the
    # crash is read again without it, and is counted, not taken for an unknown impression.
    letters = [contracts.decode_map(value) for value in _values(victim, "dead-letter")]
    dead = {(letter["topic"], letter["payload"]) for letter in letters}
    bad = {(victim.topic(topic), payload) for topic, payload in malformed}
    valid = collections.Counter(
        letter["reason"] for letter in letters if (letter["topic"], letter["payload"]) not in bad
    )
    assert not valid, f"valid inputs dead-lettered: {valid}"
    serving = not join_apart
    missed = [
        (topic, payload)
        for topic, payload in malformed
        if (victim.topic(topic), payload) not in dead and (serving or topic != "control")
    ]
    assert not missed, f"{len(missed)} malformed records never dead-lettered: {missed[:3]}"
    # The recovery paths ran: the learner skipped the labels each restarted join emitted
    # again; each restarted learner restored a snapshot.
    counters = _worker_counters(victim).values()
    if signal == "SIGKILL":  # a clean stop commits what the join released: none is re-read
        assert sum(worker.get("duplicate.click", 0) for worker in counters) > 0
    if not join_apart:
        assert sum("restored.click" in worker for worker in counters) == 3  # every restart


def _learning_counters(system: Settings, name: str) -> dict[str, dict[str, int]]:
    """What each worker of ``system`` says it did with ``name``'s examples (for failures)."""
    return {
        worker: {k: v for k, v in counters.items() if k.endswith(f".{name}") or "restore" in k}
        for worker, counters in _worker_counters(system).items()
    }


def _snapshot_when_learned(
    systems: Iterable[Settings], produced: list[dict[str, Any]], reader_for: Any
) -> dict[str, list[str]]:
    """Once each system has learned every produced example of a model, snapshot the model;
    returns the ids produced, by model."""
    wanted = {
        name: [e["example_id"] for e in produced if e["model"] == name]
        for name in ("click", "quality", "category")
    }
    for system in systems:
        for name, ids in wanted.items():
            reports = reader_for(system).read("metrics", model_reported(name, len(ids)), 120)
            assert model_reported(name, len(ids))(reports), (
                f"{system.topic_prefix} {name} never learned all {len(ids)}: "
                f"{_learning_counters(system, name)}"
            )
            seq = asyncio.run(send_command(system, "snapshot", {"model": name}, issued_by="t"))
            assert asyncio.run(wait_applied(system, seq, timeout_s=60))
    return wanted


def _examples(rng: random.Random, first: int, n: int) -> Iterator[dict[str, Any]]:
    """Click, quality and category examples, as the join and the labels agent make them."""
    paths = [f"v{a}/c{b}/l{c}" for a in range(3) for b in range(2) for c in range(2)]
    for i in range(first, first + n):
        features = {rng.randrange(2_000): 1.0 for _ in range(6)}
        model, label, origin = rng.choice(
            [
                ("click", float(rng.random() < 0.1), "impressions:0"),
                ("quality", round(rng.random(), 3), "impressions:0"),
                ("category", rng.choice(paths), "query-labels:0"),
            ]
        )
        yield contracts.example(
            example_id=f"{model}-{i}",
            model=model,
            features=features,
            label=label,
            weight=1.0,
            sampling_rate=1.0,
            ts_event=T0 + i,
            ts_label=T0 + i,
            source={origin: i},
        )


@pytest.mark.parametrize("moment", ["between-snapshots", "as-a-snapshot-lands"])
def test_sigkill_of_a_learner_between_snapshots_loses_and_repeats_nothing(
    moment, new_settings, start_worker, produce, reader_for, monkeypatch, capsys
):
    """The learner killed three times between two snapshots, or the moment a snapshot is on
    the topic (its write delivered, the offsets it holds perhaps not yet committed): only the
    snapshot's offsets count, so nothing after them is lost and nothing before them repeated."""
    rng = random.Random(7)
    common = {
        "snapshot_key": "recovery-test",
        "snapshot_every_examples": 300,
        "snapshot_every_s": 60.0,  # no snapshot by the clock: kills land between two
        "commit_interval_s": 0.2,  # Faust commits what is acknowledged, often
    }
    victim, reference = new_settings(**common), new_settings(**common)
    start_worker(reference)
    worker = start_worker(victim)
    stream_rng = random.Random(8)
    sizes = [1_000, 1_200, 900, 600]
    produced: list[dict[str, Any]] = []
    for k, size in enumerate(sizes):
        for example in _examples(stream_rng, len(produced), size):
            for system in (victim, reference):
                produce("examples", example["model"].encode(), contracts.encode(example), system)
            produced.append(example)
        if k == len(sizes) - 1:
            break
        clicks = sum(example["model"] == "click" for example in produced)
        if moment == "between-snapshots":
            target = rng.randint(clicks - size // 4, clicks - 20)  # learned, not snapshotted
            landed = model_reported("click", target)
            reports = reader_for(victim).read("metrics", landed, 60)
        else:
            every = common["snapshot_every_examples"]
            target = (clicks - 20) // every * every  # the newest snapshot due in this chunk
            landed = snapshot_at("click", target)
            reports = reader_for(victim).read("models", landed, 60)
        assert landed(reports), f"the click model never reached {target}"
        worker.kill()
        worker = start_worker(victim, serving=False)
    wanted = _snapshot_when_learned((victim, reference), produced, reader_for)
    probe = [e["features"] for e in produced[:300]]
    versions = _assert_same_models(victim, reference, wanted, probe)
    counters = _worker_counters(victim).values()
    assert any("restored.click" in worker for worker in counters)

    # Each final version, learned across three crashes, is rebuilt from the log exactly.
    for name, version in versions.items():
        verdict = asyncio.run(rebuild(victim, name, version))
        assert verdict.identical, verdict
        assert verdict.examples == len(wanted[name]) and verdict.probes > 0
    for variable, value in victim.env().items():
        monkeypatch.setenv(variable, value)
    assert main(["models", "rebuild", "click", str(versions["click"])]) == 0
    assert "REPRODUCED" in capsys.readouterr().out


def _assert_same_models(
    victim: Settings,
    reference: Settings,
    wanted: dict[str, list[str]],
    probe: list[dict[int, float]],
) -> dict[str, int]:
    """Both systems' latest snapshots hold every wanted example id exactly once, and their
    models are identical: parameters, progressive metrics and predictions on the probe.
    Returns the versions compared."""
    counts = {name: len(ids) for name, ids in wanted.items()}
    (meta, models), (ref_meta, ref_models) = (
        _poll_latest(system, counts) for system in (victim, reference)
    )
    for name, ids in wanted.items():
        assert meta[name]["n_examples"] == ref_meta[name]["n_examples"] == len(ids), name
        assert meta[name]["ids_digest"] == ref_meta[name]["ids_digest"] == id_digest(ids), (
            f"{name}: an example was lost or learned twice"
        )
        model, ref_model = models[name], ref_models[name]
        assert model.report() == ref_model.report(), f"{name}: progressive metrics differ"
        if name == "category":
            assert [model.top_paths(x) for x in probe] == [ref_model.top_paths(x) for x in probe]
            continue
        assert model.estimator._z == ref_model.estimator._z, f"{name}: parameters differ"
        assert model.estimator._n == ref_model.estimator._n, f"{name}: parameters differ"
        assert [model.estimator.predict_proba_one(x)[True] for x in probe] == [
            ref_model.estimator.predict_proba_one(x)[True] for x in probe
        ]
    return {name: meta[name]["version"] for name in wanted}


def _poll_latest(
    system: Settings, wanted: dict[str, int], timeout_s: float = 120.0
) -> tuple[dict[str, dict], dict[str, Any]]:
    """``(metadata, models)`` of the latest snapshots once each holds ``wanted[name]``."""
    deadline = time.monotonic() + timeout_s
    latest: dict = {}
    while time.monotonic() < deadline:
        latest = asyncio.run(latest_snapshots(system, wanted.keys()))
        if all(
            name in latest and latest[name][0]["n_examples"] >= count
            for name, count in wanted.items()
        ):
            return (
                {name: meta for name, (meta, _) in latest.items()},
                {name: model for name, (_, model) in latest.items()},
            )
    counts = {name: meta["n_examples"] for name, (meta, _) in latest.items()}
    raise AssertionError(f"{system.topic_prefix}: snapshots hold {counts}, want {wanted}")


def test_a_learner_taking_over_partitions_restores_their_models_first(
    new_settings, start_worker, produce, reader_for
):
    """Two learners share the examples partitions. The one that learns the click model is
    killed; the other takes its partitions over and must learn on from the click model's
    latest snapshot, not from its own (empty) click model."""
    common = {
        "partitions": 4,  # click and quality in one partition, category in another
        "snapshot_key": "rebalance-test",
        "snapshot_every_examples": 50,
        "snapshot_every_s": 1.0,
    }
    victim, reference = new_settings(**common), new_settings(**common)
    learners = victim.replace(agents="learn")
    start_worker(reference)
    workers = [start_worker(learners, serving=False) for _ in range(2)]
    stream_rng, produced = random.Random(11), []
    for chunk in range(2):
        for example in _examples(stream_rng, len(produced), 900):
            for system in (victim, reference):
                produce("examples", example["model"].encode(), contracts.encode(example), system)
            produced.append(example)
        clicks = sum(example["model"] == "click" for example in produced)
        reports = reader_for(victim).read("metrics", model_reported("click", clicks), 90)
        assert model_reported("click", clicks)(reports), f"click stalled in chunk {chunk}"
        if chunk == 0:
            owner = _reporter(reports, "click")
            (killed,) = [w for w in workers if owner.endswith(f"-{w.pid}")]
            killed.kill()
    wanted = _snapshot_when_learned((victim, reference), produced, reader_for)
    _assert_same_models(victim, reference, wanted, [e["features"] for e in produced[:300]])
    clicks = reader_for(victim).read("metrics", model_reported("click", len(wanted["click"])))
    survivor = _worker_counters(victim)[_reporter(clicks, "click")]
    assert survivor["restored.click"] > 0, "the survivor did not restore the click model"


def _reporter(messages: list[Any], model: str) -> str:
    """The worker of the newest report of ``model`` among metrics messages."""
    reports = [contracts.decode_map(m.value()) for m in messages if m.key() == model.encode()]
    return reports[-1]["worker"]


def test_a_learner_joining_mid_stream_takes_over_from_the_latest_snapshots(
    new_settings, start_worker, produce, reader_for
):
    """A second learner joins while the first learns on and snapshots. By the time the joiner
    is assigned its partitions, the snapshots it loaded at start are stale, and the first
    learner commits those partitions as it lets them go: the joiner must learn on from the
    snapshots of the moment it is assigned them, and the first must stop writing the models
    it let go."""
    common = {
        "partitions": 4,  # click and quality in one partition, category in another
        "snapshot_key": "rebalance-test",
        "snapshot_every_examples": 20,
        "snapshot_every_s": 1.0,
        "metrics_interval_s": 0.25,
    }
    system, reference = new_settings(**common), new_settings(**common)
    learners = system.replace(agents="learn")
    start_worker(reference)
    first = start_worker(learners, serving=False)
    stream_rng, produced = random.Random(12), []

    def learn(n: int) -> None:
        """Produce ``n`` examples, and wait until the click model has learned them."""
        for example in _examples(stream_rng, len(produced), n):
            for target in (system, reference):
                produce("examples", example["model"].encode(), contracts.encode(example), target)
            produced.append(example)
        learned = model_reported("click", sum(e["model"] == "click" for e in produced))
        assert learned(reader_for(system).read("metrics", learned, 90)), "click stalled"

    learn(900)
    joiner = start_worker(learners, serving=False)
    for _ in range(40):  # a report apart each: the joiner starts, restores and joins meanwhile
        learn(60)
    joined = _workers_reported(2)
    assert joined(reader_for(system).read("metrics", joined, 60)), "the joiner never reported"
    learn(600)
    commanded_at_ms = int(time.time() * 1000)
    wanted = _snapshot_when_learned((system, reference), produced, reader_for)
    _assert_same_models(system, reference, wanted, [e["features"] for e in produced[:300]])

    writers: dict[str, set[str]] = {}  # model -> the workers that wrote its snapshots at the end
    for record in asyncio.run(read_topic(system, "models")):
        meta = snapshots.read_metadata(record.value)
        if meta["created_at"] >= commanded_at_ms:
            writers.setdefault(meta["model"], set()).add(meta["worker"].rsplit("-", 1)[1])
    assert writers.keys() == wanted.keys() and all(len(by) == 1 for by in writers.values()), (
        f"a model was snapshotted by a learner that no longer learns it: {writers}"
    )
    assert set().union(*writers.values()) == {str(first.pid), str(joiner.pid)}, (
        f"the partitions were not shared: {writers}"
    )


def test_sigkill_of_the_labels_agent_amid_malformed_labels_loses_and_repeats_nothing(
    new_settings, start_worker, produce, reader_for
):
    """The labels agent, in a worker of its own, killed three times while it turns query labels
    (malformed ones mixed in) into category examples: the category model learns every valid
    label exactly once, and every malformed one is dead-lettered."""
    rng = random.Random(31)
    system = new_settings(
        snapshot_key="labels-test", snapshot_every_examples=50, snapshot_every_s=1.0
    )
    start_worker(system.replace(agents="learn"), serving=False)
    labels = system.replace(agents="labels")
    worker = start_worker(labels, serving=False)
    world = World(seed=9)
    expected: list[str] = []
    malformed: list[bytes] = []
    for chunk in range(4):
        for i in range(300):
            query, truth = world.next_query(T0 + (chunk * 300 + i) * QUERY_EVERY_MS)
            label = contracts.query_label(
                event_id=query["event_id"], query=query["query"], path=truth.leaf, ts=query["ts"]
            )
            produce("query-labels", query["event_id"].encode(), contracts.encode(label), system)
            expected.append(f"label:{query['event_id']}")
            if i % MALFORMED_EVERY == 0:
                malformed.append(_malformed("query-labels", len(expected)))
                produce("query-labels", b"bad", malformed[-1], system)
        if chunk == 3:
            break
        target = rng.randint(len(expected) - 250, len(expected) - 50)  # mid-chunk
        learned = model_reported("category", target)
        assert learned(reader_for(system).read("metrics", learned, 60)), f"never reached {target}"
        worker.kill()
        worker = start_worker(labels, serving=False)

    learned = model_reported("category", len(expected))
    assert learned(reader_for(system).read("metrics", learned, 120)), "labels were lost"
    seq = asyncio.run(send_command(system, "snapshot", {"model": "category"}, issued_by="t"))
    assert asyncio.run(wait_applied(system, seq, timeout_s=60))
    meta, _ = _poll_latest(system, {"category": len(expected)})
    assert meta["category"]["n_examples"] == len(expected)
    assert meta["category"]["ids_digest"] == id_digest(expected), "a label was learned twice"
    dead = {
        letter["payload"]
        for letter in map(contracts.decode_map, _values(system, "dead-letter"))
        if letter["topic"] == system.topic("query-labels")
    }
    missed = set(malformed) - dead
    assert not missed, f"{len(missed)} malformed labels never dead-lettered"


@pytest.mark.parametrize(
    "pause_s", [5.0, pytest.param(60.0, marks=pytest.mark.scenario)], ids=["5s", "60s"]
)
def test_a_broker_paused_under_load_loses_nothing_and_repeats_nothing(
    pause_s, broker, new_settings, start_worker, produce, reader_for
):
    """The broker frozen (SIGSTOP) for 5 s or a minute while a worker serves, joins, learns
    and snapshots, with malformed records in its inputs, then resumed: the worker recovers by
    itself, answers every query, and its models equal those of a worker that lived through the
    same pause (one that lost or repeated an example would differ from it, or from the ids
    produced)."""
    common = {
        "partitions": 1,
        "snapshot_key": "pause-test",
        "snapshot_every_examples": 100,
        "snapshot_every_s": 1.0,
    }
    victim, reference = new_settings(**common), new_settings(**common)
    for system in (victim, reference):
        start_worker(system)
    world, stream_rng = World(seed=6), random.Random(6)
    queries: list[str] = []
    expected_ids: list[str] = []
    probe: list[dict[int, float]] = []
    first = 0
    for k, size in enumerate([300, 300, 200]):
        chunk = list(_chunk(world, stream_rng, first, size, T0 + k * CHUNK_GAP_MS, malformed=True))
        queries += [event["event_id"] for _, topic, _, event in chunk if topic == "queries"]
        _produce_chunk(chunk, (victim, reference), produce, expected_ids, [], probe)
        first += size
        if k == 0:  # mid-stream: the first chunk's windows are closing and being learned
            target = size // 3
            written = reader_for(victim).read("models", snapshot_at("click", target), 60)
            assert snapshot_at("click", target)(written), f"no click snapshot at {target}"
            broker.pause()
            try:
                time.sleep(pause_s)  # the fault itself: nothing to poll while it lasts
            finally:
                broker.resume()
    wanted = {
        "click": [i for i in expected_ids if not i.endswith(":quality")],
        "quality": [i for i in expected_ids if i.endswith(":quality")],
    }
    _assert_same_models(victim, reference, wanted, probe)
    # and every query was answered (no serving deadline here: none is shed)
    answered = {contracts.decode_map(value)["event_id"] for value in _values(victim, "predictions")}
    unanswered = [event_id for event_id in queries if event_id not in answered]
    assert not unanswered, f"{len(unanswered)} queries never answered"

"""The click loop on the real embedded broker with a real worker process."""

from __future__ import annotations

import itertools
import math
import random

import msgpack
import pytest

from producers.world import World
from streams.agents.join import keeps_negative
from streams.wire import contracts

pytestmark = pytest.mark.broker

T0 = 1_750_000_000_000  # event time of the synthetic streams below (ms)


def _decoded(messages, decoder):
    return [decoder(message.value()) for message in messages]


def test_queries_in_predictions_and_rankings_out(settings, start_worker, produce, reader):
    start_worker(settings)
    world = World(seed=3)
    queries = [world.next_query(T0 + i)[0] for i in range(50)]
    for query in queries:
        produce("queries", query["user_id"].encode(), contracts.encode(query))
    wanted = {query["event_id"] for query in queries}

    def answered(messages):
        return wanted <= {m.key().decode() for m in messages}

    predictions = {
        p["event_id"]: p
        for p in _decoded(reader.read("predictions", answered), contracts.decode_prediction)
    }
    rankings = {
        r["event_id"]: r
        for r in _decoded(reader.read("rankings", answered), contracts.decode_ranking)
    }
    assert wanted <= predictions.keys() and wanted <= rankings.keys()
    for query in queries:
        prediction, ranking = predictions[query["event_id"]], rankings[query["event_id"]]
        ad_ids = [ad["ad_id"] for ad in query["candidates"]]
        assert prediction["ad_ids"] == ad_ids
        scores = prediction["scores"]["engagement"]
        assert len(scores) == len(ad_ids) and all(0.0 < p < 1.0 for p in scores)
        assert prediction["versions"].keys() == {"click", "quality", "category"}
        assert prediction["category"] == {}  # no category label learned yet
        assert sorted(ranking["ad_ids"]) == sorted(ad_ids)
        assert ranking["combined"] == sorted(ranking["combined"], reverse=True)
        by_ad = dict(zip(ad_ids, scores, strict=True))  # engagement only: its order
        assert [by_ad[ad] for ad in ranking["ad_ids"]] == sorted(scores, reverse=True)
        assert ranking["weights"] == {"alpha": 0.0, "beta": 1.0, "version": 0}


def _labelled_stream(world: World, n: int, window_ms: int):
    """Queries, the best or the worst candidate shown in turn, clicks drawn from the world's
    hidden propensities: a stream with a clear signal to learn.

    Event time advances 200 ms per query, so windows close by event time, fast.
    """
    rng = random.Random(11)
    for i in range(n):
        ts = T0 + 200 * i
        query, truth = world.next_query(ts)
        by_propensity = sorted(
            query["candidates"],
            key=lambda a: world.click_probability(truth, world.ad(a["ad_id"]), 0),
        )
        ad = by_propensity[-1 if i % 2 else 0]
        impression = contracts.impression(
            impression_id=f"imp-{i}",
            event_id=query["event_id"],
            ad_id=ad["ad_id"],
            position=0,
            ts=ts + 50,
            arm="main",
        )
        clicked = rng.random() < world.click_probability(truth, world.ad(ad["ad_id"]), 0)
        click = contracts.click(impression_id=f"imp-{i}", ts=ts + 50 + window_ms // 4)
        yield query, impression, click if clicked else None


def test_clicks_become_examples_and_the_loss_falls(settings, start_worker, produce, reader):
    start_worker(settings)
    world = World(seed=5)
    window_ms = int(settings.attribution_window_s * 1000)
    n, n_early = 5000, 500
    clicks = 0

    def reports_of(kind, messages):
        return [
            r
            for r in (msgpack.unpackb(m.value(), strict_map_key=False) for m in messages)
            if r.get("kind") == kind
        ]

    def model_reports(messages):
        return reports_of("model", messages)

    def learned(count):
        return lambda messages: any(r["n"] >= count for r in model_reports(messages))

    # The first impressions, then the rest once they are learned: the learner drains a backlog
    # faster than it reports, so the early figures are those of a report between the two.
    # Windows close in event time as the backlog is read; the last ones once the input is idle.
    stream = _labelled_stream(world, n, window_ms)
    for part in (itertools.islice(stream, n_early), stream):
        for query, impression, click in part:
            produce("queries", query["user_id"].encode(), contracts.encode(query))
            produce(
                "impressions", impression["impression_id"].encode(), contracts.encode(impression)
            )
            if click is not None:
                clicks += 1
                produce("clicks", click["impression_id"].encode(), contracts.encode(click))
        if part is not stream:
            assert learned(n_early)(reader.read("metrics", learned(n_early), 90))
    metrics = reader.read("metrics", learned(n), 90)
    reports = model_reports(metrics)
    final = max(reports, key=lambda r: r["n"])
    assert final["n"] == n, "every impression is learned exactly once"
    early = min((r for r in reports if r["n"] >= n_early), key=lambda r: r["n"])
    assert early["n"] < n
    # NE, not the raw loss: an early stretch with few clicks has a low loss for its base rate
    # alone (a fresh-clone run saw 0.198 at the first report against 0.207 at the end)
    assert final["ne"] < early["ne"], (early, final)
    assert final["ne"] < 1.0 and final["auc"] > 0.6, final

    examples = _decoded(
        reader.read("examples", lambda ms: len(ms) >= final["n"]), contracts.decode_example
    )
    assert len({e["example_id"] for e in examples}) == len(examples), "an example twice"
    positives = sum(e["label"] == 1.0 for e in examples)
    join_counts = {
        name: count
        for name, count in reports_of("worker", metrics)[-1]["counters"].items()
        if name.endswith(("_clicks", "_impressions"))
    }
    assert positives == clicks, f"every click within the window makes a positive: {join_counts}"
    gauges = reports_of("worker", metrics)[-1]["gauges"]  # what the worker holds now
    assert gauges["rss_bytes"] > 50 * 2**20 and gauges["join.held"] > 0, gauges


def test_the_join_keeps_every_click_and_a_sampled_share_of_the_negatives(
    new_settings, start_worker, produce, reader_for
):
    """Negative down-sampling end to end: the join keeps exactly the clicks and the negatives
    its hash keeps, each with its sampling rate; the click model's metrics describe the
    population (a kept negative weighs ``1 / rate``), not the kept examples."""
    rate = 0.1
    settings = new_settings(negative_sampling_rate=rate)
    start_worker(settings)
    window_ms = int(settings.attribution_window_s * 1000)
    stream = list(_labelled_stream(World(seed=5), 3_000, window_ms))
    for query, impression, click in stream:
        produce("queries", query["user_id"].encode(), contracts.encode(query), to=settings)
        impression_id = impression["impression_id"].encode()
        produce("impressions", impression_id, contracts.encode(impression), to=settings)
        if click is not None:
            produce("clicks", impression_id, contracts.encode(click), to=settings)
    clicked = {impression["impression_id"] for _, impression, click in stream if click}
    kept = clicked | {
        impression["impression_id"]
        for _, impression, click in stream
        if click is None and keeps_negative(impression["impression_id"], rate)
    }
    assert 0.07 < (len(kept) - len(clicked)) / (len(stream) - len(clicked)) < 0.13
    reader = reader_for(settings)

    def click_examples(messages):
        decoded = _decoded(messages, contracts.decode_example)
        return {e["example_id"]: e for e in decoded if e["model"] == "click"}

    examples = click_examples(
        reader.read("examples", lambda ms: len(click_examples(ms)) >= len(kept), 90)
    )
    assert examples.keys() == kept
    assert all(e["sampling_rate"] == (1.0 if e["label"] else rate) for e in examples.values())

    def click_reports(messages):
        reports = (msgpack.unpackb(m.value(), strict_map_key=False) for m in messages)
        return [r for r in reports if r.get("kind") == "model" and r["model"] == "click"]

    metrics = reader.read(
        "metrics", lambda ms: any(r["n"] >= len(kept) for r in click_reports(ms)), 60
    )
    final = max(click_reports(metrics), key=lambda r: r["n"])
    population = len(clicked) / (len(clicked) + (len(kept) - len(clicked)) / rate)
    assert final["base_rate"] == pytest.approx(population, rel=1e-9)
    assert population == pytest.approx(len(clicked) / len(stream), rel=0.15)


BAD_QUERIES = {
    b"\xc1\x00garbage": "not msgpack",
    msgpack.packb([1, 2, 3]): "not a map",
    msgpack.packb({"v": 1, "event_id": "e"}): "missing field",
    msgpack.packb({"v": 99}): "unsupported schema version",
}


def _bad_inputs(world: World):
    """(topic, payload, expected reason fragment) for every kind of bad input."""
    query = world.next_query(T0)[0]

    def mutated(**changes):
        return contracts.encode({**query, **changes})

    yield from (("queries", payload, reason) for payload, reason in BAD_QUERIES.items())
    yield "queries", mutated(ts="yesterday"), "wrong type: ts"
    yield "queries", mutated(ts=-5), "absurd timestamp"
    yield "queries", mutated(ts=T0 // 1000), "absurd timestamp"  # seconds, not ms
    yield "queries", mutated(context={"device": math.nan}), "not finite"
    yield "queries", mutated(candidates=[{**query["candidates"][0], "bid": math.inf}]), "not finite"
    yield "queries", mutated(candidates=query["candidates"][:1] * 101), "candidates: 101"
    yield "queries", mutated(query="é" * 600), "too long: query"
    yield "queries", b"\x00" * (2 << 20), "oversized"
    yield "impressions", contracts.encode({"v": 1, "impression_id": 7}), "wrong type"
    yield "clicks", contracts.encode({"v": 1, "impression_id": "x", "ts": math.nan}), "wrong type"
    yield "examples", contracts.encode({"v": 1, "model": "click"}), "missing field"
    yield "predictions", contracts.encode({"v": 1, "event_id": "e", "ts_event": T0}), "missing"


def test_bad_messages_are_dead_lettered_and_the_worker_keeps_serving(
    settings, start_worker, produce, reader
):
    start_worker(settings)
    world = World(seed=9)
    bad = list(_bad_inputs(world))
    for topic, payload, _ in bad:
        produce(topic, b"bad", payload)
    good = [world.next_query(T0 + i)[0] for i in range(20)]
    for query in good:
        produce("queries", query["user_id"].encode(), contracts.encode(query))

    letters = _decoded(
        reader.read("dead-letter", lambda ms: len(ms) >= len(bad)), contracts.decode_dead_letter
    )
    assert len(letters) == len(bad)
    for topic in {t for t, _, _ in bad}:
        expected = sorted(reason for t, _, reason in bad if t == topic)
        got = sorted(
            letter["reason"] for letter in letters if letter["topic"] == settings.topic(topic)
        )
        assert len(got) == len(expected), (topic, got)
        for fragment in expected:
            assert any(fragment in reason for reason in got), (fragment, got)
    assert all(letter["offset"] >= 0 and letter["partition"] >= 0 for letter in letters)

    wanted = {query["event_id"] for query in good}
    answered = reader.read("predictions", lambda ms: wanted <= {m.key().decode() for m in ms})
    assert wanted <= {m.key().decode() for m in answered}

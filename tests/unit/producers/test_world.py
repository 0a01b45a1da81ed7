"""The seeded search-ads world: determinism, taxonomy, contracts and the hidden click model."""

import itertools
import random
import statistics

import pytest

from producers.world import BROWSERS, World
from streams.wire import contracts

TS_MS = 1_700_000_000_000


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=11)


def queries(world: World, n: int) -> list:
    return [world.next_query(ts_ms=TS_MS + i * 60_000) for i in range(n)]


def test_same_seed_makes_the_same_world_and_queries():
    first, second = World(seed=3), World(seed=3)
    assert first.ads == second.ads and first.users == second.users
    assert queries(first, 50) == queries(second, 50)
    assert queries(World(seed=4), 5) != queries(World(seed=3), 5)


def test_taxonomy_has_three_levels_and_at_least_40_leaves(world):
    assert len(world.leaves) >= 40
    assert all(leaf.path.count("/") == 2 for leaf in world.leaves)
    assert all(leaf.words for leaf in world.leaves)
    words = [word for leaf in world.leaves for word in leaf.words]
    assert len(set(words)) == len(words), "leaf vocabularies overlap"


def test_queries_satisfy_the_contract_and_carry_their_truth(world):
    for event, truth in queries(world, 300):
        decoded = contracts.decode_query(contracts.encode(event))
        assert decoded["event_id"] == truth.event_id
        assert 1 <= len(decoded["query"].split()) <= 4  # 2-4 drawn; a repeated word is dropped
        assert 5 <= len(decoded["candidates"]) <= 20
        assert [ad["ad_id"] for ad in decoded["candidates"]] == list(truth.candidates)
        assert set(decoded["context"]) == {"device", "region", "hour", "segment"}
        assert not any("attributes" in ad for ad in decoded["candidates"])


def test_extra_attributes_change_nothing_but_what_is_on_the_wire():
    """With extra attributes, the same queries and truths, plus a browser in the context and
    each ad's landing-page score among its attributes."""
    plain, extra = World(seed=3), World(seed=3, extra_attributes=True)
    for (event, truth), (richer, same) in zip(
        queries(plain, 100), queries(extra, 100), strict=True
    ):
        assert truth == same
        assert richer["context"].pop("browser") in BROWSERS
        for ad in richer["candidates"]:
            score = ad.pop("attributes")["landing_page_score"]
            assert score == extra.ad(ad["ad_id"]).landing_page_score and 0.0 <= score <= 1.0
        assert richer == event


def test_query_words_come_mostly_from_the_true_leaf(world):
    hits = []
    for event, truth in queries(world, 500):
        vocabulary = set(world.vocabulary[truth.leaf])
        words = event["query"].split()
        hits.append(sum(word in vocabulary for word in words) / len(words))
    assert statistics.mean(hits) > 0.6


def test_click_probability_rises_with_category_match(world):
    _, truth = world.next_query(ts_ms=TS_MS)
    by_level: dict[int, list[float]] = {0: [], 1: [], 2: [], 3: []}
    for ad in world.ads:
        pairs = zip(truth.leaf.split("/"), ad.category.split("/"), strict=True)
        shared = sum(1 for _ in itertools.takewhile(lambda pair: pair[0] == pair[1], pairs))
        by_level[shared].append(world.click_probability(truth, ad, position=0))
    means = [statistics.mean(by_level[level]) for level in (0, 1, 2, 3)]
    assert means == sorted(means) and means[3] > 2 * means[2]
    ad = world.ads[0]
    assert world.click_probability(truth, ad, 0) > world.click_probability(truth, ad, 3)


def test_a_small_fraction_of_click_delays_exceeds_the_window():
    rng = random.Random(5)
    delays = [World.click_delay_s(rng) for _ in range(10_000)]
    late = sum(delay > 30.0 for delay in delays) / len(delays)
    assert 0.02 <= late <= 0.06
    assert 2.0 <= statistics.median(delays) <= 8.0


def test_ranking_by_the_hidden_truth_beats_random_ranking(world):
    rng = random.Random(2)
    oracle, chance = [], []
    for _, truth in queries(world, 3_000):
        probabilities = [world.click_probability(truth, world.ad(a), 0) for a in truth.candidates]
        oracle.append(max(probabilities))
        chance.append(rng.choice(probabilities))
    assert 0.05 <= statistics.mean(oracle) <= 0.12
    assert 0.015 <= statistics.mean(chance) <= 0.04
    assert statistics.mean(oracle) > 2 * statistics.mean(chance)

"""A world that changes at runtime: launched and retired leaves, determinism, contracts."""

import statistics
from collections import Counter

import pytest

from producers.world import World, WorldChange
from streams.wire import contracts

TS_MS = 1_700_000_000_000
NEW = "electronics/wearables/smartwatches"
OLD = "travel/flights/international"  # the second most popular leaf: ~11 % of queries


def queries(world: World, n: int, offset: int = 0) -> list:
    return [world.next_query(ts_ms=TS_MS + (offset + i) * 1_000) for i in range(n)]


def changed(seed: int = 5) -> World:
    world = World(seed=seed)
    queries(world, 100)
    world.launch_leaf(NEW)
    queries(world, 100, offset=100)
    world.retire_leaf(OLD)
    return world


def test_the_same_seed_and_calls_make_the_same_changed_world():
    first, second = changed(), changed()
    assert first.leaf_paths == second.leaf_paths and first.ads == second.ads
    assert first.vocabulary == second.vocabulary
    assert queries(first, 200, offset=200) == queries(second, 200, offset=200)


def test_queries_before_a_change_are_those_of_an_unchanged_world():
    plain, world = World(seed=5), World(seed=5)
    before = queries(world, 100)
    assert before == queries(plain, 100)
    world.launch_leaf(NEW)
    assert world.leaf_paths == (*plain.leaf_paths, NEW)


def test_a_launched_leaf_has_its_own_words_ads_and_traffic():
    world = World(seed=5)
    ad_ids = [ad.ad_id for ad in world.ads]
    world.launch_leaf(NEW)
    new_ads = [ad for ad in world.ads if ad.category == NEW]
    assert len(new_ads) == 40
    assert [ad.ad_id for ad in world.ads] == ad_ids + [ad.ad_id for ad in new_ads]
    assert new_ads[0].ad_id == "ad-02000" and new_ads[-1].ad_id == "ad-02039"
    assert {ad.advertiser_id for ad in new_ads} & {"adv-200", "adv-201", "adv-202"}
    words = set(world.vocabulary[NEW])
    others = {word for path, ws in world.vocabulary.items() if path != NEW for word in ws}
    assert len(words) == 6 and not words & others
    assert "electronics/wearables" in world.vocabulary  # the new category got words too

    made = queries(world, 4_000)
    on_new = [(event, truth) for event, truth in made if truth.leaf == NEW]
    assert 0.05 <= len(on_new) / len(made) <= 0.09  # weight 1/3 of 4.72 in all: 7.1 %
    hits = [
        sum(word in words for word in event["query"].split()) / len(event["query"].split())
        for event, _ in on_new
    ]
    assert statistics.mean(hits) > 0.6
    same_leaf = [sum(world.ad(a).category == NEW for a in truth.candidates) for _, truth in on_new]
    assert min(same_leaf) >= 1


def test_a_new_leafs_best_ads_are_clicked_like_any_leafs():
    world = World(seed=5)
    world.launch_leaf("health/fitness/trackers")  # a new vertical: needs its own affinities
    oracle = {}
    for _, truth in queries(world, 6_000):
        best = max(world.click_probability(truth, world.ad(a), 0) for a in truth.candidates)
        oracle.setdefault(truth.leaf == "health/fitness/trackers", []).append(best)
    # its own advertisers' quality and the new vertical's affinities are drawn like the others
    assert statistics.mean(oracle[True]) == pytest.approx(statistics.mean(oracle[False]), rel=0.5)


def test_a_retired_leaf_is_not_queried_and_its_ads_leave_every_candidate_set():
    world = World(seed=5)
    old_ads = {ad.ad_id for ad in world.ads if ad.category == OLD}
    kept = {ad.ad_id: ad for ad in world.ads if ad.category != OLD}
    world.retire_leaf(OLD)
    assert OLD not in world.leaf_paths and len(world.leaf_paths) == 44
    assert {ad.ad_id: ad for ad in world.ads} == kept
    leaves = Counter()
    for event, truth in queries(world, 3_000):
        leaves[truth.leaf] += 1
        assert not old_ads & set(truth.candidates)
        assert all(ad["category"] != OLD for ad in event["candidates"])
    assert OLD not in leaves and len(leaves) >= 40
    assert world.ad(next(iter(old_ads))).category == OLD  # answers to older queries resolve


def test_queries_of_a_changed_world_still_satisfy_the_contract():
    world = changed()
    for event, truth in queries(world, 500):
        decoded = contracts.decode_query(contracts.encode(event))
        assert [ad["ad_id"] for ad in decoded["candidates"]] == list(truth.candidates)
        assert 5 <= len(decoded["candidates"]) <= 20
        assert truth.leaf in world.leaf_paths


def test_retiring_launched_and_base_leaves_down_to_one_leaf():
    world = World(seed=2, n_users=50, n_ads=300, n_advertisers=20)
    world.launch_leaf(NEW)
    for path in world.leaf_paths[:-1]:
        world.retire_leaf(path)
    assert world.leaf_paths == (NEW,)
    assert {truth.leaf for _, truth in queries(world, 50)} == {NEW}
    with pytest.raises(ValueError, match="last leaf"):
        world.retire_leaf(NEW)
    world.launch_leaf("home/energy/solar")
    world.retire_leaf(NEW)
    assert {truth.leaf for _, truth in queries(world, 50)} == {"home/energy/solar"}


def test_bad_changes_are_refused():
    world = World(seed=1)
    with pytest.raises(ValueError, match="exists or was retired"):
        world.launch_leaf("travel/flights/domestic")
    world.retire_leaf("travel/flights/domestic")
    with pytest.raises(ValueError, match="exists or was retired"):
        world.launch_leaf("travel/flights/domestic")
    with pytest.raises(ValueError, match="not a current leaf"):
        world.retire_leaf("travel/flights/domestic")
    for path in ("travel/flights", "Travel/x/y", "a/b/c/d", ""):
        with pytest.raises(ValueError, match="leaf path"):
            world.launch_leaf(path)
    with pytest.raises(ValueError, match="at_s"):
        WorldChange(at_s=-1.0, kind="launch", path=NEW)
    with pytest.raises(ValueError, match="kind"):
        WorldChange(at_s=1.0, kind="rename", path=NEW)  # type: ignore[arg-type]


def test_apply_dispatches_a_change():
    world = World(seed=1)
    world.apply(WorldChange(at_s=0.0, kind="launch", path=NEW))
    world.apply(WorldChange(at_s=1.0, kind="retire", path=OLD))
    assert NEW in world.leaf_paths and OLD not in world.leaf_paths


def test_new_leaf_path_is_fresh_deterministic_and_stable_until_a_change():
    world = World(seed=4)
    suggested = world.new_leaf_path()
    assert suggested == world.new_leaf_path() == World(seed=4).new_leaf_path()
    assert suggested not in world.leaf_paths and contracts.is_category_path(suggested)
    seen = set(world.leaf_paths)
    for _ in range(15):  # past the plausible names, into made-up ones
        path = world.new_leaf_path()
        assert path not in seen and path.count("/") == 2 and contracts.is_category_path(path)
        seen.add(path)
        world.launch_leaf(path)
        world.retire_leaf(path)

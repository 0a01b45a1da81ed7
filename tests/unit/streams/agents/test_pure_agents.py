"""The pure functions behind the agents: ranking_for, examples_for (join), predict (serve)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learners import ENGAGEMENT_ONLY, MissingObjectiveError, Weights, features_for, stable_hash
from learners.feature_spec import FeatureSpec
from learners.features import features_of
from producers.world import World
from streams.agents.join import examples_for
from streams.agents.rank import ranking_for
from streams.agents.serve import predict, predict_many
from streams.labelling.attribution import Label
from streams.models.registry import CLICK, QUALITY, default_models
from streams.serving.view import Serving
from streams.wire import contracts

TS = 1_700_000_000_000

T_RANKED = 1_700_000_000_500


def make_query(n: int = 3) -> dict[str, Any]:
    return contracts.query(
        event_id="e-1",
        ts=TS,
        user_id="u-1",
        text="red running shoes",
        context={"device": "mobile", "region": "fr", "hour": 9, "segment": "new"},
        candidates=[
            contracts.candidate(
                ad_id=f"a-{i}",
                advertiser_id=f"adv-{i % 2}",
                category=["sports/shoes/running", "sports", "electronics/phones"][i % 3],
                bid=0.1 * (i + 1),
            )
            for i in range(n)
        ],
    )


def make_prediction(engagement: list[float], quality: list[float] | None = None) -> dict[str, Any]:
    scores = {"engagement": engagement}
    if quality is not None:
        scores["quality"] = quality
    event = contracts.prediction(
        event_id="e-1",
        ts_event=TS,
        ts_scored=TS + 2,
        ad_ids=[f"a-{i}" for i in range(len(engagement))],
        scores=scores,
        versions={"click": 3},
    )
    return contracts.decode_prediction(contracts.encode(event))  # as the agent sees it


# --------------------------------------------------------------------------- rank


def test_ranking_orders_ads_by_engagement_descending_and_records_the_weights() -> None:
    prediction = make_prediction([0.2, 0.9, 0.05, 0.4])
    weights = Weights(alpha=0.0, beta=1.0, version=7)
    ranking = ranking_for(prediction, weights, T_RANKED)
    assert ranking["ad_ids"] == ["a-1", "a-3", "a-0", "a-2"]
    mean = (0.2 + 0.9 + 0.05 + 0.4) / 4  # each objective is normalized by its mean
    assert ranking["combined"] == pytest.approx([v / mean for v in (0.9, 0.4, 0.2, 0.05)])
    assert ranking["weights"] == {"alpha": 0.0, "beta": 1.0, "version": 7}
    assert ranking["event_id"] == "e-1" and ranking["ts_event"] == TS
    assert contracts.decode_ranking(contracts.encode(ranking)) == ranking


def test_ranking_uses_quality_when_alpha_is_positive() -> None:
    prediction = make_prediction([0.9, 0.1], quality=[0.0, 1.0])
    ranking = ranking_for(prediction, Weights(alpha=1.0, beta=0.5, version=2), T_RANKED)
    assert ranking["ad_ids"] == ["a-1", "a-0"]
    # normalized: quality [0, 2] (mean 0.5), engagement [1.8, 0.2] (mean 0.5)
    assert ranking["combined"] == pytest.approx([1.0 * 2 + 0.5 * 0.2, 0.5 * 1.8])
    assert ranking["weights"]["version"] == 2


def test_ranking_without_a_weighted_objective_raises_a_value_error() -> None:
    """The rank agent dead-letters ValueErrors: a missing objective must be one."""
    with pytest.raises(MissingObjectiveError) as info:
        ranking_for(make_prediction([0.5]), Weights(alpha=1.0, beta=1.0, version=1), T_RANKED)
    assert isinstance(info.value, ValueError)


# Scores on a 1e-6 grid: normalizing divides by the mean, and two scores a few ulps apart
# (0.9999999999999999 and 1.0) can round to a tie, which the stable order then breaks by index.
@given(scores=st.lists(st.integers(0, 10**6).map(lambda k: k / 10**6), min_size=1, max_size=100))
def test_ranking_is_a_stable_descending_permutation(scores: list[float]) -> None:
    ranking = ranking_for(make_prediction(scores), ENGAGEMENT_ONLY, T_RANKED)
    assert sorted(ranking["ad_ids"]) == sorted(f"a-{i}" for i in range(len(scores)))
    assert ranking["combined"] == sorted(ranking["combined"], reverse=True)
    by_score = sorted(range(len(scores)), key=lambda i: -scores[i])
    assert [f"a-{i}" for i in by_score] == ranking["ad_ids"], "normalizing keeps the order"
    positions = [int(ad[2:]) for ad in ranking["ad_ids"]]
    pairs = zip(positions, ranking["combined"], strict=True)
    for (i, a), (j, b) in itertools.pairwise(pairs):
        assert a > b or (a == b and i < j), "ties keep the query's order"
    assert contracts.decode_ranking(contracts.encode(ranking))


# --------------------------------------------------------------------------- join


def make_label(ad_id: str = "a-1", clicked: bool = True) -> Label:
    impression = contracts.impression(
        impression_id="i-9", event_id="e-1", ad_id=ad_id, position=0, ts=TS + 10, arm="main"
    )
    return Label(
        impression=impression,
        query=make_query(),
        label=1.0 if clicked else 0.0,
        ts_label=TS + 400 if clicked else TS + 10 + 30_000,
        source={"adstream.impressions:0": 5, "adstream.clicks:2": 11},
    )


MODELS = default_models(n_bits=18)


def test_examples_for_an_ad_not_among_the_candidates_are_none() -> None:
    assert examples_for(make_label(ad_id="a-unknown"), MODELS.values()) is None


@pytest.mark.parametrize("clicked", [True, False])
def test_example_for_a_label_decodes_with_the_features_of_query_and_ad(clicked: bool) -> None:
    label = make_label(clicked=clicked)
    (example,) = examples_for(label, MODELS.values())  # not rated: the click example only
    decoded = contracts.decode_example(contracts.encode(example))
    ad = label.query["candidates"][1]
    assert ad["ad_id"] == "a-1"
    assert decoded["features"] == features_for(label.query, ad, 18)
    assert decoded["features"] != features_for(label.query, label.query["candidates"][0], 18)
    assert all(0 <= index < 2**18 for index in decoded["features"])
    assert decoded["model"] == CLICK
    assert decoded["label"] == (1.0 if clicked else 0.0)
    assert decoded["example_id"] == "i-9"
    assert decoded["ts_event"] == TS + 10
    assert decoded["ts_label"] == label.ts_label
    assert decoded["source"] == label.source
    assert decoded["weight"] == 1.0 and decoded["sampling_rate"] == 1.0


# --------------------------------------------------------------------------- serve


def make_ctx(n_bits: int = 18) -> Serving:
    """The serving view of untrained models: the live models themselves."""
    return Serving(default_models(n_bits=n_bits))


def test_predict_scores_every_candidate_in_order_with_an_untrained_model() -> None:
    query = make_query(5)
    prediction = predict(make_ctx(), query, TS + 3)
    assert prediction["event_id"] == "e-1"
    assert prediction["ts_event"] == TS and prediction["ts_scored"] == TS + 3
    assert prediction["ad_ids"] == [ad["ad_id"] for ad in query["candidates"]]
    assert set(prediction["scores"]) == {"engagement", "quality"}
    for scores in prediction["scores"].values():
        assert len(scores) == 5
        assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)
    assert prediction["versions"] == {"click": 0, "quality": 0, "category": 0}
    assert contracts.decode_prediction(contracts.encode(prediction)) == prediction


def test_predict_reflects_learning_and_the_model_version() -> None:
    ctx = make_ctx()
    query = make_query(2)
    x = features_for(query, query["candidates"][0], 18)
    before = predict(ctx, query, TS)["scores"]["engagement"]
    for _ in range(20):
        ctx.models[CLICK].learn(x, True)
    after = predict(ctx, query, TS)
    assert after["versions"] == {"click": 20, "quality": 0, "category": 0}
    assert after["scores"]["engagement"][0] > before[0]


def test_a_batch_of_queries_gets_the_predictions_each_would_get_alone() -> None:
    """Serving scores every candidate of a batch in one call per model, and each category node
    all the queries that reach it: that changes nothing but the cost (the same category paths,
    probabilities and scores equal to 1e-12, everything else exactly)."""
    world = World(seed=2)
    ctx = make_ctx()
    drawn = [world.next_query(TS + i) for i in range(240)]
    for query, truth in drawn[:200]:  # models with weights, so that the scores differ
        ctx.category.learn(ctx.category.features(query), truth.leaf)
    queries = [query for query, _ in drawn[200:]]
    for query in queries[:20]:
        for ad in query["candidates"]:
            x = features_for(query, ad, 18)
            ctx.models[CLICK].learn(x, ad["ad_id"] < "ad-0100")
            ctx.models[QUALITY].learn(x, 0.3)
    batch = predict_many(ctx, queries, TS)
    alone = [predict(ctx, query, TS) for query in queries]
    assert [p["event_id"] for p in batch] == [q["event_id"] for q in queries]
    for together, single in zip(batch, alone, strict=True):
        for objective, scores in single["scores"].items():
            assert together["scores"][objective] == pytest.approx(scores, abs=1e-12)
        assert list(together["category"]) == list(single["category"]), "the same paths"
        assert list(together["category"].values()) == pytest.approx(
            list(single["category"].values()), abs=1e-12
        )
        assert {**together, "scores": None, "category": None} == {
            **single,
            "scores": None,
            "category": None,
        }
    assert len({round(s, 6) for p in batch for s in p["scores"]["engagement"]}) > 20
    assert len({next(iter(p["category"])) for p in batch}) > 3, "categories that differ"
    assert predict_many(ctx, [], TS) == []


def test_predict_output_ranks_end_to_end() -> None:
    prediction = predict(make_ctx(), make_query(4), TS + 1)
    decoded = contracts.decode_prediction(contracts.encode(prediction))
    ranking = ranking_for(decoded, ENGAGEMENT_ONLY, T_RANKED)
    assert sorted(ranking["ad_ids"]) == sorted(prediction["ad_ids"])
    engagement = prediction["scores"]["engagement"]
    by_ad = dict(zip(prediction["ad_ids"], engagement, strict=True))
    assert [by_ad[ad] for ad in ranking["ad_ids"]] == sorted(engagement, reverse=True)


def test_a_rated_impression_also_makes_a_quality_example_with_the_same_features() -> None:
    label = make_label(clicked=False)
    label.quality = 0.8
    click, quality = examples_for(label, MODELS.values())
    assert (click["model"], quality["model"]) == (CLICK, "quality")
    assert quality["label"] == 0.8 and quality["features"] == click["features"]
    assert quality["example_id"] == "i-9:quality"
    assert contracts.decode_example(contracts.encode(quality))["label"] == 0.8


def test_each_model_learns_its_label_with_the_features_of_its_own_feature_set() -> None:
    """A second click model on a feature set of its own (the bid, numeric) gets an example of
    its own with those features; a rating model gets none for an impression not rated."""
    bids = FeatureSpec.from_mapping(
        {
            "attributes": [{"source": "candidate", "name": "bid", "kind": "numeric"}],
            "category_match": False,
            "bias": False,
        },
        field="features.bids",
        n_bits=18,
    )
    models = default_models(n_bits=18)
    models["click_bids"] = dataclasses.replace(models[CLICK], name="click_bids", features=bids)
    label = make_label(clicked=True)
    click, by_bid = examples_for(label, models.values())
    ad = label.query["candidates"][1]
    assert (click["model"], by_bid["model"]) == (CLICK, "click_bids")
    assert by_bid["example_id"] == click["example_id"] == "i-9"
    assert click["features"] == features_for(label.query, ad, 18)
    assert by_bid["features"] == {stable_hash("bid", 18): ad["bid"]}


def test_missing_attributes_are_counted_by_serving_not_again_by_the_join() -> None:
    """An attribute a feature set names and a query lacks is counted once, when the query is
    served; the join, making the same features again for its label, counts nothing."""
    browsers = FeatureSpec.from_mapping(
        {
            "attributes": [{"source": "context", "name": "browser", "kind": "categorical"}],
            "category_match": False,
        },
        field="features.browsers",
        n_bits=18,
    )
    models = default_models(n_bits=18)
    models[CLICK] = dataclasses.replace(models[CLICK], features=browsers)
    missing = features_of(browsers).missing
    before = missing["context.browser"]
    label = make_label()
    predict(Serving(models), label.query, TS)
    assert missing["context.browser"] == before + 1
    examples_for(label, models.values())
    assert missing["context.browser"] == before + 1

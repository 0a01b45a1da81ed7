"""Rebuilding a model from its examples: the same examples in the same order give the same
state, for our FTRL models and River's pipelines, trees and forests; one missing or repeated
example does not."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from river import compose, forest, linear_model, preprocessing, tree

from learners.sparse import SparseRows
from streams import snapshots
from streams.models.category import CategoryModel
from streams.models.learner import learn_example
from streams.models.registry import default_models
from streams.operations.rebuild import fresh_model, model_state, replay
from streams.wire import contracts

TS = 1_700_000_000_000


def _examples(model: str, n: int, seed: int = 1) -> list[tuple[str, int, dict[str, Any]]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label: Any = (
            rng.choice(["a/b/c", "a/b/d", "e/f/g"]) if model == "category" else rng.random()
        )
        event = contracts.example(
            example_id=f"{model}-{i}",
            model=model,
            features={rng.randrange(500): 1.0 for _ in range(4)},
            label=label,
            weight=1.0,
            sampling_rate=1.0,
            ts_event=TS + i,
            ts_label=TS + i,
            source={"impressions:0": i},
        )
        rows.append(("examples:0", i, contracts.decode_example(contracts.encode(event))))
    return rows


def _learned(model: Any, rows: list[tuple[str, int, dict[str, Any]]]) -> Any:
    for _, _, example in rows:
        learn_example(model, example)
    return model


def test_replay_rebuilds_the_same_click_model_from_its_spec() -> None:
    rows = _examples("click", 400)
    original = _learned(default_models()["click"], rows)
    rebuilt = fresh_model(original.name, snapshots.spec_of(original), original.definition())
    ledger = replay(rebuilt, rows)
    assert ledger.n_learned == 400 and ledger.offsets == {"examples:0": 399}
    assert model_state(rebuilt.estimator) == model_state(original.estimator)
    assert rebuilt.report() == original.report()


def test_a_missing_or_repeated_example_changes_the_state() -> None:
    rows = _examples("click", 200)
    original = _learned(default_models()["click"], rows)
    missing = fresh_model(original.name, snapshots.spec_of(original), original.definition())
    replay(missing, rows[:100] + rows[101:])
    repeated = fresh_model(original.name, snapshots.spec_of(original), original.definition())
    _learned(repeated, rows[:101] + rows[100:])  # learned twice, behind the ledger's back
    assert model_state(missing.estimator) != model_state(original.estimator)
    assert model_state(repeated.estimator) != model_state(original.estimator)


def test_replay_skips_a_label_the_join_emitted_twice() -> None:
    rows = _examples("click", 50)
    again = [("examples:0", 50 + i, example) for i, (_, _, example) in enumerate(rows[40:])]
    original = _learned(default_models()["click"], rows)
    rebuilt = fresh_model(original.name, snapshots.spec_of(original), original.definition())
    ledger = replay(rebuilt, rows + again)
    assert ledger.n_learned == 50
    assert model_state(rebuilt.estimator) == model_state(original.estimator)


def test_category_class_changes_are_replayed_where_they_happened() -> None:
    rows = _examples("category", 300)
    original = CategoryModel()
    _learned(original, rows[:120])
    original.remove_class("a/b/d", seq=1, at_ms=TS)
    _learned(original, rows[120:])
    rebuilt = fresh_model(original.name, snapshots.spec_of(original), original.definition())
    replay(rebuilt, rows, original.changes)
    assert rebuilt.n_learned == original.n_learned < 300  # labels under a/b/d were skipped
    assert model_state(rebuilt.estimator) == model_state(original.estimator)
    assert rebuilt.report() == original.report()


@pytest.mark.parametrize(
    "estimator",
    [
        compose.Pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
        tree.HoeffdingAdaptiveTreeClassifier(grace_period=50, seed=3),
        forest.ARFClassifier(n_models=3, seed=3),
    ],
    ids=["pipeline", "hoeffding-adaptive-tree", "adaptive-random-forest"],
)
def test_replay_rebuilds_river_models_from_their_spec(estimator: Any) -> None:
    """A River pipeline, tree and forest are rebuilt from their snapshot's spec and the log:
    the same state and the same predictions (the randomized ones from their seed)."""
    rows = [
        (position, offset, {**example, "label": float(example["label"] > 0.4)})
        for position, offset, example in _examples("click", 600)
    ]
    original = _learned(dataclasses.replace(default_models()["click"], estimator=estimator), rows)
    rebuilt = fresh_model(original.name, snapshots.spec_of(original), original.definition())
    assert type(rebuilt.estimator) is type(estimator)
    replay(rebuilt, rows)
    assert model_state(rebuilt.estimator) == model_state(original.estimator)
    xs = [example["features"] for _, _, example in rows[:50]]
    assert [rebuilt.score(SparseRows.from_dicts([x])) for x in xs] == [
        original.score(SparseRows.from_dicts([x])) for x in xs
    ]

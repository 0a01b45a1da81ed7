"""River's own classifiers on adstream's learning and scoring paths: weights passed by keyword,
a defined probability before a model has seen both classes, and exactly River's progressive
validation (every prediction, and the log loss) for a pipeline fed as adstream examples."""

from __future__ import annotations

from typing import Any

import pytest
from river import compose, datasets, evaluate, forest, linear_model, metrics, preprocessing, tree

from learners.positive import positive_proba
from learners.sparse import SparseRows
from streams.models.registry import ENGAGEMENT, LiveModel
from streams.wire import contracts

TS = 1_700_000_000_000


def _pipeline() -> compose.Pipeline:
    return compose.Pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())


def _phishing(n: int | None = None) -> list[tuple[dict[int, float], bool]]:
    """River's bundled Phishing dataset, its features renamed to the integer keys of the
    ``examples`` contract (in their order)."""
    rows = list(datasets.Phishing().take(n) if n else datasets.Phishing())
    names = {name: i for i, name in enumerate(rows[0][0])}
    return [({names[k]: float(v) for k, v in x.items()}, bool(y)) for x, y in rows]


def _example(i: int, x: dict[int, float], y: bool, weight: float = 1.0) -> dict[str, Any]:
    """The example as the learner receives it: encoded and decoded by the contract."""
    event = contracts.example(
        example_id=f"imp-{i}",
        model="click",
        features=x,
        label=float(y),
        weight=weight,
        sampling_rate=1.0,
        ts_event=TS + i,
        ts_label=TS + i,
        source={"impressions:0": i},
    )
    return contracts.decode_example(contracts.encode(event))


def test_a_pipeline_learns_exactly_as_rivers_progressive_validation() -> None:
    rows = _phishing()
    theirs = [
        positive_proba(step["Prediction"])
        for step in evaluate.iter_progressive_val_score(
            rows, _pipeline(), metrics.LogLoss(), yield_predictions=True
        )
    ]
    river_loss = metrics.LogLoss()
    for (_, y), p in zip(rows, theirs, strict=True):
        river_loss.update(y, {True: p, False: 1.0 - p})
    model = LiveModel("click", ENGAGEMENT, _pipeline())
    ours = [model.learn_example(_example(i, x, y)) for i, (x, y) in enumerate(rows)]
    assert ours == theirs, "every prediction, before learning, equal to River's"
    assert model.report()["logloss"] == pytest.approx(river_loss.get(), rel=1e-12)
    assert model.version == len(rows) == 1_250


@pytest.mark.parametrize(
    "estimator",
    [
        linear_model.LogisticRegression(),
        _pipeline(),
        tree.HoeffdingAdaptiveTreeClassifier(seed=1),
        forest.ARFClassifier(n_models=3, seed=1),
    ],
    ids=["logistic-regression", "pipeline", "hoeffding-adaptive-tree", "adaptive-random-forest"],
)
def test_river_classifiers_learn_weighted_examples_and_score_before_both_classes(
    estimator: Any,
) -> None:
    rows = _phishing(300)
    negatives = [(x, y) for x, y in rows if not y][:5]
    model = LiveModel("click", ENGAGEMENT, estimator)
    for i, (x, y) in enumerate(negatives):  # one class only: a defined probability, no KeyError
        p = model.learn_example(_example(i, x, y, weight=2.0))
        assert 0.0 <= p <= 1.0
    for i, (x, y) in enumerate(rows):
        model.learn_example(_example(100 + i, x, y, weight=0.5 if y else 2.0))
    scores = model.score(SparseRows.from_dicts([x for x, _ in rows[:10]]))  # the serving path
    assert len(scores) == 10 and all(0.0 <= s <= 1.0 for s in scores)
    assert model.version == 305 and model.report()["auc"] > 0.5


def test_a_tree_that_has_seen_negatives_only_scores_zero() -> None:
    model = LiveModel("click", ENGAGEMENT, tree.HoeffdingTreeClassifier())
    x, _ = _phishing(1)[0]
    assert model.learn_example(_example(0, x, False)) == 0.0  # nothing seen: {} -> 0
    assert model.learn_example(_example(1, x, False)) == 0.0  # negatives only: {False: 1.0}

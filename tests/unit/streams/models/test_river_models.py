"""River's own estimators on adstream's learning and scoring paths: weights passed by keyword,
a defined probability before a classifier has seen both classes, exactly River's progressive
validation (every prediction, and the log loss) for a pipeline fed as adstream examples, and a
regressor serving the quality objective."""

from __future__ import annotations

import random
from typing import Any

import pytest
from river import (
    compose,
    datasets,
    evaluate,
    forest,
    linear_model,
    metrics,
    optim,
    preprocessing,
    tree,
)

from learners import ProgressiveQuality
from learners.scores import positive_proba
from learners.sparse import SparseRows
from streams.models.registry import ENGAGEMENT, QUALITY, LiveModel
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


def _example(
    i: int, x: dict[int, float], y: bool, weight: float = 1.0, label: float | None = None
) -> dict[str, Any]:
    """The example as the learner receives it: encoded and decoded by the contract (its label
    ``y`` as 1.0 or 0.0, or a rating ``label``)."""
    event = contracts.example(
        example_id=f"imp-{i}",
        model="click" if label is None else "quality",
        features=x,
        label=float(y) if label is None else label,
        weight=weight,
        sampling_rate=1.0,
        ts_event=TS + i,
        ts_label=TS + i,
        source={"impressions:0": i},
    )
    return contracts.decode_example(contracts.encode(event))


def test_a_pipeline_learns_exactly_as_rivers_progressive_validation() -> None:
    """Fed as adstream examples (encoded and decoded by the contract), River's bundled
    Phishing dataset gives exactly River's own progressive validation: every prediction made
    before learning, and the log loss to the last digit (``evaluate.progressive_val_score``)."""
    rows = _phishing()
    theirs = [
        positive_proba(step["Prediction"])
        for step in evaluate.iter_progressive_val_score(
            rows, _pipeline(), metrics.LogLoss(), yield_predictions=True
        )
    ]
    river_loss = evaluate.progressive_val_score(rows, _pipeline(), metrics.LogLoss())
    model = LiveModel("click", ENGAGEMENT, _pipeline())
    ours = [model.learn_example(_example(i, x, y)) for i, (x, y) in enumerate(rows)]
    assert ours == theirs, "every prediction, before learning, equal to River's"
    assert model.report()["logloss"] == river_loss.get()
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


def test_a_river_regressor_serves_and_learns_the_quality_objective() -> None:
    """Ratings in [0, 1] learned by a pipeline ending in a regressor: its predictions, clipped
    to [0, 1], are the quality scores, and it learns them better than a constant."""
    rng = random.Random(4)
    regressor = compose.Pipeline(
        preprocessing.StandardScaler(), linear_model.LinearRegression(intercept_lr=0.05)
    )
    model = LiveModel("quality", QUALITY, regressor, ProgressiveQuality(), binary=False)
    for i in range(2_000):
        a, b = rng.random(), rng.random()
        rating = min(1.0, max(0.0, 0.2 + 0.6 * a + rng.gauss(0.0, 0.05)))
        p = model.learn_example(_example(i, {0: a, 1: b}, rating >= 0.5, label=rating))
        assert 0.0 <= p <= 1.0
    report = model.report()
    assert report["mae"] < 0.5 * report["constant_mae"]
    (score,) = model.score(SparseRows.from_dicts([{0: 0.9, 1: 0.5}]))
    assert score == pytest.approx(0.74, abs=0.05)


def test_a_river_classifier_learns_ratings_as_soft_labels() -> None:
    """Ratings in [0, 1] learned by River's logistic regression, each as two weighted examples,
    move its probability towards the ratings (0.23 and 0.77 at the two ends below)."""
    rng = random.Random(5)
    classifier = linear_model.LogisticRegression(optimizer=optim.SGD(0.1))
    model = LiveModel("quality", QUALITY, classifier, ProgressiveQuality(), binary=False)
    for i in range(3_000):
        a = rng.random()
        rating = min(1.0, max(0.0, 0.2 + 0.6 * a + rng.gauss(0.0, 0.05)))
        model.learn_example(_example(i, {0: a, 1: 1.0}, rating >= 0.5, label=rating))
    report = model.report()
    assert report["mae"] < 0.5 * report["constant_mae"]
    low, high = model.score(SparseRows.from_dicts([{0: 0.05, 1: 1.0}, {0: 0.95, 1: 1.0}]))
    assert low == pytest.approx(0.23, abs=0.05) and high == pytest.approx(0.77, abs=0.05)

"""MutableOneVsRest: River equivalence, runtime class changes, a new class's learning curve."""

from __future__ import annotations

import pickle
import random
from collections.abc import Iterator
from typing import Any

import pytest
from river import linear_model, multiclass, optim

from learners import FTRLLogisticRegression, MutableOneVsRest, query_text_features

N_BITS = 18


def _query_stream(
    n: int, seed: int, classes: list[str], own_word_p: float = 0.3
) -> Iterator[tuple[dict[int, float], str]]:
    """Hashed query texts of 4 words; each word is from the class's own 30-word vocabulary with
    probability ``own_word_p``, else from a 100-word vocabulary shared by every class."""
    rng = random.Random(seed)
    for _ in range(n):
        c = rng.choice(classes)
        words = [
            f"{c}w{rng.randrange(30)}" if rng.random() < own_word_p else f"s{rng.randrange(100)}"
            for _ in range(4)
        ]
        yield query_text_features({"query": " ".join(words)}, N_BITS), c


CLASSES = [f"c{i}" for i in range(5)]


def _prototypes() -> list[Any]:
    return [FTRLLogisticRegression(alpha=0.2), linear_model.LogisticRegression(optim.SGD(0.1))]


@pytest.mark.parametrize("prototype", _prototypes(), ids=["ftrl", "river_logreg"])
def test_fixed_classes_predict_exactly_like_rivers_one_vs_rest(prototype: Any) -> None:
    ours, river = MutableOneVsRest(prototype), multiclass.OneVsRestClassifier(prototype)
    for x, y in _query_stream(2_000, seed=1, classes=CLASSES):
        p_ours, p_river = ours.predict_proba_one(x), river.predict_proba_one(x)
        assert list(p_ours) == list(p_river)  # same classes, same (creation) order
        assert all(abs(p_ours[c] - p_river[c]) <= 1e-12 for c in p_river)
        assert ours.predict_one(x) == river.predict_one(x)
        ours.learn_one(x, y)
        river.learn_one(x, y)
    assert ours.classes == tuple(CLASSES)


def test_before_any_class_predictions_are_empty() -> None:
    model = MutableOneVsRest(FTRLLogisticRegression())
    assert model.predict_proba_one({1: 1.0}) == {}
    assert model.predict_one({1: 1.0}) is None
    model.add_class("a")
    model.add_class("b")
    assert model.predict_proba_one({1: 1.0}) == {"a": 0.5, "b": 0.5}


def _trained(n: int = 1_000, **kwargs: Any) -> MutableOneVsRest:
    model = MutableOneVsRest(FTRLLogisticRegression(alpha=0.2), **kwargs)
    for x, y in _query_stream(n, seed=2, classes=CLASSES):
        model.learn_one(x, y)
    return model


def test_remove_class_leaves_other_models_bitwise_identical_and_is_never_predicted() -> None:
    model = _trained()
    before = {c: pickle.dumps(m) for c, m in model.classifiers.items() if c != "c2"}
    probe = [x for x, _ in _query_stream(200, seed=3, classes=CLASSES)]
    model.remove_class("c2")
    assert {c: pickle.dumps(m) for c, m in model.classifiers.items()} == before
    assert model.classes == ("c0", "c1", "c3", "c4")
    assert model.retired == {"c2"}
    for x in probe:
        proba = model.predict_proba_one(x)
        assert "c2" not in proba and model.predict_one(x) != "c2"
        assert sum(proba.values()) == pytest.approx(1.0)
    # Labels of the retired class are skipped (counted); the others keep learning.
    for x, y in _query_stream(500, seed=4, classes=CLASSES):
        model.learn_one(x, y)
        assert "c2" not in model.predict_proba_one(x)
    assert 0 < model.n_skipped_labels < 500
    assert model.classes == ("c0", "c1", "c3", "c4")
    model.add_class("c2")  # an explicit add brings it back, from the prototype
    assert model.retired == set() and "c2" in model.predict_proba_one(probe[0])
    assert model.classifiers["c2"]._n_learned == 0


def test_remove_then_other_classes_learn_as_if_the_class_never_existed_in_prediction() -> None:
    model = _trained()
    model.remove_class("c4")
    x, _ = next(_query_stream(1, seed=9, classes=CLASSES))
    raw = {c: m.predict_proba_one(x)[True] for c, m in model.classifiers.items()}
    total = sum(raw.values())
    assert model.predict_proba_one(x) == {c: p / total for c, p in raw.items()}


def test_warm_start_copies_the_model_and_then_learns_independently() -> None:
    model = _trained()
    source = pickle.dumps(model.classifiers["c0"])
    model.add_class("c9", warm_start_from="c0")
    assert pickle.dumps(model.classifiers["c9"]) == source
    assert model.classifiers["c9"] is not model.classifiers["c0"]
    x, _ = next(_query_stream(1, seed=5, classes=CLASSES))
    model.learn_one(x, "c9")
    assert model.classifiers["c9"].predict_proba_one(x) != model.classifiers[
        "c0"
    ].predict_proba_one(x)
    assert list(model.classifiers)[-1] == "c9"


def test_add_class_errors_and_idempotence() -> None:
    model = _trained(200)
    before = pickle.dumps(model)
    model.add_class("c0")  # existing: nothing happens
    assert pickle.dumps(model) == before
    with pytest.raises(ValueError, match="cannot be warm-started"):
        model.add_class("c0", warm_start_from="c1")
    with pytest.raises(KeyError, match="not a class"):
        model.add_class("new", warm_start_from="nope")
    with pytest.raises(KeyError, match="not a class"):
        model.remove_class("nope")
    assert pickle.dumps(model) == before


def test_without_auto_add_unknown_labels_are_skipped_and_change_nothing() -> None:
    model = MutableOneVsRest(FTRLLogisticRegression(), auto_add=False)
    model.add_class("c0")
    model.add_class("c1")
    stream = list(_query_stream(300, seed=6, classes=CLASSES))
    for x, y in stream:
        before = None if y in model.classifiers else pickle.dumps(model.classifiers)
        model.learn_one(x, y)
        if before is not None:
            assert pickle.dumps(model.classifiers) == before
    assert model.classes == ("c0", "c1")
    assert model.n_skipped_labels == sum(y not in ("c0", "c1") for _, y in stream)


def test_clone_and_pickle() -> None:
    model = _trained(auto_add=False)  # auto_add False and no class: learned nothing
    assert model.classes == ()
    model = _trained()
    model.remove_class("c1")
    fresh = model.clone()
    assert fresh.classifier._get_params() == {
        "alpha": 0.2,
        "beta": 1.0,
        "l1": 0.0,
        "l2": 1.0,
    }
    assert fresh.classes == () and fresh.retired == set() and fresh.n_skipped_labels == 0
    probe = [x for x, _ in _query_stream(50, seed=7, classes=CLASSES)]
    other = pickle.loads(pickle.dumps(model))
    assert [other.predict_proba_one(x) for x in probe] == [
        model.predict_proba_one(x) for x in probe
    ]
    assert other.retired == {"c1"}


def _learning_curve(seed: int) -> tuple[float, float, float]:
    """Recall of a class added after 3,000 examples of 5 others: over its first 100 labels,
    over its labels 300 to 600, and the old classes' recall during that second period."""
    old = CLASSES
    model = MutableOneVsRest(FTRLLogisticRegression(alpha=0.2))
    for x, y in _query_stream(3_000, seed=seed, classes=old):
        model.learn_one(x, y)
    model.add_class("c5")
    n_new, early, late, old_late = 0, [], [], []
    for x, y in _query_stream(10_000, seed=seed + 100, classes=[*old, "c5"]):
        hit = model.predict_one(x) == y  # predict, then learn
        model.learn_one(x, y)
        if y == "c5":
            (early if n_new < 100 else late if n_new >= 300 else []).append(hit)
            n_new += 1
            if n_new == 600:
                break
        elif n_new >= 300:
            old_late.append(hit)
    return sum(early) / len(early), sum(late) / len(late), sum(old_late) / len(old_late)


def test_a_new_class_reaches_the_old_classes_recall_within_300_labels_of_its_own() -> None:
    """Within 300 labels of its own, a new class's recall is within 3 points of the old ones'.

    Measured on this stream (10 seeds, 6 classes, old classes' recall about 0.80): the new
    class's recall trails the old classes' by 36 points over its first 100 labels, by 20 over its
    labels 100-200, by 9 over 200-300 and by 0.5 over 300-600 (within +-6 points on every seed,
    the noise of a 300-label recall being about 2.3 points). So the test averages 5 seeds: from
    its 300th label the gap is within 3 points, while over its first 100 labels it is over 20
    points, which shows the bound measures learning and not a class that is easy from the start.
    """
    curves = [_learning_curve(seed) for seed in range(5)]
    early, late, old = (sum(values) / len(values) for values in zip(*curves, strict=True))
    assert abs(late - old) <= 0.03, (late, old)
    assert old - early >= 0.20, (early, old)

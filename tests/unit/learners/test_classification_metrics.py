"""ProgressiveClassification: River equivalence, classes appearing and disappearing, pickling."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from river import metrics

from learners import ProgressiveClassification


def _pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Classes a-c from the start, d from the 200th update, e only ever predicted."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        classes = "abcd" if i >= 200 else "abc"
        y = rng.choice(classes)
        y_pred = y if rng.random() < 0.6 else rng.choice(classes + "e")
        pairs.append((y, y_pred))
    return pairs


def test_matches_rivers_accuracy_and_macro_f1_as_classes_appear() -> None:
    ours, accuracy, macro_f1 = ProgressiveClassification(), metrics.Accuracy(), metrics.MacroF1()
    for y, y_pred in _pairs(1_000, seed=1):
        ours.update(y, y_pred)
        accuracy.update(y, y_pred)
        macro_f1.update(y, y_pred)
        report = ours.report()
        assert report["accuracy"] == pytest.approx(accuracy.get(), abs=1e-12)
        assert report["macro_f1"] == pytest.approx(macro_f1.get(), abs=1e-12)
    assert report["n"] == 1_000
    assert set(ours.classes) == set("abcde")


def test_per_class_recall_precision_support() -> None:
    pairs = _pairs(1_000, seed=2)
    m = ProgressiveClassification()
    for y, y_pred in pairs:
        m.update(y, y_pred)
    for c in "abcd":
        support = sum(y == c for y, _ in pairs)
        tp = sum(y == p == c for y, p in pairs)
        predicted = sum(p == c for _, p in pairs)
        assert m.support_of(c) == support
        assert m.recall_of(c) == tp / support
        assert m.precision_of(c) == tp / predicted
        assert m.f1_of(c) == pytest.approx(2 * tp / (support + predicted))
    assert m.support_of("e") == 0 and math.isnan(m.recall_of("e")) and m.f1_of("e") == 0.0
    assert math.isnan(m.recall_of("never")) and math.isnan(m.precision_of("never"))


def test_none_prediction_is_wrong_and_not_a_class() -> None:
    m = ProgressiveClassification()
    m.update("a", None)
    m.update("a", "a")
    assert m.report() == {"n": 2, "accuracy": 0.5, "macro_f1": pytest.approx(2 / 3)}
    assert m.classes == ("a",) and m.recall_of("a") == 0.5 and m.precision_of("a") == 1.0


def test_forget_class_drops_it_from_macro_f1_and_per_class_figures_only() -> None:
    m = ProgressiveClassification()
    for y, y_pred in [("a", "a"), ("b", "b"), ("b", "a"), ("c", "a")]:
        m.update(y, y_pred)
    accuracy = m.report()["accuracy"]
    m.forget_class("c")
    assert m.classes == ("a", "b")
    assert m.report()["accuracy"] == accuracy
    assert m.report()["macro_f1"] == pytest.approx((m.f1_of("a") + m.f1_of("b")) / 2)
    assert math.isnan(m.recall_of("c"))
    m.update("c", "c")  # it comes back: counted afresh
    assert m.recall_of("c") == 1.0 and m.support_of("c") == 1
    m.forget_class("never")  # forgetting an unknown class is harmless


def test_empty_report_and_pickling() -> None:
    m = ProgressiveClassification()
    report = m.report()
    assert report["n"] == 0 and math.isnan(report["accuracy"]) and math.isnan(report["macro_f1"])
    for y, y_pred in _pairs(100, seed=3):
        m.update(y, y_pred)
    other = pickle.loads(pickle.dumps(m))
    assert other.report() == m.report() and other.classes == m.classes

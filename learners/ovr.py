"""One-vs-rest multiclass wrapper whose class set can grow and shrink while it runs."""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

import numpy as np
from river import base

from learners.scores import positive_proba
from learners.sparse import SparseRows, predict_proba_rows

__all__ = ["MutableOneVsRest"]


class MutableOneVsRest(base.Wrapper, base.Classifier):
    """One binary classifier per class, with classes added and removed at runtime.

    With a fixed class set this is River's `multiclass.OneVsRestClassifier`, prediction for
    prediction: a class's model is cloned from ``classifier`` the first time its label is
    learned, every class model learns ``y == c`` on every example, and ``predict_proba_one``
    divides each model's ``P(True)`` by their sum (uniform if the sum is 0), in class creation
    order, so ties in `predict_one` go to the class created first, as in River.

    River's wrapper can only add classes; this one can also:

    - `add_class` a class before any of its labels arrives, optionally as a deep copy of another
      class's model (``warm_start_from``), so it does not start from the prior;
    - `remove_class`: the class's model is dropped and the class is never predicted again; the
      other classes' models are not read nor written. The class is *retired*: later labels of it
      are skipped (even with ``auto_add``) until `add_class` brings it back, so a straggling
      label cannot resurrect it.

    A skipped example (a retired class, or an unknown class when ``auto_add`` is False) changes
    no model at all, not even as a negative for the other classes: it is only counted in
    ``n_skipped_labels``.

    Parameters
    ----------
    classifier
        Binary classifier cloned for each class (never trained itself).
    auto_add
        Add a class the first time one of its labels is learned (River's behaviour). When False,
        only classes added with `add_class` are learned and predicted.

    Attributes
    ----------
    classifiers
        The class models, by class, in creation order (read-only use).

    Examples
    --------
    Queries made of words drawn from their class's vocabulary; a fourth class comes mid-stream,
    warm-started from an existing one, and a class is retired.

    >>> import random
    >>> from learners import FTRLLogisticRegression, MutableOneVsRest

    >>> rng = random.Random(7)
    >>> def example(c):
    ...     return {f"{c}{rng.randrange(10)}": 1.0 for _ in range(3)} | {"bias": 1.0}, c

    >>> model = MutableOneVsRest(FTRLLogisticRegression(alpha=0.3))
    >>> for _ in range(600):
    ...     model.learn_one(*example(rng.choice("abc")))
    >>> model.classes
    ('a', 'b', 'c')
    >>> model.add_class("d", warm_start_from="a")
    >>> hits = 0
    >>> for _ in range(900):
    ...     x, y = example(rng.choice("abcd"))
    ...     hits += model.predict_one(x) == y  # predict, then learn
    ...     model.learn_one(x, y)
    >>> print(f"accuracy={hits / 900:.3f}")
    accuracy=0.997
    >>> model.remove_class("b")
    >>> model.learn_one(*example("b"))  # a straggling label of a retired class
    >>> model.classes, model.n_skipped_labels
    (('a', 'c', 'd'), 1)
    >>> sorted(model.predict_proba_one(example("b")[0]))
    ['a', 'c', 'd']

    """

    def __init__(self, classifier: base.Classifier, *, auto_add: bool = True) -> None:
        self.classifier = classifier
        self.auto_add = auto_add
        self._models: dict[Hashable, base.Classifier] = {}
        self._retired: set[Hashable] = set()
        self._n_skipped_labels = 0

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        from river import linear_model

        from learners.ftrl import FTRLLogisticRegression

        yield {"classifier": FTRLLogisticRegression(alpha=0.3)}
        yield {"classifier": linear_model.LogisticRegression()}

    @property
    def _wrapped_model(self) -> base.Classifier:
        return self.classifier

    @property
    def _multiclass(self) -> bool:
        return True

    @property
    def classifiers(self) -> Mapping[Hashable, base.Classifier]:
        """The class models, by class, in creation order."""
        return self._models

    @property
    def classes(self) -> tuple[Hashable, ...]:
        """The current classes, sorted (by ``repr`` when they are not mutually comparable)."""
        try:
            return tuple(sorted(self._models))
        except TypeError:
            return tuple(sorted(self._models, key=repr))

    @property
    def retired(self) -> frozenset[Hashable]:
        """Classes removed and not added back: their labels are skipped."""
        return frozenset(self._retired)

    @property
    def n_skipped_labels(self) -> int:
        """Examples skipped because their label was retired or unknown (without auto_add)."""
        return self._n_skipped_labels

    def add_class(self, c: Hashable, *, warm_start_from: Hashable | None = None) -> None:
        """Add class ``c``: a clone of ``classifier``, or a deep copy of another class's model.

        Adding an existing class does nothing (so replayed commands are harmless), unless
        ``warm_start_from`` is given, which raises rather than overwrite a trained model.
        A retired class is no longer retired. The new class comes last in creation order.

        Raises
        ------
        KeyError
            If ``warm_start_from`` is not a class.
        ValueError
            If ``c`` is already a class and ``warm_start_from`` is given.

        """
        if c in self._models:
            if warm_start_from is not None:
                raise ValueError(f"class {c!r} exists: it cannot be warm-started again")
            return
        if warm_start_from is None:
            model = self.classifier.clone()
        elif warm_start_from in self._models:
            model = copy.deepcopy(self._models[warm_start_from])
        else:
            raise KeyError(f"cannot warm-start from {warm_start_from!r}: not a class")
        self._retired.discard(c)
        self._models[c] = model

    def remove_class(self, c: Hashable) -> None:
        """Drop class ``c`` and its model and retire it; other classes' models are not touched.

        Raises
        ------
        KeyError
            If ``c`` is not a class.

        """
        if c not in self._models:
            raise KeyError(f"cannot remove {c!r}: not a class")
        del self._models[c]
        self._retired.add(c)

    def clear_retired(self) -> None:
        """Forget which classes were retired: their labels may add them again (with auto_add)."""
        self._retired.clear()

    def learn_one(self, x: Mapping[Hashable, Any], y: Hashable, **kwargs: Any) -> None:
        """Every class model learns ``y == c``; ``kwargs`` (e.g. ``w``) go to each of them."""
        if y not in self._models:
            if y in self._retired or not self.auto_add:
                self._n_skipped_labels += 1
                return
            self._models[y] = self.classifier.clone()
        for label, model in self._models.items():
            model.learn_one(x, y == label, **kwargs)

    def class_proba_rows(self, rows: SparseRows) -> tuple[tuple[Hashable, ...], np.ndarray]:
        """The classes, and for every row their probabilities (one column per class, in class
        order): ``predict_proba_one`` of each row at once, one call per class model."""
        classes = tuple(self._models)
        votes = np.empty((len(rows), len(classes)))
        for j, model in enumerate(self._models.values()):
            votes[:, j] = predict_proba_rows(model, rows)
        total = np.zeros(len(rows))
        for j in range(len(classes)):  # in class order, as predict_proba_one adds them
            total += votes[:, j]
        uniform = total == 0.0
        votes[uniform] = 1.0
        total[uniform] = len(classes)
        return classes, votes / total[:, None]

    def predict_proba_one(self, x: Mapping[Hashable, Any], **kwargs: Any) -> dict[Hashable, float]:
        """Each class's ``P(True)``, normalised to sum to 1; ``{}`` before there is a class."""
        y_pred = {}
        total = 0.0
        for label, model in self._models.items():
            yp = positive_proba(model.predict_proba_one(x, **kwargs))
            y_pred[label] = yp
            total += yp
        if total:
            return {label: votes / total for label, votes in y_pred.items()}
        return {label: 1 / len(y_pred) for label in y_pred}

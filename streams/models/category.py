"""The live query-category model of one worker: a hierarchical classifier whose classes change
at runtime, with its progressive metrics and the record of every class change.

Classes come from two places: labels (a path seen for the first time is added) and control
commands (``add_class``, ``remove_class``). A removed path is retired: it is never predicted
again and later labels under it are skipped (counted), until an ``add_class`` brings it back,
so a straggling label cannot resurrect a category an operator retired.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from learners import (
    FTRLLogisticRegression,
    HierarchicalClassifier,
    ProgressiveClassification,
    query_text_features,
)
from learners.category_health import CategoryGuess
from learners.sparse import SparseRows

__all__ = ["CATEGORY", "TOP_PATHS", "CategoryModel", "ClassChange"]

CATEGORY = "category"
TOP_PATHS = 3  # category paths published with each prediction
CATEGORY_PARAMS = {"alpha": 0.2, "beta": 1.0, "l1": 0.0, "l2": 1.0}


@dataclasses.dataclass(frozen=True, slots=True)
class ClassChange:
    """A class-set change as applied: the command's sequence number and when it took effect."""

    seq: int
    cmd: str
    path: str
    applied_at_ms: int
    n_learned: int


def _under(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + "/")


@dataclasses.dataclass(slots=True)
class CategoryModel:
    """Hierarchical query-category classifier with runtime class changes."""

    name: str = CATEGORY
    n_bits: int = 20
    estimator: HierarchicalClassifier = dataclasses.field(
        default_factory=lambda: HierarchicalClassifier(FTRLLogisticRegression(**CATEGORY_PARAMS))
    )
    metrics: ProgressiveClassification = dataclasses.field(
        default_factory=ProgressiveClassification
    )
    n_learned: int = 0
    n_retired_labels: int = 0
    retired: set[str] = dataclasses.field(default_factory=set)
    changes: list[ClassChange] = dataclasses.field(default_factory=list)
    #: the last control command applied: a restored snapshot skips those it already holds
    control_seq: int = 0

    @property
    def version(self) -> int:
        return self.n_learned

    def features(self, query: Mapping[str, Any]) -> dict[int, float]:
        return query_text_features(query, self.n_bits)

    def top_paths(self, x: Mapping[int, float], k: int = TOP_PATHS) -> list[tuple[str, float]]:
        """The ``k`` most probable leaf paths with their probabilities (empty before learning)."""
        if not self.estimator.leaves:
            return []
        return self.estimator.top_paths(x, k)

    def top_paths_rows(self, rows: SparseRows, k: int = TOP_PATHS) -> list[list[tuple[str, float]]]:
        """`top_paths` of every row at once."""
        if not self.estimator.leaves:
            return [[] for _ in range(len(rows))]
        return self.estimator.top_paths_rows(rows, k)

    def learn(self, x: Mapping[int, float], path: str) -> CategoryGuess | None:
        """Predict, record the metrics, then learn; returns the guess made before learning:
        the best path, its probability and the probability of ``path``.

        Labels under a retired path are skipped (and counted), returning ``None``: the operator
        removed that class.
        """
        if any(_under(path, retired) for retired in self.retired):
            self.n_retired_labels += 1
            return None
        best = self.top_paths(x, 1)
        predicted, confidence = best[0] if best else (None, 0.0)
        guess = CategoryGuess(predicted, confidence, self.estimator.path_proba(x, path))
        self.metrics.update(path, predicted)
        self.estimator.learn_one(x, path)
        self.n_learned += 1
        return guess

    def add_class(self, path: str, *, seq: int, at_ms: int) -> None:
        """Add a path (and its missing ancestors); it may be predicted from now on.

        A retired ancestor or descendant of ``path`` is no longer retired.
        """
        if not self._new_command(seq):
            return
        self.retired = {r for r in self.retired if not _under(path, r) and not _under(r, path)}
        self.estimator.add_node(path)
        self.changes.append(ClassChange(seq, "add_class", path, at_ms, self.n_learned))

    def remove_class(self, path: str, *, seq: int, at_ms: int) -> None:
        """Remove a path and its subtree; no other node's model changes."""
        if not self._new_command(seq):
            return
        if path in self.estimator.nodes:
            self.estimator.remove_node(path)
        self.retired.add(path)
        self.changes.append(ClassChange(seq, "remove_class", path, at_ms, self.n_learned))

    def _new_command(self, seq: int) -> bool:
        """Whether command ``seq`` is news (control is replayed over a restored model)."""
        if seq <= self.control_seq:
            return False
        self.control_seq = seq
        return True

    def definition(self) -> dict[str, Any]:
        """What the model is besides its estimator: the width its features are hashed to."""
        return {"n_bits": self.n_bits}

    @classmethod
    def from_definition(
        cls, name: str, definition: Mapping[str, Any], estimator: HierarchicalClassifier
    ) -> CategoryModel:
        """An unlearned category model as :meth:`definition` describes it."""
        return cls(name=name, n_bits=definition["n_bits"], estimator=estimator)

    def report(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            **self.metrics.report(),
            "classes": sorted(self.estimator.leaves),
            "retired": sorted(self.retired),
            "retired_labels": self.n_retired_labels,
            "class_changes": [dataclasses.asdict(change) for change in self.changes],
        }

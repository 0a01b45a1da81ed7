"""Rows of sparse features packed into flat arrays, for scoring many rows in one numpy call."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from learners.scores import score_one

__all__ = ["FEW_ROWS", "SparseRows", "predict_proba_rows"]


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SparseRows:
    """Feature dicts (non-negative int key -> value) as three flat arrays: every row's keys and
    values one row after another, and where each row starts. ``dicts``, for learners that
    score one dict at a time, are the dicts packed (:meth:`from_dicts`) or else built from the
    arrays when first read.

    >>> rows = SparseRows.from_dicts([{3: 1.0, 7: 1.0}, {0: 2.0}])
    >>> rows.indices.tolist(), rows.values.tolist(), rows.starts.tolist(), len(rows)
    ([3, 7, 0], [1.0, 1.0, 2.0], [0, 2], 2)
    >>> rows.weighted_sums(np.array([1.0, -0.25, 0.5])).tolist()  # a weight per entry
    [0.75, 1.0]
    >>> SparseRows(rows.indices, rows.values, rows.starts).dicts
    [{3: 1.0, 7: 1.0}, {0: 2.0}]

    A row may be empty (a candidate with none of a feature set's attributes, and no bias):
    its weighted sum is 0.

    >>> SparseRows.from_dicts([{}, {3: 1.0}, {}]).weighted_sums(np.array([0.5])).tolist()
    [0.0, 0.5, 0.0]
    """

    indices: np.ndarray  # int64
    values: np.ndarray  # float64
    starts: np.ndarray  # int64, one per row
    packed: Sequence[Mapping[int, float]] | None = dataclasses.field(default=None, repr=False)

    @property
    def dicts(self) -> Sequence[Mapping[int, float]]:
        """Each row as a dict, key -> value."""
        if self.packed is None:
            starts = self.starts.tolist()
            keys, values = self.indices.tolist(), self.values.tolist()
            built = [
                dict(zip(keys[a:b], values[a:b], strict=True))
                for a, b in zip(starts, [*starts[1:], len(keys)][: len(starts)], strict=True)
            ]
            object.__setattr__(self, "packed", built)
            return built
        return self.packed

    @classmethod
    def from_dicts(cls, xs: Sequence[Mapping[int, float]]) -> SparseRows:
        """Pack ``xs``."""
        lengths = np.fromiter(map(len, xs), dtype=np.int64, count=len(xs))
        total = int(lengths.sum())
        keys = itertools.chain.from_iterable(xs)
        values = itertools.chain.from_iterable(x.values() for x in xs)
        starts = np.zeros(len(xs), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        return cls(
            np.fromiter(keys, dtype=np.int64, count=total),
            np.fromiter(values, dtype=np.float64, count=total),
            starts,
            xs,
        )

    def __len__(self) -> int:
        return len(self.starts)

    def take(self, rows: Sequence[int]) -> SparseRows:
        """The rows at positions ``rows``, in that order.

        >>> SparseRows.from_dicts([{1: 1.0}, {2: 1.0, 3: 1.0}, {4: 1.0}]).take([2, 1]).indices
        array([4, 2, 3])
        """
        picked = np.asarray(rows, dtype=np.int64)
        ends = np.append(self.starts[1:], len(self.indices))
        lengths = ends[picked] - self.starts[picked]
        starts = np.zeros(len(picked), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        positions = np.repeat(self.starts[picked] - starts, lengths) + np.arange(lengths.sum())
        return SparseRows(
            self.indices[positions],
            self.values[positions],
            starts,
            None if self.packed is None else [self.packed[r] for r in rows],
        )

    def weighted_sums(self, entry_weights: np.ndarray) -> np.ndarray:
        """Each row's sum of value x weight, given a weight per entry (aligned with
        ``indices``): a dot product with the model's weights looked up at ``indices``."""
        products = entry_weights * self.values
        starts = self.starts
        ends = np.append(starts[1:], len(products))
        filled = ends > starts
        if filled.all():
            return np.add.reduceat(products, starts) if len(starts) else np.zeros(0)
        sums = np.zeros(len(starts))  # reduceat reads an empty row's next entry: skip them
        if filled.any():
            sums[filled] = np.add.reduceat(products, starts[filled])
        return sums


#: Below this many rows one ``predict_proba_one`` per row beats numpy's fixed cost per call.
FEW_ROWS = 4


def predict_proba_rows(model: Any, rows: SparseRows) -> np.ndarray:
    """The score of every row in [0, 1] (a classifier's positive-class probability, a
    regressor's prediction clipped): in one call if ``model`` scores rows
    (``predict_proba_rows``) and there are at least ``FEW_ROWS``, else one
    :func:`~learners.scores.score_one` per row.

    >>> from river.linear_model import LogisticRegression
    >>> predict_proba_rows(LogisticRegression(), SparseRows.from_dicts([{1: 1.0}])).tolist()
    [0.5]
    """
    score_rows = getattr(model, "predict_proba_rows", None)
    if score_rows is not None and len(rows) >= FEW_ROWS:
        return score_rows(rows)
    scores = (score_one(model, x) for x in rows.dicts)
    return np.fromiter(scores, dtype=np.float64, count=len(rows))

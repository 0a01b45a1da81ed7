"""Logistic regression trained with FTRL-Proximal, for sparse hashed click features."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from river import base

from learners.sparse import SparseRows

__all__ = ["DENSE_FILL", "MAX_COPY_KEYS", "FTRLLogisticRegression", "WeightCopy"]

#: The largest key space whose weights are copied for ``predict_proba_rows``.
MAX_COPY_KEYS = 1 << 22
#: A copy is a dense array over the key space once the model's keys fill 1/DENSE_FILL of it
#: (8 bytes a slot: 8 MiB at the default 20 hashed bits; 4,096 keys then), else its keys,
#: sorted, and weights: a binary search per lookup, ten times slower than the dense gather on
#: a serving batch of the click model, but a category node's class models (tens to hundreds of
#: keys each) do not take 8 MiB apiece.
DENSE_FILL = 256
_MAX_MARGIN = 35.0  # exp(35) ~ 1.6e15: p stays strictly inside (0, 1) and exp never overflows


class FTRLLogisticRegression(base.Classifier):
    """Binary logistic regression trained with FTRL-Proximal.

    Follow-The-Regularized-Leader with per-coordinate learning rates (McMahan et al., 2013,
    "Ad click prediction: a view from the trenches", algorithm 1). Each coordinate keeps two
    numbers, ``z`` and ``n`` (the sum of squared gradients); its weight is computed lazily from
    them, so only the features present in ``x`` are touched and absent ones cost nothing.
    Coordinates seen often get small steps, rare ones (most hashed crosses) keep large steps.

    There is no implicit intercept: include a constant feature (`learners.features` adds
    ``bias``). Feature values may be any finite float; keys any hashable.

    Labels may be soft: ``learn_one`` takes a bool or a float target ``y`` in [0, 1] and
    minimizes the logistic cross-entropy ``-(y ln p + (1 - y) ln(1 - p))``, whose gradient is
    ``(p - y) x`` as for hard labels (a bool is the target 1.0 or 0.0, exactly as before). This
    is how adstream's *quality model* is built: the same class, trained on ratings in [0, 1],
    whose ``predict_proba_one(x)[True]`` is the predicted quality (the expected rating), beside
    the click model trained on bools (``learns_soft_labels``: a float target is learned as it
    is, see :func:`learners.progressive.predict_then_learn`).

    Parameters
    ----------
    alpha
        Learning-rate scale: a coordinate's rate is ``alpha / (beta + sqrt(n))``. 0.05 suits
        one-hot hashed features at click-through rates of a few percent; raise it for faster
        adaptation on small or drifting streams.
    beta
        Learning-rate smoothing; 1.0 as recommended by the paper (results are insensitive to it).
    l1
        L1 penalty. Above 0, coordinates whose ``|z| <= l1`` have weight exactly 0 (sparse model).
        The default 0.0 keeps every seen coordinate, which a fixed-size hashed space affords.
    l2
        L2 penalty; 1.0 damps the weights of rare coordinates, which hashed crosses are full of.

    Attributes
    ----------
    weights
        Non-zero weights, by feature key.

    Examples
    --------
    A seeded synthetic stream of sparse binary features, 3 of which drive the click:

    >>> import math, random
    >>> from learners.ftrl import FTRLLogisticRegression
    >>> from learners.progressive import ProgressiveMetrics

    >>> rng = random.Random(42)
    >>> true_w = {0: 3.0, 1: -2.0, 2: 2.0}
    >>> def stream(n):
    ...     for _ in range(n):
    ...         x = {"bias": 1.0, **{k: 1.0 for k in rng.sample(range(50), 5)}}
    ...         margin = -2.0 + sum(true_w.get(k, 0.0) for k in x)
    ...         yield x, rng.random() < 1 / (1 + math.exp(-margin))

    >>> model = FTRLLogisticRegression(alpha=0.1)
    >>> metrics = ProgressiveMetrics()
    >>> for x, y in stream(10_000):
    ...     metrics.update(y, model.predict_proba_one(x)[True])  # predict, then learn
    ...     model.learn_one(x, y)
    >>> report = metrics.report()
    >>> print(f"logloss={report['logloss']:.3f} ne={report['ne']:.3f} auc={report['auc']:.3f}")
    logloss=0.419 ne=0.828 auc=0.750
    >>> [round(model.weights[k], 1) for k in true_w]
    [2.1, -1.4, 1.4]

    Many rows at once (:class:`learners.sparse.SparseRows`, int keys), as serving does: the
    same probabilities, from a copy of the weights in numpy kept up to date as it learns:

    >>> from learners.sparse import SparseRows
    >>> xs = [{k: 1.0 for k in rng.sample(range(50), 5)} for _ in range(3)]
    >>> batch = model.predict_proba_rows(SparseRows.from_dicts(xs)).tolist()
    >>> max(abs(p - model.predict_proba_one(x)[True]) for p, x in zip(batch, xs)) < 1e-12
    True

    With soft labels the prediction for a constant ``x`` converges to the mean target:

    >>> quality = FTRLLogisticRegression()
    >>> for _ in range(5_000):
    ...     for rating in (0.1, 0.2, 0.3, 0.6):  # mean 0.3
    ...         quality.learn_one({"bias": 1.0}, rating)
    >>> round(quality.predict_proba_one({"bias": 1.0})[True], 3)
    0.3

    """

    learns_soft_labels = True

    def __init__(
        self, *, alpha: float = 0.05, beta: float = 1.0, l1: float = 0.0, l2: float = 1.0
    ) -> None:
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be finite and > 0, got {alpha!r}")
        for name, value in (("beta", beta), ("l1", l1), ("l2", l2)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        self.alpha = alpha
        self.beta = beta
        self.l1 = l1
        self.l2 = l2
        self._z: dict[Hashable, float] = {}
        self._n: dict[Hashable, float] = {}
        self._n_learned = 0
        self._init_copy()

    def _init_copy(self) -> None:
        # The weights of int keys in numpy, for predict_proba_rows: derived from z and n,
        # built on first use, refreshed for the keys learned since (never pickled).
        self._copy: WeightCopy | None = None
        self._stale: set[Hashable] = set()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_copy"], state["_stale"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_copy()

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"alpha": 0.5, "beta": 0.5, "l1": 0.1, "l2": 0.0}

    def _weight(self, z: float, n: float) -> float:
        # Per-coordinate weight; predict_proba_one and learn_one inline it (hot path).
        l1 = self.l1
        if -l1 <= z <= l1:
            return 0.0
        return (math.copysign(l1, z) - z) / ((self.beta + math.sqrt(n)) / self.alpha + self.l2)

    @property
    def weights(self) -> dict[Hashable, float]:
        """Non-zero weights, by feature key (computed from the FTRL state)."""
        ws = {i: self._weight(z, self._n[i]) for i, z in self._z.items()}
        return {i: w for i, w in ws.items() if w != 0.0}

    def predict_proba_one(self, x: Mapping[Hashable, float], **kwargs: Any) -> dict[bool, float]:
        """Click probability for ``x`` as ``{False: 1 - p, True: p}``.

        Raises
        ------
        ValueError
            If the margin is not finite (a NaN or infinite feature value, or an overflow).

        """
        z_of, n_of = self._z, self._n
        l1, beta, alpha, l2 = self.l1, self.beta, self.alpha, self.l2
        margin = 0.0
        for i, v in x.items():
            z = z_of.get(i)
            if z is None:
                margin += 0.0 * v  # keeps NaN/inf visible to the check below
            elif z > l1:  # the weight times v, computed as learning computes it
                margin += (l1 - z) / ((beta + math.sqrt(n_of[i])) / alpha + l2) * v
            elif z < -l1:
                margin += (-l1 - z) / ((beta + math.sqrt(n_of[i])) / alpha + l2) * v
            else:
                margin += 0.0 * v
        p = _sigmoid(margin, x)
        return {False: 1.0 - p, True: p}

    def predict_proba_rows(self, rows: SparseRows) -> np.ndarray:
        """``predict_proba_one(x)[True]`` of every row at once, equal to within 1e-12.

        Raises
        ------
        ValueError
            As ``predict_proba_one`` does, for the first row whose margin is not finite.

        """
        size = int(rows.indices.max()) + 1 if len(rows.indices) else 0
        if rows.indices.size and rows.indices.min() < 0:
            raise ValueError("feature keys of rows must be non-negative ints")
        if size > MAX_COPY_KEYS:  # a key space too large to copy: one by one
            predict = self.predict_proba_one
            return np.fromiter((predict(x)[True] for x in rows.dicts), np.float64, len(rows))
        margins = rows.weighted_sums(self._weight_copy(size).at(rows.indices))
        finite = np.isfinite(margins)
        if not finite.all():
            _sigmoid(math.nan, rows.dicts[int(np.argmin(finite))])  # raises, with the reason
        return 1.0 / (1.0 + np.exp(-np.clip(margins, -_MAX_MARGIN, _MAX_MARGIN)))

    def _weight_copy(self, size: int) -> WeightCopy:
        """The copy of the weights of every key below ``size`` at least, up to date."""
        span = 1 << max(size - 1, 1).bit_length()  # hashed keys: a power of two covers them
        copy = self._copy
        if copy is None or copy.span < span:
            copy = self._copy = WeightCopy(span, *self._int_weights(self._z, span))
        elif self._stale and not copy.update(*self._int_weights(self._stale, copy.span)):
            copy = self._copy = WeightCopy(copy.span, *self._int_weights(self._z, copy.span))
        self._stale = set()
        return copy

    def _int_weights(self, keys: Iterable[Hashable], span: int) -> tuple[np.ndarray, np.ndarray]:
        """The int keys among ``keys`` below ``span``, and their weights (as ``_weight``)."""
        ints = [i for i in keys if isinstance(i, int | np.integer) and 0 <= i < span]
        z = np.fromiter((self._z[i] for i in ints), dtype=np.float64, count=len(ints))
        n = np.fromiter((self._n[i] for i in ints), dtype=np.float64, count=len(ints))
        weights = (np.copysign(self.l1, z) - z) / ((self.beta + np.sqrt(n)) / self.alpha + self.l2)
        weights[np.abs(z) <= self.l1] = 0.0
        return np.fromiter(ints, dtype=np.int64, count=len(ints)), weights

    def learn_one(self, x: Mapping[Hashable, float], y: Any, w: float = 1.0) -> None:
        """Update on one example (:meth:`predict_learn_one`, the prediction dropped)."""
        self.predict_learn_one(x, y, w)

    def predict_learn_one(self, x: Mapping[Hashable, float], y: Any, w: float = 1.0) -> float:
        """``predict_proba_one(x)[True]``, then the update on ``(x, y)``, in one pass over
        ``x`` (the update needs that very prediction); returns the prediction. ``w > 0`` is an
        importance weight that scales the gradient.

        ``y`` is a bool (a click) or a soft target in [0, 1] (a rating); the gradient of the
        logistic cross-entropy is ``(p - y) * w * x`` in both cases.

        The state is left untouched when a ValueError is raised: the label, the weight and the
        whole update are checked before anything is written.

        Raises
        ------
        ValueError
            If ``y`` is neither a bool nor a number in [0, 1] (NaN included), if ``w`` is not a
            finite positive number, if ``x`` has a non-finite value, or if the update would
            overflow.

        >>> model = FTRLLogisticRegression()
        >>> model.learn_one({"bias": 1.0, 7: 1.0}, True)
        >>> before = model.predict_proba_one({"bias": 1.0, 7: 0.5})[True]
        >>> model.predict_learn_one({"bias": 1.0, 7: 0.5}, False) == before
        True
        """
        target = float(y) if y is True or y is False else _soft_target(y)
        if not (w > 0 and math.isfinite(w)):
            raise ValueError(f"importance weight w must be finite and > 0, got {w!r}")
        z_of, n_of = self._z, self._n
        l1, beta, alpha, l2 = self.l1, self.beta, self.alpha, self.l2
        sqrt = math.sqrt
        active = []
        margin = 0.0
        for i, v in x.items():
            z = z_of.get(i, 0.0)
            n = n_of.get(i, 0.0)
            if z > l1:
                wi = (l1 - z) / ((beta + sqrt(n)) / alpha + l2)
            elif z < -l1:
                wi = (-l1 - z) / ((beta + sqrt(n)) / alpha + l2)
            else:
                wi = 0.0
            margin += wi * v
            active.append((i, v, wi, z, n))
        p = _sigmoid(margin, x)
        residual = (p - target) * w
        updates = []
        for i, v, wi, z, n in active:
            g = residual * v
            n_new = n + g * g
            z_new = z + g - (sqrt(n_new) - sqrt(n)) / alpha * wi
            if not math.isfinite(z_new + n_new):
                raise ValueError(f"update of feature {i!r} (value {v!r}) would overflow")
            updates.append((i, z_new, n_new))
        for i, z_new, n_new in updates:
            z_of[i] = z_new
            n_of[i] = n_new
        if self._copy is not None:
            self._stale.update(x)
        self._n_learned += 1
        return p


def _soft_target(y: Any) -> float:
    # Numbers, and numpy scalars (np.bool_ included); strings and None are not labels.
    if isinstance(y, str | bytes):
        raise ValueError(f"y must be a bool or a number in [0, 1], got {y!r}")
    try:
        target = float(y)
    except (TypeError, ValueError):
        raise ValueError(f"y must be a bool or a number in [0, 1], got {y!r}") from None
    if not 0.0 <= target <= 1.0:  # also rejects NaN
        raise ValueError(f"y must be a bool or a number in [0, 1], got {y!r}")
    return target


def _sigmoid(margin: float, x: Mapping[Hashable, float]) -> float:
    if not math.isfinite(margin):
        bad = [k for k, v in x.items() if not math.isfinite(v)]
        why = f"non-finite values for features {bad!r}" if bad else "feature values overflow"
        raise ValueError(f"x has {why}")
    margin = max(-_MAX_MARGIN, min(_MAX_MARGIN, margin))
    return 1.0 / (1.0 + math.exp(-margin))


class WeightCopy:
    """The weights of a model's int keys below ``span``, for looking many keys up at once: a
    dense array over the key space when the keys fill at least ``1 / DENSE_FILL`` of it (one
    gather per lookup), else the keys sorted with their weights (a binary search), so that a
    model with few keys, such as each class of a category node, costs memory for its keys only.

    >>> copy = WeightCopy(1024, np.array([7, 3]), np.array([0.5, -1.0]))
    >>> copy.dense is None, copy.at(np.array([3, 4, 7])).tolist()
    (True, [-1.0, 0.0, 0.5])
    >>> copy.update(np.array([7]), np.array([2.0])), copy.update(np.array([9]), np.array([1.0]))
    (True, False)
    >>> WeightCopy(256, np.array([7]), np.array([0.5])).at(np.array([7, 8])).tolist()  # dense
    [0.5, 0.0]
    """

    __slots__ = ("dense", "keys", "span", "weights")

    def __init__(self, span: int, keys: np.ndarray, weights: np.ndarray) -> None:
        self.span = span
        self.dense: np.ndarray | None = None
        if DENSE_FILL * len(keys) >= span:
            self.dense = np.zeros(span)
            self.dense[keys] = weights
            self.keys = self.weights = np.zeros(0)
        else:
            order = np.argsort(keys)
            self.keys, self.weights = keys[order], weights[order]

    def at(self, indices: np.ndarray) -> np.ndarray:
        """The weight of each of ``indices`` (0 for keys the model never learned)."""
        if self.dense is not None:
            return self.dense[indices]
        if not len(self.keys):
            return np.zeros(len(indices))
        positions = np.minimum(np.searchsorted(self.keys, indices), len(self.keys) - 1)
        return np.where(self.keys[positions] == indices, self.weights[positions], 0.0)

    def update(self, keys: np.ndarray, weights: np.ndarray) -> bool:
        """Write the weights of ``keys``; False, writing nothing, if a sorted copy lacks one of
        them (the caller builds a new copy)."""
        if self.dense is not None:
            self.dense[keys] = weights
            return True
        positions = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        if not len(self.keys) or not (self.keys[positions] == keys).all():
            return False
        self.weights[positions] = weights
        return True

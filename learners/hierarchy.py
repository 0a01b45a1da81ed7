"""Top-down hierarchical classifier over category paths, with nodes added and removed at runtime."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from river import base

from learners.ovr import MutableOneVsRest
from learners.sparse import FEW_ROWS, SparseRows

__all__ = ["HierarchicalClassifier"]

_ROOT = ""


class HierarchicalClassifier(base.Classifier):
    """Local classifier per parent node over a taxonomy of paths such as ``"sports/shoes"``.

    Every node with children (the root ``""`` included) owns a `MutableOneVsRest` over its
    children, whose binary models are clones of ``classifier``. Classes are full paths; only
    leaves are predicted.

    - Learning is top-down: for the label ``"a/b/c"`` the root learns ``"a"``, node ``"a"``
      learns ``"a/b"`` and node ``"a/b"`` learns ``"a/b/c"`` (one local update per level; a node's
      local model never sees traffic from outside its subtree).
    - `top_paths` is a beam search: the probability of a path is the product of the local
      probabilities along it; at each level only the ``k`` best partial paths are expanded, so a
      call costs at most ``depth * branching * k`` binary predictions, whatever the number of
      leaves. `predict_one` is its best path with ``k = beam_width``.
    - `predict_proba_one` is the full leaf distribution, exact but ``O(nodes)``: every local
      distribution sums to 1, so the leaf probabilities sum to 1.

    The taxonomy changes at runtime: `add_node` adds a path and its missing ancestors,
    `remove_node` drops a subtree (its nodes and local models) and leaves every other local model
    untouched. A removed node is *retired* in its parent's local model: labels under it are
    learned by its ancestors down to the parent, and skipped below, until `add_node` brings it
    back. With ``auto_add`` a label path creates its missing nodes. A leaf that gets a child
    becomes an internal node: it is no longer predicted itself (prediction always ends on a
    leaf), and a label equal to an internal node's path teaches the levels above it only.

    Parameters
    ----------
    classifier
        Binary classifier cloned for each (parent, child) pair.
    sep
        Path separator. Empty segments are ignored: ``"a//b/"`` is ``"a/b"``.
    auto_add
        Add the nodes of label paths seen in `learn_one`. When False only nodes added with
        `add_node` are learned.
    beam_width
        Beam width of `predict_one`; 1 is greedy. At least the number of leaves makes it exact.

    Examples
    --------
    Queries whose words come from their leaf's vocabulary and, half the time, its parent's:

    >>> import random
    >>> from learners import FTRLLogisticRegression, HierarchicalClassifier

    >>> rng = random.Random(3)
    >>> leaves = [f"{a}/{b}" for a in ("sports", "home", "tech") for b in ("x", "y", "z")]
    >>> def example():
    ...     path = rng.choice(leaves)
    ...     top = path.split("/")[0]
    ...     words = [f"{rng.choice((path, top))}:{rng.randrange(5)}" for _ in range(3)]
    ...     return {w: 1.0 for w in words} | {"bias": 1.0}, path

    >>> model = HierarchicalClassifier(FTRLLogisticRegression(alpha=0.3))
    >>> hits = 0
    >>> for _ in range(3000):
    ...     x, y = example()
    ...     hits += model.predict_one(x) == y  # predict, then learn
    ...     model.learn_one(x, y)
    >>> print(f"accuracy={hits / 3000:.2f}")
    accuracy=0.90
    >>> x, y = example()
    >>> [(path, round(p, 2)) for path, p in model.top_paths(x, k=2)], y
    ([('sports/x', 0.92), ('home/z', 0.01)], 'sports/x')
    >>> model.remove_node("tech")
    >>> model.add_node("home/garden/tools")
    >>> len(model.leaves), "tech/x" in model.predict_proba_one(x)
    (7, False)

    """

    def __init__(
        self,
        classifier: base.Classifier,
        *,
        sep: str = "/",
        auto_add: bool = True,
        beam_width: int = 3,
    ) -> None:
        if not isinstance(sep, str) or not sep:
            raise ValueError(f"sep must be a non-empty string, got {sep!r}")
        if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
            raise ValueError(f"beam_width must be an int >= 1, got {beam_width!r}")
        self.classifier = classifier
        self.sep = sep
        self.auto_add = auto_add
        self.beam_width = beam_width
        self._local: dict[str, MutableOneVsRest] = {}

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        from learners.ftrl import FTRLLogisticRegression

        yield {"classifier": FTRLLogisticRegression(alpha=0.3)}
        yield {"classifier": FTRLLogisticRegression(), "beam_width": 1}

    @property
    def _multiclass(self) -> bool:
        return True

    # ------------------------------------------------------------------ taxonomy

    def _parts(self, path: str) -> list[str]:
        if not isinstance(path, str):
            raise TypeError(f"a category path must be a str, got {path!r}")
        return [p for p in path.split(self.sep) if p]

    def _children(self, node: str) -> tuple[str, ...]:
        local = self._local.get(node)
        return () if local is None else tuple(local.classifiers)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node but the root, sorted."""
        return tuple(sorted(c for local in self._local.values() for c in local.classifiers))

    @property
    def leaves(self) -> tuple[str, ...]:
        """Nodes without children, sorted: the only paths ever predicted."""
        return tuple(n for n in self.nodes if not self._children(n))

    def _is_leaf(self, node: str) -> bool:
        local = self._local.get(node)
        return local is None or not local.classifiers

    def _new_local(self) -> MutableOneVsRest:
        return MutableOneVsRest(self.classifier, auto_add=self.auto_add)

    def add_node(self, path: str) -> None:
        """Add ``path`` and its missing ancestors; idempotent.

        Reopens the subtree: ``path``, its ancestors and its descendants are no longer retired.

        Raises
        ------
        ValueError
            If ``path`` has no segment (the root always exists).

        """
        parts = self._parts(path)
        if not parts:
            raise ValueError(f"cannot add the root: {path!r} has no segment")
        parent = _ROOT
        for i in range(len(parts)):
            child = self.sep.join(parts[: i + 1])
            local = self._local.get(parent)
            if local is None:
                local = self._local[parent] = self._new_local()
            local.add_class(child)
            parent = child
        prefix = parent + self.sep
        for node, local in self._local.items():
            if node == parent or node.startswith(prefix):
                local.clear_retired()

    def remove_node(self, path: str) -> None:
        """Remove ``path`` and its subtree; every other node's local model is left untouched.

        Raises
        ------
        KeyError
            If ``path`` is not a node.

        """
        parts = self._parts(path)
        node = self.sep.join(parts)
        local = self._local.get(self.sep.join(parts[:-1]))
        if not parts or local is None or node not in local.classifiers:
            raise KeyError(f"cannot remove {path!r}: not a node")
        local.remove_class(node)
        prefix = node + self.sep
        for n in [n for n in self._local if n == node or n.startswith(prefix)]:
            del self._local[n]

    # ------------------------------------------------------------------ learning

    def learn_one(self, x: Mapping[Hashable, Any], y: str, **kwargs: Any) -> None:
        """Each node on the path of ``y`` learns which of its children ``y`` goes through."""
        for parent, child in self._steps(y):
            local = self._local.get(parent)
            if local is None:
                if not self.auto_add:
                    return
                local = self._local[parent] = self._new_local()
            local.learn_one(x, child, **kwargs)
            if child not in local.classifiers:  # retired, or unknown without auto_add
                return

    def _steps(self, path: str) -> Iterator[tuple[str, str]]:
        """Each (parent, child) pair along ``path``, from the root down."""
        parts = self._parts(path)
        parent = _ROOT
        for i in range(len(parts)):
            child = self.sep.join(parts[: i + 1])
            yield parent, child
            parent = child

    # ------------------------------------------------------------------ prediction

    def local_proba_one(self, x: Mapping[Hashable, Any], node: str = _ROOT) -> dict[str, float]:
        """Distribution over the children of ``node`` (``{}`` for a leaf)."""
        local = self._local.get(self.sep.join(self._parts(node)))
        return {} if local is None else local.predict_proba_one(x)

    def path_proba(self, x: Mapping[Hashable, Any], path: str) -> float:
        """The probability of ``path`` (a leaf, or an internal node: its whole subtree), the
        product of the local probabilities along it as `top_paths` computes them; 0 for a path
        that is not a node (a class not learned yet, or retired).

        >>> from learners import FTRLLogisticRegression
        >>> model = HierarchicalClassifier(FTRLLogisticRegression())
        >>> model.add_node("a/x"); model.add_node("a/y"); model.add_node("b")
        >>> x = {"bias": 1.0}
        >>> dict(model.top_paths(x, k=3))["a/x"] == model.path_proba(x, "a/x")
        True
        >>> round(model.path_proba(x, "a/x") + model.path_proba(x, "a/y"), 12) == round(
        ...     model.path_proba(x, "a"), 12), model.path_proba(x, "c")
        (True, 0.0)
        """
        p = 1.0
        for parent, child in self._steps(path):
            local = self._local.get(parent)
            if local is None:
                return 0.0
            p *= local.predict_proba_one(x).get(child, 0.0)
        return p

    def top_paths(self, x: Mapping[Hashable, Any], k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable leaves found by beam search (width ``k``), best first.

        The probability of a path is the product of the local probabilities along it. At most
        ``k`` nodes are expanded per level, so the cost is ``O(depth * branching * k)`` binary
        predictions. Ties keep the order of expansion (local class creation order). ``[]``
        before any node exists.
        """
        _check_beam_width(k)
        local = self._local
        beam = self._first_beam()
        while not all(leaf for _, _, leaf in beam):
            beam = self._widen(beam, lambda path: local[path].predict_proba_one(x).items(), k)
        return _paths(beam)

    def top_paths_rows(self, rows: SparseRows, k: int = 3) -> list[list[tuple[str, float]]]:
        """`top_paths` of every row: the same paths, in the same order, with the same
        probabilities (to rounding). The beams of all rows advance together, a level at a
        time, as arrays: every node's models score all the rows whose beam reaches it in one
        call each (:meth:`MutableOneVsRest.class_proba_rows`), and one stable sort per level
        picks every row's next beam."""
        _check_beam_width(k)
        if len(rows) < FEW_ROWS:
            return [self.top_paths(x, k) for x in rows.dicts]
        nodes = _NodeIds(self._is_leaf)
        n = len(rows)
        beam = np.full((n, k), -1)  # node ids, -1: an empty slot
        beam_p = np.full((n, k), -1.0)  # below every probability: empty slots sort last
        beam[:, 0], beam_p[:, 0] = nodes.id(_ROOT), 1.0
        while True:
            filled = beam >= 0
            growing = filled & ~nodes.leaf[np.maximum(beam, 0)]
            if not growing.any():
                break
            row, slot = np.nonzero(growing)
            expanded = beam[row, slot]
            expanding = np.unique(expanded).tolist()
            width = max(len(self._local[nodes.path[i]].classifiers) for i in expanding)
            found = np.full((n, k * width), -1)  # each slot's children, slot after slot
            found_p = np.full((n, k * width), -1.0)
            kept_row, kept_slot = np.nonzero(filled & ~growing)  # leaves stay, in their place
            found[kept_row, kept_slot * width] = beam[kept_row, kept_slot]
            found_p[kept_row, kept_slot * width] = beam_p[kept_row, kept_slot]
            for node in expanding:
                at = expanded == node
                r, s = row[at], slot[at]
                classes, proba = self._local_proba_rows(nodes.path[node], rows, r)
                columns = s[:, None] * width + np.arange(len(classes))
                found[r[:, None], columns] = [nodes.id(c) for c in classes]
                found_p[r[:, None], columns] = beam_p[r, s][:, None] * proba
            best = np.argsort(-found_p, axis=1, kind="stable")[:, :k]  # ties: expansion order
            beam = np.take_along_axis(found, best, axis=1)
            beam_p = np.take_along_axis(found_p, best, axis=1)
        path = nodes.path
        return [
            [(path[i], p) for i, p in zip(ids, ps, strict=True) if i >= 0 and path[i]]
            for ids, ps in zip(beam.tolist(), beam_p.tolist(), strict=True)
        ]

    def _local_proba_rows(
        self, node: str, rows: SparseRows, at: np.ndarray
    ) -> tuple[tuple[Hashable, ...], np.ndarray]:
        """The children of ``node`` and their local probabilities for the rows ``at``."""
        local = self._local[node]
        if len(at) < FEW_ROWS:  # numpy's fixed cost would outweigh the batch
            probas = [local.predict_proba_one(rows.dicts[r]) for r in at.tolist()]
            return tuple(probas[0]), np.array([list(p.values()) for p in probas])
        return local.class_proba_rows(rows if len(at) == len(rows) else rows.take(at))

    def _first_beam(self) -> list[tuple[str, float, bool]]:
        return [(_ROOT, 1.0, self._is_leaf(_ROOT))]  # (path, probability, is a leaf)

    def _widen(
        self,
        beam: list[tuple[str, float, bool]],
        children_of: Callable[[str], Iterable[tuple[str, float]]],
        k: int,
    ) -> list[tuple[str, float, bool]]:
        """The next beam: leaves kept, every other path replaced by its children
        (``children_of(path)``: child and local probability), the ``k`` most probable."""
        is_leaf = self._is_leaf
        candidates = []
        for path, p, leaf in beam:
            if leaf:
                candidates.append((path, p, True))
                continue
            for child, q in children_of(path):
                candidates.append((child, p * q, is_leaf(child)))
        candidates.sort(key=lambda c: -c[1])  # stable: ties keep expansion order
        return candidates[:k]

    def predict_one(self, x: Mapping[Hashable, Any], **kwargs: Any) -> str | None:
        """Best leaf found by `top_paths` with ``k = beam_width``; None before any node exists."""
        best = self.top_paths(x, self.beam_width)
        return best[0][0] if best else None

    def predict_proba_one(self, x: Mapping[Hashable, Any], **kwargs: Any) -> dict[str, float]:
        """Probability of every leaf (product of local probabilities); ``O(nodes)``."""
        leaves: dict[str, float] = {}
        stack = [(_ROOT, 1.0)]
        while stack:
            node, p = stack.pop()
            if self._is_leaf(node):
                if node:
                    leaves[node] = p
                continue
            local = self._local[node]
            stack.extend((child, p * q) for child, q in local.predict_proba_one(x).items())
        return leaves


class _NodeIds:
    """Small ids for the nodes a batch's beams meet: their paths and whether each is a leaf."""

    def __init__(self, is_leaf: Callable[[str], bool]) -> None:
        self._is_leaf = is_leaf
        self._ids: dict[str, int] = {}
        self.path: list[str] = []
        self._leaf: list[bool] = []

    def id(self, path: str) -> int:
        found = self._ids.get(path)
        if found is None:
            found = self._ids[path] = len(self.path)
            self.path.append(path)
            self._leaf.append(self._is_leaf(path))
        return found

    @property
    def leaf(self) -> np.ndarray:
        return np.array(self._leaf, dtype=bool)


def _check_beam_width(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")


def _paths(beam: list[tuple[str, float, bool]]) -> list[tuple[str, float]]:
    """The beam's paths and probabilities, without the root (a tree with no node)."""
    return [(path, p) for path, p, _ in beam if path]

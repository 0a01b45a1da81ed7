"""HierarchicalClassifier: top-down consistency, runtime taxonomy changes, prediction cost."""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import random
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from learners import (
    FTRLLogisticRegression,
    HierarchicalClassifier,
    MutableOneVsRest,
    query_text_features,
)
from learners.sparse import SparseRows

N_BITS = 18


def _taxonomy(*branching: int) -> list[str]:
    """Leaves of a balanced taxonomy: ``_taxonomy(2, 3)`` is ``["n0/n0", ..., "n1/n2"]``."""
    return ["/".join(f"n{i}" for i in idx) for idx in itertools.product(*map(range, branching))]


LEAVES = [*_taxonomy(3, 3, 2), "solo"]  # 18 leaves at depth 3 and one at depth 1


def _stream(n: int, seed: int, leaves: list[str]) -> Iterator[tuple[dict[int, float], str]]:
    """4-word queries; a word comes from the leaf's own vocabulary (p=0.35), its top level's
    (p=0.35) or a shared one."""
    rng = random.Random(seed)
    for _ in range(n):
        leaf = rng.choice(leaves)
        top = leaf.split("/")[0]
        words = []
        for _ in range(4):
            u = rng.random()
            vocab = leaf if u < 0.35 else top if u < 0.7 else "shared"
            words.append(f"{vocab.replace('/', '_')}w{rng.randrange(20)}")
        yield query_text_features({"query": " ".join(words)}, N_BITS), leaf


def _trained(n: int = 3_000, leaves: list[str] = LEAVES, **kwargs: Any) -> HierarchicalClassifier:
    model = HierarchicalClassifier(FTRLLogisticRegression(alpha=0.2), **kwargs)
    for x, y in _stream(n, seed=1, leaves=leaves):
        model.learn_one(x, y)
    return model


def _probe(n: int = 100, seed: int = 2) -> list[dict[int, float]]:
    return [x for x, _ in _stream(n, seed, LEAVES)]


def _local_models(model: HierarchicalClassifier) -> dict[tuple[str, str], bytes]:
    """Pickled binary model of every (parent, child) pair."""
    return {
        (parent, child): pickle.dumps(m)
        for parent, local in model._local.items()
        for child, m in local.classifiers.items()
    }


def test_learns_the_taxonomy_progressively() -> None:
    model = HierarchicalClassifier(FTRLLogisticRegression(alpha=0.2))
    hits = []
    for x, y in _stream(4_000, seed=3, leaves=LEAVES):
        hits.append(model.predict_one(x) == y)  # predict, then learn
        model.learn_one(x, y)
    assert model.leaves == tuple(sorted(LEAVES))
    assert sum(hits[:500]) / 500 < 0.4  # measured: 0.29 (chance is 1/19)
    assert sum(hits[-1000:]) / 1000 > 0.75  # measured: 0.83


def test_top_down_predictions_are_consistent() -> None:
    model = _trained()
    exact = copy.deepcopy(model)
    exact.beam_width = len(LEAVES)
    for x in _probe():
        paths = model.top_paths(x, k=3)
        assert model.predict_one(x) == paths[0][0]
        assert [p for _, p in paths] == sorted((p for _, p in paths), reverse=True)
        for path, p in paths:  # path probability = product of the local probabilities
            parts = path.split("/")
            product = 1.0
            for i in range(len(parts)):
                parent, child = "/".join(parts[:i]), "/".join(parts[: i + 1])
                product *= model.local_proba_one(x, parent)[child]
            assert p == product
            assert model.local_proba_one(x, path) == {}  # a leaf
        for node in ("", *model.nodes):  # every local distribution sums to 1
            local = model.local_proba_one(x, node)
            assert not local or math.isclose(sum(local.values()), 1.0)
        leaves = model.predict_proba_one(x)
        assert sorted(leaves) == sorted(LEAVES)
        assert math.isclose(sum(leaves.values()), 1.0)
        for path, p in paths:
            assert leaves[path] == pytest.approx(p, rel=1e-12)
        # A beam as wide as the taxonomy is exact: it finds the argmax of the leaf distribution.
        full = model.top_paths(x, k=len(LEAVES))
        assert {path: p for path, p in full} == pytest.approx(leaves, rel=1e-12)
        assert exact.predict_one(x) == max(leaves, key=leaves.get)


def test_greedy_beam_follows_the_best_child_at_every_level() -> None:
    model = _trained(beam_width=1)
    for x in _probe(30):
        node = ""
        while local := model.local_proba_one(x, node):
            node = max(local, key=local.get)
        assert model.predict_one(x) == node


def test_remove_subtree_leaves_every_other_local_model_bitwise_identical() -> None:
    model = _trained()
    before = _local_models(model)
    model.remove_node("n1")
    after = _local_models(model)
    removed = {key for key in before if key[1] == "n1" or key[1].startswith("n1/")}
    assert after == {k: v for k, v in before.items() if k not in removed}
    assert not any(n.startswith("n1") for n in model.nodes)
    assert "n1" in model._local[""].retired
    for x in _probe():
        assert not any(p.startswith("n1") for p, _ in model.top_paths(x, k=5))
        leaves = model.predict_proba_one(x)
        assert not any(p.startswith("n1") for p in leaves)
        assert math.isclose(sum(leaves.values()), 1.0)

    # Labels under the removed subtree: nothing learns below the root, which skips them.
    x, _ = next(_stream(1, seed=4, leaves=LEAVES))
    before = _local_models(model)
    model.learn_one(x, "n1/n0/n1")
    assert _local_models(model) == before
    assert model._local[""].n_skipped_labels == 1

    # add_node brings the subtree back (fresh models); labels under it are learned again.
    model.add_node("n1/n0")
    assert model.leaves[-2:] == ("n2/n2/n1", "solo") and "n1/n0" in model.leaves
    model.learn_one(x, "n1/n0/n1")
    assert "n1/n0/n1" in model.leaves and "n1/n0" not in model.leaves


def test_remove_a_leaf_and_its_parent_keeps_its_local_model() -> None:
    model = _trained()
    before = _local_models(model)
    model.remove_node("n0/n2/n1")
    assert "n0/n2/n1" not in model.nodes and "n0/n2/n0" in model.leaves
    assert _local_models(model) == {k: v for k, v in before.items() if k[1] != "n0/n2/n1"}
    model.remove_node("n0/n2/n0")  # its last child: n0/n2 becomes a leaf
    assert "n0/n2" in model.leaves
    for x in _probe(30):
        assert "n0/n2" in model.predict_proba_one(x)
    with pytest.raises(KeyError, match="not a node"):
        model.remove_node("n0/n2/n0")
    with pytest.raises(KeyError, match="not a node"):
        model.remove_node("")


def test_add_node_adds_ancestors_is_idempotent_and_a_leaf_can_become_a_parent() -> None:
    model = HierarchicalClassifier(FTRLLogisticRegression())
    model.add_node("a/b/c")
    assert model.nodes == ("a", "a/b", "a/b/c") and model.leaves == ("a/b/c",)
    before = pickle.dumps(model)
    model.add_node("a//b/c/")  # empty segments are ignored: the same path
    assert pickle.dumps(model) == before
    model.add_node("a/d")
    assert model.leaves == ("a/b/c", "a/d")
    model.add_node("a/d/e")  # a leaf becomes an internal node: it is no longer predicted
    assert model.leaves == ("a/b/c", "a/d/e")
    x = {1: 1.0}
    assert set(model.predict_proba_one(x)) == {"a/b/c", "a/d/e"}
    assert model.predict_one(x) in {"a/b/c", "a/d/e"}
    model.learn_one(x, "a/d")  # a label on an internal node teaches the levels above it
    assert model.local_proba_one(x, "a")["a/d"] > 0.5
    with pytest.raises(ValueError, match="root"):
        model.add_node("/")


def test_without_auto_add_only_known_paths_are_learned() -> None:
    model = HierarchicalClassifier(FTRLLogisticRegression(), auto_add=False)
    x = {1: 1.0}
    model.learn_one(x, "a/b")
    assert model.nodes == ()
    model.add_node("a/b")
    model.learn_one(x, "a/c")  # the root learns "a", node "a" does not know "a/c"
    assert model.nodes == ("a", "a/b")
    assert model._local["a"].n_skipped_labels == 1


def test_empty_model_predicts_nothing() -> None:
    model = HierarchicalClassifier(FTRLLogisticRegression())
    assert model.top_paths({1: 1.0}) == []
    assert model.predict_one({1: 1.0}) is None
    assert model.predict_proba_one({1: 1.0}) == {}
    with pytest.raises(ValueError, match="k must be"):
        model.top_paths({1: 1.0}, k=0)


@pytest.mark.parametrize("params", [{"sep": ""}, {"beam_width": 0}, {"beam_width": True}])
def test_rejects_bad_hyperparameters(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        HierarchicalClassifier(FTRLLogisticRegression(), **params)


def test_clone_and_pickle() -> None:
    model = _trained(1_000, sep="/", beam_width=2)
    model.remove_node("n2")
    fresh = model.clone()
    assert fresh.nodes == () and fresh.beam_width == 2
    other = pickle.loads(pickle.dumps(model))
    probe = _probe(50)
    assert [other.top_paths(x) for x in probe] == [model.top_paths(x) for x in probe]
    assert [other.predict_proba_one(x) for x in probe] == [
        model.predict_proba_one(x) for x in probe
    ]


# --------------------------------------------------------------------------- cost


class CountingFTRL(FTRLLogisticRegression):
    """FTRL that counts its ``predict_proba_one`` calls (over all clones)."""

    calls: ClassVar[int] = 0

    def predict_proba_one(self, x: Any, **kwargs: Any) -> dict[bool, float]:
        CountingFTRL.calls += 1
        return super().predict_proba_one(x, **kwargs)


@pytest.mark.parametrize(
    "branching",
    [(2, 5), (4, 5, 5), (10, 10, 10), (10, 10, 10, 2)],
    ids=lambda b: "x".join(map(str, b)),
)
@pytest.mark.parametrize("k", [1, 3])
def test_top_paths_cost_depends_on_depth_branching_and_k_not_on_leaves(
    branching: tuple[int, ...], k: int
) -> None:
    leaves = _taxonomy(*branching)
    model = HierarchicalClassifier(CountingFTRL(alpha=0.2))
    for x, y in _stream(500, seed=5, leaves=leaves):  # some learning, so probabilities differ
        model.learn_one(x, y)
    for leaf in leaves:
        model.add_node(leaf)
    flat = MutableOneVsRest(CountingFTRL())
    for leaf in leaves:
        flat.add_class(leaf)
    bound = len(branching) * max(branching) * k
    for x in _probe(20):
        CountingFTRL.calls = 0
        assert len(model.top_paths(x, k)) == min(k, len(leaves))
        assert CountingFTRL.calls <= bound
        CountingFTRL.calls = 0
        flat.predict_one(x)
        assert CountingFTRL.calls == len(leaves)
    if len(leaves) >= 1_000:
        assert bound < len(leaves) / 10


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_paths_of_many_rows_at_once_are_those_of_each_row(k: int) -> None:
    """Each node's models score every row whose beam reaches it in one call: the same beam
    search, the same paths in the same order, probabilities equal to 1e-9."""
    trained = _trained()
    late = copy.deepcopy(trained)
    late.add_node("late/leaf")  # a branch never learned: uniform children, ties
    xs = _probe(200)
    for model in (trained, late):
        together = model.top_paths_rows(SparseRows.from_dicts(xs), k)
        for x, paths in zip(xs, together, strict=True):
            alone = model.top_paths(x, k)
            assert [path for path, _ in paths] == [path for path, _ in alone]
            assert [p for _, p in paths] == pytest.approx([p for _, p in alone], abs=1e-9)
    best = {paths[0][0] for paths in trained.top_paths_rows(SparseRows.from_dicts(xs), k)}
    assert len(best) > 5, "rows whose best paths differ"
    assert HierarchicalClassifier(FTRLLogisticRegression()).top_paths_rows(
        SparseRows.from_dicts(xs[:2])
    ) == [[], []]

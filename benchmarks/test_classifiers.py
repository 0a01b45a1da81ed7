"""Micro-benchmarks of the query-category model: flat one-vs-rest against the hierarchy.

Both classifiers use `FTRLLogisticRegression` binary models on hashed query-text features
(`query_text_features`), over balanced taxonomies of 10, 100 and 1,000 leaves:

- 10 leaves: 2 x 5 (depth 2: a depth-3 shape of 10 leaves would need a branching of 1);
- 100 leaves: 4 x 5 x 5;
- 1,000 leaves: 10 x 10 x 10.

The workload is seeded: each query is 4 words drawn from its leaf's vocabulary, its top level's
or a shared one. Each model is pre-trained on ``TRAIN_QUERIES`` labelled queries, so every class
model holds the weights of the words it has seen (realistic dictionary sizes), then every
benchmark processes ``WORKLOAD_QUERIES`` queries per round:

- ``category_{flat,hier}_predict_<leaves>``: the 3 most probable leaves with their
  probabilities, per query: `MutableOneVsRest.predict_proba_one` and the 3 largest for the flat
  model (every class model is evaluated), `HierarchicalClassifier.top_paths(x, 3)` for the
  hierarchy (beam search of width 3);
- ``category_{flat,hier}_learn_<leaves>``: ``learn_one`` per labelled query (the models keep
  learning across rounds, as they would live).

Run on its own with::

    pytest benchmarks/test_classifiers.py -p no:cacheprovider -o addopts=""
"""

from __future__ import annotations

import copy
import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from learners import (
    FTRLLogisticRegression,
    HierarchicalClassifier,
    MutableOneVsRest,
    query_text_features,
)

WORKLOAD_SEED = 1
WORKLOAD_QUERIES = 200
TRAIN_QUERIES = 1_000
TOP_K = 3
N_BITS = 20
FTRL_PARAMS = {"alpha": 0.2}

#: leaves -> branching per level
SHAPES = {10: (2, 5), 100: (4, 5, 5), 1_000: (10, 10, 10)}


def _leaves(branching: tuple[int, ...]) -> list[str]:
    return ["/".join(f"n{i}" for i in idx) for idx in itertools.product(*map(range, branching))]


def _queries(n: int, rng: random.Random, leaves: list[str]) -> list[tuple[dict[int, float], str]]:
    examples = []
    for _ in range(n):
        leaf = rng.choice(leaves)
        top = leaf.split("/")[0]
        words = []
        for _ in range(4):
            u = rng.random()
            vocab = leaf if u < 0.35 else top if u < 0.7 else "shared"
            words.append(f"{vocab.replace('/', '_')}w{rng.randrange(20)}")
        examples.append((query_text_features({"query": " ".join(words)}, N_BITS), leaf))
    return examples


class Workload:
    """Pre-trained flat and hierarchical models over one taxonomy, and the benchmark queries."""

    def __init__(self, n_leaves: int) -> None:
        rng = random.Random(WORKLOAD_SEED)
        leaves = _leaves(SHAPES[n_leaves])
        assert len(leaves) == n_leaves
        self.flat = MutableOneVsRest(FTRLLogisticRegression(**FTRL_PARAMS))
        self.hier = HierarchicalClassifier(FTRLLogisticRegression(**FTRL_PARAMS))
        for leaf in leaves:  # every class exists, even those the training sample misses
            self.flat.add_class(leaf)
            self.hier.add_node(leaf)
        for x, y in _queries(TRAIN_QUERIES, rng, leaves):
            self.flat.learn_one(x, y)
            self.hier.learn_one(x, y)
        self.examples = _queries(WORKLOAD_QUERIES, rng, leaves)
        self.xs = [x for x, _ in self.examples]


_workloads: dict[int, Workload] = {}


@pytest.fixture(scope="module", params=sorted(SHAPES), ids=lambda n: f"{n}leaves")
def workload(request: pytest.FixtureRequest) -> Workload:
    if request.param not in _workloads:
        _workloads[request.param] = Workload(request.param)
    return _workloads[request.param]


def _run(benchmark: Any, fn: Callable[[], Any], *, key: str, events: int, unit: str) -> None:
    benchmark.extra_info.update(key=key, events=events, unit=unit)
    benchmark(fn)


def _n_leaves(workload: Workload) -> int:
    return len(workload.flat.classifiers)


# --------------------------------------------------------------------------- predict


@pytest.mark.benchmark(group="category-predict")
def test_flat_predict(benchmark: Any, workload: Workload) -> None:
    """Flat one-vs-rest: every class model's probability, then the 3 largest."""
    xs, predict = workload.xs, workload.flat.predict_proba_one

    def run() -> None:
        for x in xs:
            proba = predict(x)
            heapq.nlargest(TOP_K, proba.items(), key=lambda item: item[1])

    key = f"category_flat_predict_{_n_leaves(workload)}"
    _run(benchmark, run, key=key, events=len(xs), unit="query")


@pytest.mark.benchmark(group="category-predict")
def test_hier_predict(benchmark: Any, workload: Workload) -> None:
    """Hierarchy: beam search of width 3 for the 3 most probable leaves."""
    xs, top_paths = workload.xs, workload.hier.top_paths

    def run() -> None:
        for x in xs:
            top_paths(x, TOP_K)

    key = f"category_hier_predict_{_n_leaves(workload)}"
    _run(benchmark, run, key=key, events=len(xs), unit="query")


# --------------------------------------------------------------------------- learn


@pytest.mark.benchmark(group="category-learn")
def test_flat_learn(benchmark: Any, workload: Workload) -> None:
    """Flat one-vs-rest ``learn_one``: every class model learns every example."""
    model = copy.deepcopy(workload.flat)  # the predict benchmarks keep the original
    examples, learn = workload.examples, model.learn_one

    def run() -> None:
        for x, y in examples:
            learn(x, y)

    key = f"category_flat_learn_{_n_leaves(workload)}"
    _run(benchmark, run, key=key, events=len(examples), unit="example")


@pytest.mark.benchmark(group="category-learn")
def test_hier_learn(benchmark: Any, workload: Workload) -> None:
    """Hierarchy ``learn_one``: one local one-vs-rest per level of the label's path."""
    model = copy.deepcopy(workload.hier)  # the predict benchmarks keep the original
    examples, learn = workload.examples, model.learn_one

    def run() -> None:
        for x, y in examples:
            learn(x, y)

    key = f"category_hier_learn_{_n_leaves(workload)}"
    _run(benchmark, run, key=key, events=len(examples), unit="example")

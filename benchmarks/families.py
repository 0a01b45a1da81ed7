"""What each model family costs: serving and learning with every click model a configuration
file can name, measured in one process, in one run, on one seeded workload.

Five configurations differ by their click model (issue 21): the default (our FTRL,
``streams/config/default.toml``), River's ``LogisticRegression``, a River pipeline of a
``StandardScaler`` and a ``LogisticRegression`` on numeric attributes, a
``HoeffdingAdaptiveTreeClassifier`` and an ``ARFClassifier`` (``configs/``). Each is built
as a worker builds it (:func:`streams.config.load_config`, :func:`streams.config.build_registry`),
then:

1. **warm-up**: every model of the registry learns the same labelled impressions of
   ``World(seed, extra_attributes=True)`` (clicks and ratings drawn once from the world's
   hidden models, as :mod:`benchmarks.trained` draws them), as decoded examples with the
   features of its own
   feature set, through :meth:`~streams.models.registry.LiveModel.learn_example`; the category
   model learns each query's true leaf. Trees have split by the end of it.
2. **serving**: :func:`streams.agents.serve.predict_many` on the same batches of decoded
   queries (200 a batch, as the batched hot-path figure), round after round; the median round
   per query, and per candidate.
3. **learning**: the click model's ``learn_example`` (predict, progressive metrics, learn) on
   the same impressions' decoded examples, in chunks, going on from the warm-up's state; the
   median chunk in examples per second.

The rounds of each phase are sized by time (``*_budget_s``, at least ``min_rounds``): the
forest is a hundred times slower than FTRL, and a fixed count would take minutes. Ratios are to
the default configuration's figures of the same run: ``serve_cost_over_default`` above 1 costs
more per query, ``learn_rate_over_default`` below 1 learns fewer examples a second.

The click model's progressive log loss and AUC once it has learned every impression of the
workload (the warm-up's and the learning phase's, the part no round timed learned untimed;
every example scored before it was learned) say what the cost buys on *this small in-process
workload*: a few thousand impressions of one simulated world (about 1 % clicked), not a
quality benchmark. ``tree_nodes`` says whether a tree split (1: it never did).

``python -m benchmarks.families [--quick]`` (``make bench-families``) writes
``benchmarks/results/families.json``; ``adstream bench`` runs it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from producers.world import World
from streams.agents.join import examples_for
from streams.agents.serve import predict_many
from streams.config import build_registry, load_config
from streams.labelling.attribution import Label
from streams.models.registry import CLICK, LiveModel, ModelRegistry
from streams.serving.view import Serving
from streams.wire import contracts
from streams.wire.config_file import DEFAULT_CONFIG
from streams.wire.settings import Settings

__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "FamilyOptions",
    "Impression",
    "Workload",
    "main",
    "make_workload",
    "measure_family",
    "run_families",
    "timed_rounds",
    "tree_nodes",
]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
#: family -> its configuration file; they differ by the click objective's model
FAMILIES: dict[str, str] = {
    "ftrl": DEFAULT_CONFIG,
    "river_logreg": str(REPO_ROOT / "configs" / "river-logistic.toml"),
    "pipeline": str(REPO_ROOT / "configs" / "pipeline-numeric.toml"),
    "hoeffding": str(REPO_ROOT / "configs" / "hoeffding-tree.toml"),
    "arf": str(REPO_ROOT / "configs" / "arf.toml"),
}
#: the family every ratio is to: the default configuration
DEFAULT_FAMILY = "ftrl"
TS0_MS = 1_700_000_000_000
QUERY_GAP_MS = 50


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FamilyOptions:
    """The workload and how long each phase is timed; the defaults are ``make bench``'s."""

    seed: int = 11
    #: queries whose every candidate is learned before anything is timed (about 12 each)
    train_queries: int = 300
    #: queries a serving round scores at once, and how many distinct batches rounds cycle over
    batch_queries: int = 200
    serve_batches: int = 3
    #: queries whose candidates make the learning phase's examples, learned in chunks
    learn_queries: int = 300
    learn_chunk: int = 200
    #: each phase of each family stops once its budget is spent and it has ``min_rounds``
    serve_budget_s: float = 2.0
    learn_budget_s: float = 2.0
    min_rounds: int = 3
    max_serve_rounds: int = 500

    @classmethod
    def quick(cls) -> FamilyOptions:
        """A smoke test: fewer examples, a tenth of a second a phase."""
        return cls(
            train_queries=100,
            serve_batches=1,
            learn_queries=60,
            serve_budget_s=0.1,
            learn_budget_s=0.1,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Impression:
    """One candidate of a query, shown at its position among the query's candidates, with
    the click and the rating the world drew for it (once: every family learns the same
    labels); ``index`` numbers impressions across the workload."""

    index: int
    query: dict[str, Any]
    ad: dict[str, Any]
    clicked: bool
    rating: float


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    """The seeded workload every family is measured on."""

    #: (query, its true category leaf, every candidate's impression), learned in the warm-up
    train: list[tuple[dict[str, Any], str, list[Impression]]]
    #: batches of decoded queries, as the serving loop hands them to ``predict_many``
    batches: list[list[dict[str, Any]]]
    #: the learning phase's queries and their impressions, in order
    learn: list[tuple[dict[str, Any], list[Impression]]]

    @property
    def train_examples(self) -> int:
        return sum(len(impressions) for _, _, impressions in self.train)

    @property
    def learn_examples(self) -> int:
        return sum(len(impressions) for _, impressions in self.learn)

    def describe(self, options: FamilyOptions) -> dict[str, Any]:
        """What the workload is, for the results file."""
        return {
            "seed": options.seed,
            "train_queries": len(self.train),
            "train_examples": self.train_examples,
            "serve_batches": len(self.batches),
            "batch_queries": options.batch_queries,
            "batch_candidates": [
                sum(len(q["candidates"]) for q in batch) for batch in self.batches
            ],
            "learn_examples": self.learn_examples,
            "learn_chunk": options.learn_chunk,
        }


def _impressions(
    world: World, rng: random.Random, query: dict[str, Any], truth: Any, first: int
) -> list[Impression]:
    """Every candidate of ``query`` as an impression at its position, its click drawn from
    the world's hidden click model and its rating the world's quality."""
    impressions = []
    for position, ad in enumerate(query["candidates"]):
        world_ad = world.ad(ad["ad_id"])
        clicked = rng.random() < world.click_probability(truth, world_ad, position)
        rating = world.quality(truth, world_ad)
        impressions.append(Impression(first + position, query, ad, clicked, rating))
    return impressions


def make_workload(options: FamilyOptions) -> Workload:
    """Training queries, serving batches and learning impressions, in that order, from
    ``World(options.seed)``: the same for every family."""
    world = World(seed=options.seed, extra_attributes=True)  # the attributes the configs read
    rng = random.Random(options.seed)
    clock = (TS0_MS + i * QUERY_GAP_MS for i in itertools.count())
    index = 0
    train = []
    for _ in range(options.train_queries):
        query, truth = world.next_query(next(clock))
        impressions = _impressions(world, rng, query, truth, index)
        index += len(impressions)
        train.append((query, truth.leaf, impressions))
    batches = [
        [
            contracts.decode_query(contracts.encode(world.next_query(next(clock))[0]))
            for _ in range(options.batch_queries)
        ]
        for _ in range(options.serve_batches)
    ]
    learn = []
    for _ in range(options.learn_queries):
        query, truth = world.next_query(next(clock))
        impressions = _impressions(world, rng, query, truth, index)
        index += len(impressions)
        learn.append((query, impressions))
    return Workload(train, batches, learn)


def timed_rounds(
    work: Iterable[Callable[[], object]], *, budget_s: float, min_rounds: int
) -> list[float]:
    """Seconds each call of ``work`` took (``time.perf_counter``), in order: until ``work``
    runs out, or ``budget_s`` has passed and at least ``min_rounds`` calls were timed.

    >>> len(timed_rounds(iter([lambda: None] * 10), budget_s=0.0, min_rounds=3))
    3
    >>> len(timed_rounds(iter([lambda: None] * 2), budget_s=60.0, min_rounds=3))
    2
    """
    clock = time.perf_counter
    durations: list[float] = []
    started = clock()
    for call in work:
        t0 = clock()
        call()
        durations.append(clock() - t0)
        if len(durations) >= min_rounds and clock() - started >= budget_s:
            break
    return durations


def click_model(registry: ModelRegistry) -> LiveModel:
    """The model that learns clicks for the ``engagement`` objective (``click`` in every
    configuration measured here)."""
    model = registry.get(CLICK)
    if model is None or not model.binary:
        raise ValueError(f"no click model named {CLICK!r} in the configuration: {sorted(registry)}")
    return model


def decoded_examples(
    models: Iterable[LiveModel],
    query: dict[str, Any],
    category: str | None,
    impressions: Sequence[Impression],
) -> list[dict[str, Any]]:
    """The examples of ``impressions`` (of ``query``, rated) for ``models``, as the join makes
    them (:func:`streams.agents.join.examples_for`, the query's predicted ``category``) and the
    learn loop hands them: encoded, then decoded."""
    models = list(models)
    examples = []
    for impression in impressions:
        shown = contracts.impression(
            impression_id=f"imp-{impression.index}",
            event_id=query["event_id"],
            ad_id=impression.ad["ad_id"],
            position=0,
            ts=query["ts"],
            arm="main",
        )
        label = Label(
            impression=shown,
            query=query,
            label=float(impression.clicked),
            ts_label=query["ts"],
            source={"impressions:0": impression.index},
            quality=impression.rating,
        )
        for example in examples_for(label, models, category) or ():
            examples.append(contracts.decode_example(contracts.encode(example)))
    return examples


def _best_path(registry: ModelRegistry, query: dict[str, Any]) -> str | None:
    """The query's predicted category path, as the join asks it of the category model."""
    category = registry.category
    paths = category.top_paths(category.features(query), 1)
    return paths[0][0] if paths else None


def warm_up(registry: ModelRegistry, train: Sequence[tuple[dict[str, Any], str, Any]]) -> None:
    """Every model of ``registry`` learns the training impressions in order, each query's
    examples made with the category predicted before the category model learns its leaf."""
    category = registry.category
    for query, leaf, impressions in train:
        best = _best_path(registry, query)
        for example in decoded_examples(registry.values(), query, best, impressions):
            registry[example["model"]].learn_example(example)
        category.learn(category.features(query), leaf)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive chunks of ``size`` items; a shorter tail is dropped (every round the same
    size), unless it is all there is."""
    whole = max(len(items) // size, 1)
    return (items[i * size : (i + 1) * size] for i in range(whole))


def describe_estimator(estimator: Any) -> str:
    """A short name: the class, or a pipeline's steps' classes joined by ``|``."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, dict):
        return " | ".join(type(step).__name__ for step in steps.values())
    return type(estimator).__name__


def measure_family(
    path: str, workload: Workload, options: FamilyOptions, settings: Settings
) -> dict[str, Any]:
    """One family's figures: build its registry from ``path``, warm it up, time serving, then
    learning (see the module's doc)."""
    registry = build_registry(load_config(path, settings.n_bits), settings)
    click = click_model(registry)
    warm_up(registry, workload.train)

    serving = Serving(registry)
    batches = workload.batches
    predict_many(serving, batches[0], TS0_MS)  # untimed: first calls fill caches
    gc.collect()
    serve_s = timed_rounds(
        (
            lambda batch=batch: predict_many(serving, batch, TS0_MS)
            for batch in itertools.islice(itertools.cycle(batches), options.max_serve_rounds)
        ),
        budget_s=options.serve_budget_s,
        min_rounds=options.min_rounds,
    )
    serve_round_s = statistics.median(serve_s)
    candidates = statistics.mean(sum(len(q["candidates"]) for q in batch) for batch in batches)

    examples = [
        example
        for query, impressions in workload.learn
        for example in decoded_examples([click], query, _best_path(registry, query), impressions)
    ]
    chunks = list(_chunks(examples, options.learn_chunk))
    learn = click.learn_example

    def learn_all(chunk: Sequence[dict[str, Any]]) -> None:
        for example in chunk:
            learn(example)

    gc.collect()
    learn_s = timed_rounds(
        (lambda chunk=chunk: learn_all(chunk) for chunk in chunks),
        budget_s=options.learn_budget_s,
        min_rounds=options.min_rounds,
    )
    chunk_size = len(chunks[0])
    learn_all(examples[chunk_size * len(learn_s) :])  # untimed: every family learns them all
    progressive = click.report()
    return {
        "config": _relative(path),
        "click_model": describe_estimator(click.estimator),
        "tree_nodes": tree_nodes(click.estimator),
        "serve_us_per_query": serve_round_s / options.batch_queries * 1e6,
        "serve_us_per_candidate": serve_round_s / candidates * 1e6,
        "serve_rounds": len(serve_s),
        "learn_examples_per_s": chunk_size / statistics.median(learn_s),
        "learn_rounds": len(learn_s),
        "learn_timed_examples": chunk_size * len(learn_s),
        "progressive": {key: progressive[key] for key in ("n", "logloss", "auc", "ne")},
    }


def tree_nodes(estimator: Any) -> int | None:
    """The nodes of a tree, or of all a forest's trees (1 a tree: it never split); ``None``
    for a model without trees."""
    if hasattr(estimator, "n_nodes"):
        return int(estimator.n_nodes)
    trees = getattr(estimator, "models", None)
    if isinstance(trees, list) and trees and all(hasattr(t, "n_nodes") for t in trees):
        return sum(int(t.n_nodes) for t in trees)
    return None


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path


def run_families(
    options: FamilyOptions | None = None,
    families: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Every family of ``families`` (all five by default; the first is what ratios are to
    unless :data:`DEFAULT_FAMILY` is among them) measured on one workload, one after the other;
    the results ``families.json`` holds."""
    options = options or FamilyOptions()
    families = families or FAMILIES
    settings = settings or Settings()
    started = time.monotonic()
    workload = make_workload(options)
    results = {}
    for name, path in families.items():
        family_started = time.monotonic()
        results[name] = measure_family(path, workload, options, settings)
        results[name]["elapsed_s"] = time.monotonic() - family_started
        log.info("family %s measured in %.1f s", name, results[name]["elapsed_s"])
        gc.collect()  # the forest's trees, before the next family is timed
    default = DEFAULT_FAMILY if DEFAULT_FAMILY in results else next(iter(results))
    base = results[default]
    for figures in results.values():
        figures["serve_cost_over_default"] = (
            figures["serve_us_per_query"] / base["serve_us_per_query"]
        )
        figures["learn_rate_over_default"] = (
            figures["learn_examples_per_s"] / base["learn_examples_per_s"]
        )
    return {
        "default": default,
        "options": dataclasses.asdict(options),
        "workload": workload.describe(options),
        "families": results,
        "elapsed_s": time.monotonic() - started,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.families``: measure, write ``families.json``, print the table."""
    from rich.console import Console

    from benchmarks.run import RESULTS_DIR, families_summary, families_table, machine_info

    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.families", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke test (a few seconds)")
    args = parser.parse_args(argv)
    machine = machine_info()
    record = run_families(FamilyOptions.quick() if args.quick else FamilyOptions())
    record |= {"machine": machine, "quick": args.quick}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "families.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    console = Console()
    console.print(families_table(families_summary(record)))
    console.print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

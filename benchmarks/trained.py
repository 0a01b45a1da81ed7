"""Models trained on the simulated world, so that benchmarks serve real weights.

An untrained model is cheap to serve for the wrong reasons: its FTRL weights are all absent
and the category model has no leaf to search. :func:`train` learns the click, quality and
category models a worker serves from a few thousand seeded impressions; the end-to-end
harness publishes them as signed snapshots (:func:`snapshot_records`) for a serving worker to
load, and the floor trains the same models in its own process (the training is deterministic).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

from learners import candidate_features, query_context
from producers.world import QueryTruth, World
from streams import snapshots
from streams.kafka.outbox import now_ms
from streams.models.category import CategoryModel
from streams.models.ledger import Ledger
from streams.models.registry import CLICK, QUALITY, ModelRegistry, default_models
from streams.serving.view import Serving

__all__ = ["TRAIN_QUERIES", "TrainedModels", "labelled", "snapshot_records", "train"]

TRAIN_QUERIES = 300  # about 3,700 click examples
TS0_MS = 1_700_000_000_000


@dataclasses.dataclass(slots=True)
class TrainedModels:
    """What a worker serves: the objective models and the category model."""

    models: ModelRegistry

    @property
    def category(self) -> CategoryModel:
        return self.models.category

    def serving(self) -> Serving:
        """The serving view of these models, as a worker that learns them serves them."""
        return Serving(self.models)


def labelled(
    world: World, rng: random.Random, query: dict[str, Any], truth: QueryTruth, n_bits: int
) -> list[tuple[dict[int, float], bool]]:
    """Every candidate of ``query`` as a click example, labelled by the world's hidden click
    model at its position."""
    context = query_context(query, n_bits)
    return [
        (
            candidate_features(context, ad),
            rng.random() < world.click_probability(truth, world.ad(ad["ad_id"]), position),
        )
        for position, ad in enumerate(query["candidates"])
    ]


def train(
    world: World,
    rng: random.Random,
    n_bits: int,
    *,
    queries: int = TRAIN_QUERIES,
    click_references: Sequence[Any] = (),
) -> TrainedModels:
    """The default models after ``queries`` of ``world``: the category model learns each
    query's true leaf, the click model every candidate's drawn click, the quality model its
    true quality. Each of ``click_references`` (other learners, for comparison) learns the same
    click examples."""
    models = default_models(n_bits=n_bits)
    category, click, quality = models.category, models[CLICK], models[QUALITY]
    for i in range(queries):
        query, truth = world.next_query(TS0_MS + i * 50)
        category.learn(category.features(query), truth.leaf)
        examples = labelled(world, rng, query, truth, n_bits)
        for (x, clicked), ad in zip(examples, query["candidates"], strict=True):
            click.learn(x, float(clicked))
            quality.learn(x, world.quality(truth, world.ad(ad["ad_id"])))
            for reference in click_references:
                reference.learn_one(x, clicked)
    return TrainedModels(models)


def snapshot_records(trained: TrainedModels, key: bytes) -> list[tuple[str, bytes]]:
    """(model name, signed snapshot) of every trained model, as a learner would write them."""
    served = {**trained.models, trained.category.name: trained.category}
    return [
        (
            name,
            snapshots.dump(
                model,
                key=key,
                model=name,
                version=model.version,
                parent=None,
                created_at=now_ms(),
                metrics=model.report(),
                worker="bench",
                **Ledger().to_meta(),
            ),
        )
        for name, model in served.items()
    ]

"""Rebuilding a model version from the log, to show it is reproducible.

``adstream models rebuild NAME VERSION`` finds the signed snapshot of that version, makes a
fresh model from the snapshot's metadata (the estimator's spec: factory and hyperparameters,
a seed among them for the models that draw random numbers; and the model's definition: its
objective, label and feature set), replays the model's examples from ``examples`` up to
the snapshot's offsets with the learner's own rules (skip what the ledger says was applied),
re-applies the category model's class changes at the example counts they were applied at and
a scored model's promotions (a challenger trained on its examples from one count to another,
then learning in its place), and compares: the ledger (count, id digest, offsets, origins),
every parameter, and the predictions on a probe set (the last examples replayed).

A model's examples are keyed by its name, so they sit in one partition in the order they were
learned; rebuild needs them still on the topic (Tansu never deletes; on Kafka, keep
``examples`` for as long as versions must be rebuilt).
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from learners.scores import score_one
from streams import snapshots
from streams.config import load_config
from streams.kafka.readers import read_topic
from streams.models.category import CATEGORY, CategoryModel
from streams.models.challenger import Challenger
from streams.models.learner import learn_example
from streams.models.ledger import Ledger
from streams.models.registry import LiveModel, Promotion
from streams.snapshots.catalog import verify_records
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["RebuildVerdict", "fresh_model", "model_state", "rebuild", "replay"]

PROBES = 500


@dataclasses.dataclass(frozen=True, slots=True)
class RebuildVerdict:
    """How a rebuilt model compares with its snapshot."""

    model: str
    version: int
    examples: int
    same_ledger: bool
    same_parameters: bool
    probes: int
    same_predictions: bool
    max_abs_diff: float
    seconds: float

    @property
    def identical(self) -> bool:
        return self.same_ledger and self.same_parameters and self.same_predictions


def fresh_model(
    name: str,
    spec: Mapping[str, Any],
    definition: Mapping[str, Any],
    allow: Sequence[str] = (),
) -> Any:
    """The unlearned model a snapshot's metadata describes: its estimator built from its
    ``spec`` (modules beyond ``river`` and ``learners`` only from ``allow``), the rest from
    its ``definition``."""
    estimator = snapshots.build(spec, allow=allow)
    kind = CategoryModel if name == CATEGORY else LiveModel
    return kind.from_definition(name, definition, estimator)


def model_state(value: Any) -> Any:
    """A comparable picture of a model's learned state: objects become their attributes,
    sets compare without order (their pickles depend on the process's hash seed), and an
    extension object without attributes (River's ADWIN keeps its window in Rust) becomes its
    pickled state."""
    if isinstance(value, dict):
        return {key: model_state(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [model_state(item) for item in value]
    if isinstance(value, set | frozenset):
        return frozenset(value)
    if hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
        attributes = dict(vars(value)) if hasattr(value, "__dict__") else {}
        for cls in type(value).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(value, slot):
                    attributes[slot] = getattr(value, slot)
        return (type(value).__qualname__, model_state(attributes))
    if isinstance(value, bool | int | float | complex | str | bytes | type) or value is None:
        return value
    return (type(value).__qualname__, pickle.dumps(value))


def replay(
    model: Any,
    examples: Iterable[tuple[str, int, dict[str, Any]]],
    changes: Iterable[Any] = (),
    promotions: Iterable[Promotion] = (),
) -> Ledger:
    """Learn ``(position, offset, example)`` in order as the learner did; the category
    model's ``changes`` are applied when its example count reaches theirs, and a scored
    model's ``promotions`` when its count reaches their version: a fresh copy learns the
    examples learned from ``trained_from`` on, as the challenger did, and takes over."""
    pending = sorted(changes, key=lambda change: change.seq)
    to_promote = sorted(promotions, key=lambda promotion: promotion.version)
    learned: list[dict[str, Any]] = []  # in learning order, kept only if a promotion needs it
    ledger = Ledger()

    def apply_due() -> None:
        while pending and pending[0].n_learned <= model.n_learned:
            change = pending.pop(0)
            getattr(model, change.cmd)(change.path, seq=change.seq, at_ms=change.applied_at_ms)
        while to_promote and to_promote[0].version <= model.n_learned:
            promotion = to_promote.pop(0)
            recent = learned[promotion.trained_from : promotion.version]
            model.promote(Challenger.start(model, recent).model.estimator, promotion)

    for position, offset, example in examples:
        apply_due()
        if ledger.admit(position, offset, example) is None:
            learn_example(model, example)
            if to_promote:
                learned.append(example)
    apply_due()
    return ledger


def _predictions(model: Any, xs: list[dict[int, float]]) -> list[Any]:
    if isinstance(model, CategoryModel):
        return [model.top_paths(x) for x in xs]
    return [score_one(model.estimator, x) for x in xs]


def _max_abs_diff(a: list[Any], b: list[Any]) -> float:
    if not a or isinstance(a[0], list):  # category paths: equal or not
        return 0.0 if a == b else float("inf")
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


async def rebuild(settings: Settings, name: str, version: int) -> RebuildVerdict:
    """Rebuild ``name`` at ``version`` from the log and compare it with its snapshot."""
    started = time.perf_counter()
    key = settings.snapshot_key.encode()
    verified, _ = verify_records(await read_topic(settings, "models"), key)
    found = [r for r, meta in verified if meta["model"] == name and meta["version"] == version]
    if not found:
        raise LookupError(f"no verified snapshot of {name} at version {version}")
    meta, snapshot = snapshots.load(found[-1].value, key=key)
    upto: dict[str, int] = meta["offsets"]
    examples = []
    for record in await read_topic(settings, "examples"):
        position = f"{record.topic}:{record.partition}"
        if record.offset > upto.get(position, -1):
            continue
        try:
            example = contracts.decode_example(record.value)
        except contracts.InvalidEvent:
            continue  # dead-lettered when it was learned
        if example["model"] == name:
            examples.append((position, record.offset, example))
    examples.sort(key=lambda item: (item[0], item[1]))
    allow = load_config(settings.config, settings.n_bits).allow
    model = fresh_model(name, meta["spec"], meta["definition"], allow)
    ledger = replay(
        model,
        examples,
        getattr(snapshot, "changes", ()),
        getattr(snapshot, "promotions", ()),
    )
    probe = [example["features"] for _, _, example in examples[-PROBES:]]
    rebuilt, expected = _predictions(model, probe), _predictions(snapshot, probe)
    return RebuildVerdict(
        model=name,
        version=version,
        examples=len(examples),
        same_ledger=ledger.to_meta() == Ledger.from_meta(meta).to_meta(),
        same_parameters=model_state(model.estimator) == model_state(snapshot.estimator),
        probes=len(probe),
        same_predictions=rebuilt == expected,
        max_abs_diff=_max_abs_diff(rebuilt, expected),
        seconds=time.perf_counter() - started,
    )

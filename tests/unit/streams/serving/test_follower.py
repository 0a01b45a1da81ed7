"""The model follower, built without a Faust app or a broker: fed records of ``models`` as its
reader would fetch them, it serves each new version of a model this worker does not learn,
leaves the live model of one it learns, honours pins, and alerts on refused snapshots."""

from __future__ import annotations

import asyncio
import dataclasses

from streams import snapshots
from streams.kafka.outbox import Outbox
from streams.models.ledger import Ledger
from streams.models.registry import LiveModel, ModelRegistry, default_models
from streams.monitoring.counters import Counters
from streams.serving.follower import LATEST, ModelFollower
from streams.serving.view import Serving
from streams.wire import contracts
from streams.wire.settings import Settings
from tests.unit.streams.fakes import DeliveringProducer

KEY = "k"


@dataclasses.dataclass
class Record:
    """A record of ``models`` as the follower's reader returns it."""

    key: bytes
    value: bytes
    offset: int


@dataclasses.dataclass
class Following:
    models: ModelRegistry
    serving: Serving
    follower: ModelFollower
    counters: Counters
    producer: DeliveringProducer
    learned: set[str]

    def published(self, topic: str) -> list[dict]:
        return [contracts.decode_map(value) for t, value in self.producer.sent if t == topic]


def _following() -> Following:
    settings = Settings(kafka="127.0.0.1:9", snapshot_key=KEY, topic_prefix="t.")
    models, counters, producer = default_models(), Counters(), DeliveringProducer()
    serving, learned = Serving(models), set()
    follower = ModelFollower(
        settings=settings,
        serving=serving,
        learns=learned.__contains__,
        counters=counters,
        outbox=lambda: Outbox(producer),
        worker="w1",
    )
    return Following(models, serving, follower, counters, producer, learned)


def _snapshot(model: LiveModel, offset: int, key: str = KEY) -> Record:
    raw = snapshots.dump(
        model,
        key=key.encode(),
        model=model.name,
        version=model.version,
        parent=None,
        created_at=contracts.MIN_TS_MS,
        metrics=model.report(),
        worker="learner",
        **Ledger().to_meta(),
    )
    return Record(model.name.encode(), raw, offset)


def _trained(model: LiveModel, n: int) -> LiveModel:
    copy = model.untrained_copy()
    for i in range(n):
        copy.learn({i % 5: 1.0}, float(i % 3 == 0))
    return copy


def test_a_new_version_of_a_model_learned_elsewhere_is_served_and_published() -> None:
    ctx = _following()
    v10 = _trained(ctx.models["click"], 10)
    asyncio.run(ctx.follower.follow([_snapshot(v10, 0)]))
    assert ctx.serving.version("click") == 10 and ctx.serving.loaded == {"click"}
    assert ctx.models["click"].version == 0, "the live model is not touched"
    (swap,) = ctx.published("t.metrics")
    assert (swap["kind"], swap["model"], swap["version"], swap["reason"]) == (
        "serving",
        "click",
        10,
        "snapshot",
    )
    asyncio.run(ctx.follower.follow([_snapshot(_trained(ctx.models["click"], 5), 1)]))
    assert ctx.serving.version("click") == 10, "an older version is indexed, not served"
    assert ctx.follower.versions("click") == [5, 10]


def test_a_worker_that_learns_a_model_serves_its_live_model() -> None:
    ctx = _following()
    ctx.learned.add("click")
    asyncio.run(ctx.follower.follow([_snapshot(_trained(ctx.models["click"], 10), 0)]))
    assert ctx.serving.loaded == frozenset() and ctx.follower.versions("click") == [10]


def test_a_pin_holds_the_served_version_until_latest_unpins_it() -> None:
    ctx = _following()
    ctx.learned.add("click")
    ctx.follower.pin("click", 7, "operator")
    asyncio.run(ctx.follower.follow([_snapshot(_trained(ctx.models["click"], 12), 0)]))
    assert ctx.serving.pins["click"].version == 7 and ctx.serving.loaded == frozenset()
    ctx.follower.pin("click", LATEST, "operator")
    asyncio.run(ctx.follower.follow([]))
    assert ctx.serving.pins == {} and ctx.serving.models["click"] is ctx.models["click"]
    assert ctx.published("t.metrics")[-1]["reason"] == "promote"


def test_a_refused_snapshot_is_alerted_and_never_served() -> None:
    ctx = _following()
    asyncio.run(
        ctx.follower.follow([_snapshot(_trained(ctx.models["click"], 10), 3, key="another")])
    )
    assert ctx.serving.loaded == frozenset() and ctx.follower.versions("click") == []
    (alert,) = ctx.published("t.alerts")
    assert alert["kind"] == "snapshot_refused" and alert["evidence"]["offset"] == 3
    assert ctx.counters["snapshots_refused"] == 1

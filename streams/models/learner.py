"""Exactly-once learning for one worker: apply each example once, snapshot, commit, restore.

An example's effect is durable only once a snapshot that contains it is on ``models``. So the
learner keeps, per model and ``examples`` partition, the first offset it handled since the
model's last snapshot (:meth:`Learner.unsaved`), and the learning loop commits no partition
past it: a snapshot's examples are committed once it has been delivered. After a crash, reading
starts again from the committed offset, which is never past the snapshot: the restored learner
loads the latest snapshot of each model (:meth:`Learner.restore`, before any agent starts),
skips the examples its ledger says it has applied (``replayed``: at or below the snapshot's
offsets; ``duplicate``: a label the join emitted again) and learns the rest, so the recovered
model is the one that never crashed.

Snapshots are written every ``snapshot_every_examples`` examples of a model (checked per
example, so versions do not depend on batching), when a model's news is older than
``snapshot_every_s``, and on the ``snapshot`` control command. Only a worker that has learned a
model snapshots it. Only with ``ADSTREAM_SNAPSHOTS=off`` (said explicitly; logged as a
warning) is nothing written or restored, and examples are committed as soon as they are read
(at-least-once: a crash then loses what was learned since the start).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from streams import snapshots
from streams.kafka.outbox import Sink, now_ms
from streams.models.category import CategoryModel
from streams.models.challenger import Challenger
from streams.models.ledger import Ledger
from streams.models.registry import LiveModel, ModelRegistry, Promotion
from streams.monitoring.counters import Counters
from streams.monitoring.worker_health import WorkerHealth
from streams.snapshots.catalog import latest_snapshots
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["ChallengeEnded", "Learner", "learn_example"]

log = logging.getLogger(__name__)

RECENT_EXAMPLES = 5_000  # the examples per scored model a challenger can be trained from


Unsaved = dict[str, int]  # examples partition ("topic:partition") -> the first offset unsaved


def _merge_first(into: Unsaved, other: Unsaved) -> None:
    for position, offset in other.items():
        into[position] = min(offset, into.get(position, offset))


def learn_example(model: LiveModel | CategoryModel, example: dict[str, Any]) -> Any:
    """Predict, then learn one decoded example (a category path, or a label in [0, 1]);
    returns the prediction made before learning."""
    if isinstance(model, CategoryModel):
        return model.learn(example["features"], example["label"])
    return model.learn_example(example)


@dataclasses.dataclass(frozen=True, slots=True)
class ChallengeEnded:
    """A challenger of ``model`` retired after its run; ``promotion`` when it replaced the
    champion's estimator (the event the learner publishes to its listeners)."""

    model: str
    challenger: Challenger
    promotion: Promotion | None


class Learner:
    """The models one worker learns, their ledgers, and where each model's last snapshot ends
    in its input.

    It learns the models of ``models`` (replacing them there when it restores a snapshot),
    counts in ``counters``, reports each example to ``health``, and signs its snapshots as
    ``worker``. ``promotes(name)``: whether a winning challenger of ``name`` replaces its
    champion. Listeners (:meth:`subscribe`) hear of every challenger that retires.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        models: ModelRegistry,
        counters: Counters,
        health: WorkerHealth,
        worker: str,
        promotes: Callable[[str], bool] = lambda name: False,
    ) -> None:
        self._settings = settings
        self._registry = models
        self._counters = counters
        self._health = health
        self._worker = worker
        self._promotes = promotes
        self._listeners: list[Callable[[ChallengeEnded], None]] = []
        snapshotting = settings.snapshots == "on"
        self._key = settings.snapshot_key.encode() if snapshotting else b""
        self._topic = settings.topic("models")
        self._ledgers: dict[str, Ledger] = {}
        self._written: dict[str, dict[str, int]] = {}  # model -> offsets of its last snapshot
        self._unsaved: dict[str, Unsaved] = {}  # model -> examples since its last snapshot
        #: model -> (what its snapshot in flight saves, the offsets of the one before): until
        #: the learning loop confirms the delivery (:meth:`delivered`)
        self._sending: dict[str, tuple[Unsaved, dict[str, int]]] = {}
        self._last: dict[str, tuple[int, float]] = {}  # model -> (version, monotonic time)
        self._requested: set[str] = set()
        self._started = time.monotonic()
        self._positions: set[str] | None = None  # the examples partitions assigned here
        self._recent: dict[str, collections.deque[bytes]] = {}  # scored models
        self.challengers: dict[str, Challenger] = {}
        if not self._key and "learn" in settings.roles:
            log.warning(
                "ADSTREAM_SNAPSHOTS=off: this worker learns WITHOUT snapshots: no recovery after "
                "a crash (a restarted learner starts again from version 0), and serving "
                "replicas cannot follow its models"
            )

    # ------------------------------------------------------------------ models

    def subscribe(self, listener: Callable[[ChallengeEnded], None]) -> None:
        """Call ``listener`` with every challenger that retires, as it retires."""
        self._listeners.append(listener)

    def knows(self, name: str) -> bool:
        return self._registry.model(name) is not None

    def learns(self, name: str) -> bool:
        """Whether this worker learns ``name`` (it has restored or learned it)."""
        return name in self._ledgers

    def ledger(self, name: str) -> Ledger:
        ledger = self._ledgers.get(name)
        if ledger is None:
            ledger = self._ledgers[name] = Ledger()
        return ledger

    # ------------------------------------------------------------------ learning

    def apply(
        self, out: Sink, position: str, offset: int, example: dict[str, Any], raw: bytes
    ) -> bool:
        """Learn one example (``raw``, decoded), read at ``offset`` of ``position``
        (``topic:partition``), unless the ledger has it; ``False`` if no model of this worker
        can learn it (unknown model, or a label of the wrong kind). A snapshot that falls due
        goes to ``out``."""
        name, label = example["model"], example["label"]
        model = self._registry.model(name)
        if model is None or isinstance(model, CategoryModel) != isinstance(label, str):
            return False
        verdict = self.ledger(name).admit(position, offset, example)
        if verdict is None:
            p = learn_example(model, example)
            self._counters[f"learned.{name}"] += 1
            if isinstance(model, LiveModel):
                self._watch(name, model, example, raw, p)
            elif p is not None:  # a category guess (None: a retired class's label, skipped)
                self._health.observe_guess(name, example, p, time.time())
        else:
            self._counters[f"{verdict}.{name}"] += 1
        if self._key and offset > self._written.get(name, {}).get(position, -1):
            self._unsaved.setdefault(name, {}).setdefault(position, offset)
        version = self._last.get(name, (0, 0.0))[0]
        if self._key and model.n_learned - version >= self._settings.snapshot_every_examples:
            self._write(out, name, model)
        return True

    def _watch(
        self, name: str, model: LiveModel, example: dict[str, Any], raw: bytes, p: float
    ) -> None:
        """After a scored model learned an example: its health, its recent examples (what a
        challenger is trained from, kept encoded: compact, and decoded again only then) and
        its challenger, if one runs."""
        weight = model.weights(example["label"], example["weight"], example["sampling_rate"])[0]
        self._health.observe_example(name, example, p, weight, time.time())
        recent = self._recent.get(name)
        if recent is None:
            recent = self._recent[name] = collections.deque(maxlen=RECENT_EXAMPLES)
        recent.append(raw)
        challenger = self.challengers.get(name)
        if challenger is not None:
            challenger.learn(example, p, weight)
            if challenger.examples >= self._settings.challenge_examples:
                self._end_challenge(name, model, challenger)

    # ------------------------------------------------------------------ challengers

    def start_challenger(self, name: str, since_change: int) -> Challenger:
        """A challenger of ``name`` trained on its examples since the change (as many of the
        last ``RECENT_EXAMPLES`` as that), learning every example from now on."""
        recent = list(self._recent.get(name, ()))
        start = len(recent) - min(max(since_change, 1), len(recent))
        examples = [contracts.decode_example(raw) for raw in recent[start:]]
        challenger = Challenger.start(self._registry[name], examples)
        self.challengers[name] = challenger
        log.warning("challenger of %s started: %s", name, challenger.report())
        return challenger

    def _end_challenge(self, name: str, model: LiveModel, challenger: Challenger) -> None:
        """Retire a challenger after its run; where ``promotes(name)`` and it won, its
        estimator replaces the champion's. This happens between two examples, before any
        snapshot of this version: every snapshot of a version has the same lineage. The
        listeners hear of it either way."""
        del self.challengers[name]
        promotion = None
        if self._promotes(name) and challenger.wins():
            promotion = challenger.promotion(model.version)
            model.promote(challenger.model.estimator, promotion)
            self.request(name)  # the promoted model is durable at the next snapshot tick
            self._counters[f"promotions.{name}"] += 1
            log.warning("challenger of %s promoted: %s", name, promotion)
        else:
            log.warning("challenger of %s retired: %s", name, challenger.report())
        for listener in self._listeners:
            listener(ChallengeEnded(name, challenger, promotion))

    # ------------------------------------------------------------------ snapshots

    def request(self, name: str) -> str:
        """Snapshot ``name`` when next due; returns what this worker will do about it:
        ``requested``, or why it writes no snapshot of ``name``."""
        self._requested.add(name)
        if not self._key:
            return "snapshots are off on this worker (ADSTREAM_SNAPSHOTS=off)"
        if "learn" not in self._settings.roles:
            return "this worker does not learn (ADSTREAM_AGENTS)"
        if name not in self._ledgers:
            return f"this worker has not learned {name} (yet)"
        return "requested"

    def write_due(self, out: Sink) -> None:
        """Snapshot the models requested, and those with news older than ``snapshot_every_s``."""
        if not self._key:
            return
        every_s = self._settings.snapshot_every_s
        for name in self._registry.names():
            if name not in self._ledgers:
                continue  # another worker learns it
            model = self._registry.model(name)
            version, at = self._last.get(name, (0, self._started))
            news = model.n_learned > version or bool(self._unsaved.get(name))  # skips count too
            if name in self._requested or (news and time.monotonic() - at >= every_s):
                self._write(out, name, model)

    def _write(self, out: Sink, name: str, model: Any) -> None:
        started = time.perf_counter()
        parent = self._last.get(name, (0, 0.0))[0]
        ledger = self.ledger(name)
        raw = snapshots.dump(
            model,
            key=self._key,
            model=name,
            version=model.version,
            parent=parent or None,
            created_at=now_ms(),
            metrics=model.report(),
            definition=model.definition(),
            worker=self._worker,
            **ledger.to_meta(),
        )
        out.add(self._topic, name, raw)
        saved = self._unsaved.pop(name, {})
        written_before = self._written.get(name, {})
        if name in self._sending:  # the one before is not confirmed yet: this one saves it too
            earlier, written_before = self._sending[name]
            _merge_first(saved, earlier)
        self._sending[name] = (saved, written_before)
        self._written[name] = dict(ledger.offsets)
        self._last[name] = (model.version, time.monotonic())
        self._requested.discard(name)
        counters = self._counters
        counters[f"snapshots.{name}"] += 1
        counters[f"snapshot_bytes.{name}"] = len(raw)
        counters[f"snapshot_us.{name}"] = int((time.perf_counter() - started) * 1e6)

    def delivered(self) -> None:
        """Every snapshot written so far is on ``models``: its examples are saved."""
        self._sending.clear()

    def undelivered(self) -> None:
        """The snapshots written since the last :meth:`delivered` may not be on ``models``:
        their examples are unsaved again, and each model is snapshotted anew when next due."""
        for name, (saved, written_before) in self._sending.items():
            _merge_first(self._unsaved.setdefault(name, {}), saved)
            self._written[name] = written_before
            self.request(name)
        self._sending.clear()

    def unsaved(self) -> Unsaved:
        """Per ``examples`` partition, the first offset that some model handled and no
        delivered snapshot holds yet: committing past it could lose an example."""
        first: Unsaved = {}
        for unsaved in self._unsaved.values():
            _merge_first(first, unsaved)
        for saved, _ in self._sending.values():
            _merge_first(first, saved)
        return first

    def seconds_since_snapshot(self) -> dict[str, float]:
        """Per model this worker learns: seconds since its last snapshot (or since start)."""
        if not self._key:
            return {}
        now = time.monotonic()
        return {name: now - self._last.get(name, (0, self._started))[1] for name in self._ledgers}

    # ------------------------------------------------------------------ recovery

    async def restore(self, names: Collection[str] | None = None) -> None:
        """Load the latest signed snapshot of each model (of ``names``; all by default): at
        start, before any agent, and when partitions move here from another learner."""
        if not self._key:
            return
        started = time.perf_counter()
        wanted = self._registry.names() if names is None else names
        latest = await latest_snapshots(self._settings, wanted)
        for name, (meta, model) in latest.items():
            self._compare_with_configured(name, meta)
            if not self._registry.replace(name, model):
                log.error("snapshot of %s holds a %s: not restored", name, type(model).__name__)
                continue
            self._forget(name)
            ledger = Ledger.from_meta(meta)
            self._ledgers[name] = ledger
            self._written[name] = dict(ledger.offsets)
            self._last[name] = (meta["version"], time.monotonic())
            self._counters[f"restored.{name}"] = meta["version"]
            log.info("restored %s version %s from its snapshot", name, meta["version"])
        self._counters["restore_ms"] = int((time.perf_counter() - started) * 1000)

    def _compare_with_configured(self, name: str, meta: dict[str, Any]) -> None:
        """A snapshot restores the model it holds, learned state and all, even where the
        configuration now names another estimator or feature set: say so (a warning, and
        ``restored_unlike_config.<name>``), since the configuration takes effect only for a
        model not learned yet (a new name, or a new topic prefix). Estimators compare by
        what they are made of (:func:`streams.snapshots.factories`), not by hyperparameters
        that learning may have changed."""
        configured = self._registry.model(name)
        if configured is None:
            return
        same = (
            snapshots.factories(meta.get("spec"))
            == snapshots.factories(snapshots.spec_of(configured))
            and meta.get("definition") == configured.definition()
        )
        if not same:
            log.warning(
                "%s restored from its snapshot (version %s) as it was learned, not as the "
                "configuration now says (another estimator or feature set): give the new "
                "model a name of its own to learn it",
                name,
                meta["version"],
            )
            self._counters[f"restored_unlike_config.{name}"] = 1

    async def on_assigned(self, positions: set[str]) -> None:
        """``examples`` partitions (``topic:partition``) now ours. Those that are new here
        (all of them, the first time) may have been learned by another worker until now, even
        since this one started: restore the models learned from them (and those never learned
        here) from their latest snapshots, before learning on. The models whose examples are
        all on other partitions are learned elsewhere: forgotten here (their snapshots are
        followed, as a serving worker follows them)."""
        previous, self._positions = self._positions, set(positions)
        arrived = positions - (previous or set())
        if arrived:  # at the first assignment too: another learner may have learned on since
            await self.restore(
                [
                    name
                    for name in self._registry.names()
                    if name not in self._ledgers or arrived & self._ledgers[name].offsets.keys()
                ]
            )
        for name, ledger in list(self._ledgers.items()):
            if ledger.offsets and not ledger.offsets.keys() & positions:
                self._forget(name)
                log.info("%s is learned by another worker", name)

    def on_revoked(self, positions: Iterable[str]) -> None:
        """``examples`` partitions no longer ours: what was read there is not ours to save."""
        for unsaved in (*self._unsaved.values(), *(saved for saved, _ in self._sending.values())):
            for position in positions:
                unsaved.pop(position, None)

    def _forget(self, name: str) -> None:
        """Drop what this worker knows of learning ``name`` (its model stays, to serve)."""
        for state in (self._ledgers, self._written, self._last, self._unsaved, self._sending):
            state.pop(name, None)
        self._recent.pop(name, None)
        self.challengers.pop(name, None)

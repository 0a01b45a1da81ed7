"""learn: examples -> live models, exactly once (:class:`streams.models.learner.Learner`). Every
example is predicted before it is learned; signed snapshots go to ``models`` when due, and an
example's offset is committed only once a snapshot containing it has been delivered."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from streams.kafka.outbox import DeadLetters, Sink
from streams.kafka.rdkafka import (
    BatchConsumer,
    BatchProducer,
    DeliveryFailed,
    Partitions,
    Positions,
)
from streams.models.learner import Learner
from streams.monitoring.counters import Counters
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["LearnLoop"]

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.2  # the longest wait for examples: due snapshots are written at least this often
#: Examples between two reports at most: a backlog drained at tens of thousands of examples a
#: second has its alerts evaluated (and responded to) as often, in examples, as a live stream.
EXAMPLES_PER_REPORT = 2_000


class LearnLoop:
    """examples -> models, a batch at a time, as an app task with clients of its own.

    Like serving (:class:`~streams.agents.serve.ServeLoop`), learning reads with a librdkafka
    group consumer (the group ``<group_id>.learn``) rather than a Faust agent, whose per-event
    machinery cost ten times the learning itself. Exactly-once needs no acknowledgement per
    event: a snapshot's metadata says which offsets its model holds (the ledger), so after each
    batch, once its outputs (snapshots, dead letters) are delivered, the loop commits each
    partition up to the first example no delivered snapshot holds (:meth:`Learner.unsaved`),
    at most every ``commit_interval_s`` and whenever partitions are revoked.

    A partition that moves here may have been learned by another worker until now: the models
    learned from it are restored from their latest snapshots before any of its examples is
    read (:meth:`Learner.on_assigned`). If a batch's outputs are not all delivered, its
    snapshots are taken as lost (:meth:`Learner.undelivered`) and the batch is read again: its
    examples are skipped as replays, its dead letters sent again.

    It learns with ``learner``, counts in ``counters``, dead-letters through ``dead_letters``
    and calls ``request_report()`` every :data:`EXAMPLES_PER_REPORT` examples.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        learner: Learner,
        counters: Counters,
        dead_letters: DeadLetters,
        request_report: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._learner = learner
        self._counters = counters
        self._dead_letters = dead_letters
        self._request_report = request_report
        self._consumer: BatchConsumer | None = None
        self._producer: BatchProducer | None = None
        self._read: Positions = {}  # partitions read here: the next offset to read
        self._names: dict[tuple[str, int], str] = {}  # (topic, partition) -> "topic:partition"
        self._since_report = 0  # examples read since this loop last asked for a report

    def _name(self, topic: str, partition: int) -> str:
        name = self._names.get((topic, partition))
        if name is None:
            name = self._names[topic, partition] = f"{topic}:{partition}"
        return name

    async def connect(self) -> None:
        """Create the clients and join the group (a start-up hook, after the models are
        restored: the group join, seconds on some brokers, goes on while the app starts)."""
        settings = self._settings
        self._consumer = BatchConsumer(
            settings,
            settings.topic("examples"),
            f"{settings.group_id}.learn",
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            session_timeout_ms=settings.learn_session_timeout_ms,
        )
        self._producer = BatchProducer(settings)

    async def run(self) -> None:
        settings, learner = self._settings, self._learner
        consumer, producer = self._consumer, self._producer
        assert consumer is not None and producer is not None, "connect() runs at start-up"
        committed_at = time.monotonic()
        try:
            while True:
                messages = await consumer.next_batch(settings.batch_max, IDLE_WAIT_S)
                self.learn(messages, producer)
                learner.write_due(producer)
                try:
                    await producer.flush()
                except DeliveryFailed as error:
                    log.error("%s; learning the batch again", error)
                    self._counters["learn.delivery_failed"] += 1
                    learner.undelivered()
                    await consumer.rewind(messages)
                    continue
                self.delivered(messages)
                self._since_report += len(messages)
                if self._since_report >= EXAMPLES_PER_REPORT:
                    self._request_report()
                    self._since_report = 0
                if self._read and time.monotonic() - committed_at >= settings.commit_interval_s:
                    await consumer.commit(self.committable())
                    committed_at = time.monotonic()
        finally:
            await consumer.close()  # revokes every partition: the last commit
            await producer.close()

    def learn(self, messages: Sequence[Any], out: Sink) -> None:
        """Learn every valid example of ``messages`` (librdkafka messages) in order; dead-letter
        the others. Snapshots that fall due go to ``out``."""
        learner, dead_letters = self._learner, self._dead_letters
        self._counters["read.examples"] += len(messages)
        for message in messages:
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            raw = message.value()
            try:
                example = contracts.decode_example(raw)
            except contracts.InvalidEvent as error:
                reason = error.reason
            else:
                if learner.apply(out, self._name(topic, partition), offset, example, raw):
                    continue
                name = example["model"][:64]
                known = learner.knows(name)
                reason = (
                    f"label of the wrong kind for {name}" if known else f"unknown model: {name}"
                )
            dead_letters.reject_at(out, reason, topic, partition, offset, raw)

    def delivered(self, messages: Sequence[Any]) -> None:
        """The outputs of ``messages`` (and every snapshot written so far) are delivered."""
        self._learner.delivered()
        for message in messages:
            self._read[message.topic(), message.partition()] = message.offset() + 1

    def committable(self, read: Positions | None = None) -> Positions:
        """The offset to commit for each partition read (of ``read``; all by default): the
        next to read, or the first example there that no delivered snapshot holds yet."""
        unsaved = self._learner.unsaved()
        return {
            (topic, partition): min(offset, unsaved.get(self._name(topic, partition), offset))
            for (topic, partition), offset in (self._read if read is None else read).items()
        }

    async def on_assign(self, partitions: Partitions) -> None:
        """Partitions now assigned here (all of them): restore what moved here."""
        await self._learner.on_assigned({self._name(*tp) for tp in partitions})

    async def on_revoke(self, partitions: Partitions) -> Positions:
        """Partitions taken away: forget what was read there; returns what to commit for them
        (up to what delivered snapshots hold)."""
        read = {tp: self._read.pop(tp) for tp in partitions if tp in self._read}
        positions = self.committable(read)
        self._learner.on_revoked([self._name(*tp) for tp in partitions])
        return positions

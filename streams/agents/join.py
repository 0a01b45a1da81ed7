"""join: queries + impressions + clicks + ratings -> labelled examples, per attribution window.

Windows close in event time: the watermark is the slowest active input partition's latest
timestamp (:class:`streams.labelling.attribution.Watermark`), so a backlog replayed after a
restart, read unevenly across partitions, is still joined correctly. A partition silent for
``IDLE_S`` no
longer holds the watermark back, unless it is behind: the high watermark of the consumer's
last fetch of it is past what the join has read (silence from a starved partition, a paused
worker or a slow fetch is not idleness). When no input at all has arrived for ``IDLE_S`` and
every partition is read to its end, everything in flight has arrived, so the watermark then
follows the wall clock less the grace period: windows close on an idle stream too.

No labelled example is lost when the join's worker dies: every input it accepts stays
unacknowledged until it has left the join's state (its label delivered to ``examples``, its
rejection to ``dead-letter``), and the worker's consumer commits each partition only up to the
lowest input still unacknowledged (:mod:`streams.kafka.commits`), so a malformed input acknowledged
at once never carries the commit past the valid ones held before it. A restarted join re-reads
those inputs and rebuilds the state; the labels it emits again are skipped by the learner
(their origin, the impression, is at or below one it has applied). Dead letters of the
re-read inputs are not written again: before each commit of its offsets, the join notes how
far it has handled each input partition (a :class:`~streams.kafka.rdkafka.Bookmark`, the group
``<group_id>.join-handled``), and a worker assigned a partition counts a rejection of an
input below that note as ``join.replayed_rejections`` instead of dead-lettering it. Such an
input was dead-lettered before, or is feedback whose impression was labelled before (it sits
below the impressions' committed offset, so it is not read again, and the feedback would
otherwise look like a click for an unknown impression).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from learners.feature_spec import FeatureSpec
from learners.features import features_of
from streams.agents.io import AgentIO
from streams.kafka.outbox import Outbox, now_ms
from streams.kafka.rdkafka import Bookmark
from streams.labelling.attribution import Attribution, Label, Watermark
from streams.models.registry import LiveModel
from streams.serving.view import Serving
from streams.wire import contracts

__all__ = ["IDLE_S", "examples_for", "register"]

log = logging.getLogger(__name__)

IMPRESSION_WAIT_S = 10.0  # how long an impression waits for its query, a click for its impression
IDLE_S = 5.0  # silence after which a partition, or the whole input, counts as idle


def keeps_negative(impression_id: str, rate: float) -> bool:
    """Whether the negative of this impression is kept at sampling ``rate``: a hash of its id,
    so a join that emits the label again (after a crash) decides the same way.

    >>> keeps_negative("imp-1", 1.0), sum(keeps_negative(f"imp-{i}", 0.02) for i in range(10_000))
    (True, 185)
    """
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(impression_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2**64


def slices_of(query: dict[str, Any], ad: dict[str, Any]) -> dict[str, str]:
    """The segments a click example's health is reported per: device and the ad's vertical."""
    device = query["context"].get("device")
    slices = {"vertical": ad["category"].split("/", 1)[0][:64]}
    if type(device) is str:
        slices["device"] = device[:64]
    return slices


def examples_for(
    label: Label,
    models: Iterable[LiveModel],
    category: str | None = None,
    negative_rate: float = 1.0,
) -> list[dict[str, Any]] | None:
    """The examples of one label, one per model that learns it: every ``click`` model learns
    whether the impression was clicked (example id: the impression's), every ``rating`` model
    its rating if it was rated (``<impression id>:quality``), each with the features of its
    own feature set; ``None`` if the ad is not among the query's candidates.

    ``category`` is the query's predicted category path. The join asks the serving category
    model as it is when the window closes; serve asked it as it was when the query came (in
    one process the two differ only by what was learned in between). A click negative is kept
    with probability ``negative_rate`` (:func:`keeps_negative`, one decision for every click
    model), recorded as its ``sampling_rate``; positives and ratings are always kept.
    """
    ad_id = label.impression["ad_id"]
    ad = next((ad for ad in label.query["candidates"] if ad["ad_id"] == ad_id), None)
    if ad is None:
        return None
    impression_id = label.impression["impression_id"]
    clicked = label.label > 0
    kept = clicked or keeps_negative(impression_id, negative_rate)
    targets = []
    for model in models:
        if model.binary and kept:
            rate = 1.0 if clicked else min(negative_rate, 1.0)
            targets.append((model, impression_id, label.label, rate))
        elif not model.binary and label.quality is not None:
            targets.append((model, f"{impression_id}:quality", label.quality, 1.0))
    features: dict[FeatureSpec, dict[int, float]] = {}
    for model, *_ in targets:
        if model.features not in features:
            built = features_of(model.features)
            ctx = built.query(label.query, category, counted=False)  # serving counted it
            features[model.features] = built.candidate(ctx, ad)
    slices = slices_of(label.query, ad)
    return [
        contracts.example(
            example_id=example_id,
            model=model.name,
            features=features[model.features],
            label=target,
            weight=1.0,
            sampling_rate=sampling_rate,
            ts_event=label.impression["ts"],
            ts_label=label.ts_label,
            source=label.source,
            slices=slices,
        )
        for model, example_id, target, sampling_rate in targets
    ]


def register(io: AgentIO, serving: Serving) -> None:
    """Join the inputs into examples, their category guessed with ``serving``'s model."""
    settings = io.settings
    decoders = {
        "queries": contracts.decode_query,
        "impressions": contracts.decode_impression,
        "clicks": contracts.decode_click,
        "ratings": contracts.decode_rating,
    }
    names = {io.topic_name(name): name for name in decoders}
    grace_ms = int(settings.join_grace_s * 1000)
    join = Attribution(
        window_ms=int(settings.attribution_window_s * 1000),
        grace_ms=grace_ms,
        wait_ms=int(IMPRESSION_WAIT_S * 1000),
    )
    examples_topic = io.topic_name("examples")
    counts_reads = {kind: kind != "queries" or "serve" not in settings.roles for kind in decoders}
    source = io.app.topic(*names, key_serializer="raw", value_serializer="raw", allow_empty=True)
    # Under a backlog, flow control can hold one topic back for a moment, and it must still
    # hold the watermark back: idle means seconds of silence.
    watermark = Watermark(idle_ms=int(IDLE_S * 1000))
    last_input = time.monotonic()
    held: dict[tuple[str, int], Any] = {}  # (position, offset) -> event, until released
    read_to: dict[str, tuple[Any, int]] = {}  # position -> (partition, next offset to read)
    # Inputs handled (their batch's outputs delivered): noted before every commit, so that
    # whoever reads a partition again knows what was handled before it.
    bookmark: Bookmark | None = None  # created at start-up, with the app's consumer
    handled: dict[tuple[str, int], int] = {}  # (topic, partition) -> one past the last handled
    handled_before: dict[str, int] = {}  # position -> below this, handled by an earlier owner

    def handled_earlier(position: str, offset: int) -> bool:
        """Whether an earlier owner of the partition (or this worker before a rebalance)
        handled this input: its rejection was written then, or its feedback labelled."""
        if offset < handled_before.get(position, 0):
            io.counters["join.replayed_rejections"] += 1
            return True
        return False

    async def note_handled() -> None:
        assert bookmark is not None, "created at start-up"
        try:
            await bookmark.save(dict(handled))
        except Exception as error:  # the note is an economy: its loss costs duplicates only
            io.counters["join.progress_not_noted"] += 1
            log.warning("join progress not noted (%s): re-read rejections are written again", error)

    async def note_before_commits() -> None:
        nonlocal bookmark
        bookmark = Bookmark(settings, f"{settings.group_id}.join-handled")
        io.app.consumer.before_commit.append(note_handled)

    io.app.startup_hooks.append(note_before_commits)

    def unread() -> set[str]:
        """Input partitions with records on the log the join has not read yet, as far as the
        consumer's last fetch of each knows (its high watermark)."""
        consumer = io.app.consumer
        assigned = consumer.assignment()
        return {
            position
            for position, (partition, next_offset) in read_to.items()
            if partition in assigned and next_offset < (consumer.highwater(partition) or 0)
        }

    def release(outbox: Outbox) -> None:
        """Acknowledge, once the outbox is delivered, the inputs that have left the state."""
        outbox.ack_after(
            [
                held.pop(item)
                for source in join.take_released()
                for item in source.items()
                if item in held
            ]
        )

    def reject(outbox: Outbox, reason: str, event: dict, origin: dict[str, int]) -> None:
        position, offset = next(iter(origin.items()))  # the input that could not be joined
        if handled_earlier(position, offset):
            return
        topic, _, partition = position.rpartition(":")
        io.dead_letters.reject_at(
            outbox, reason, topic, int(partition), offset, contracts.encode(event)
        )

    def emit(outbox: Outbox, labels: list[Label]) -> None:
        category, models = serving.category, serving.models.values()
        for label in labels:
            paths = category.top_paths(category.features(label.query), 1)
            examples = examples_for(
                label, models, paths[0][0] if paths else None, settings.negative_sampling_rate
            )
            if examples is None:
                reject(
                    outbox,
                    "impression of an ad not among the query's candidates",
                    label.impression,
                    label.source,
                )
                continue
            if label.label <= 0 and not keeps_negative(
                label.impression["impression_id"], settings.negative_sampling_rate
            ):
                io.counters["downsampled.click"] += 1
            for example in examples:
                outbox.add(examples_topic, example["model"], contracts.encode(example))
                io.counters[f"examples.{example['model']}"] += 1
            io.counters["positives"] += label.label > 0
        for reason, event, origin in join.take_rejected():
            reject(outbox, reason, event, origin)
        release(outbox)
        io.counters.update(join.counts)
        join.counts.clear()

    @io.app.on_partitions_assigned.connect
    async def expect_assigned(app: Any, assigned: Any, **kwargs: Any) -> None:
        """Partitions just assigned hold the watermark back until heard from (or idle)."""
        received_ms = now_ms()
        ours = [(tp.topic, tp.partition) for tp in assigned if tp.topic in names]
        for topic, partition in ours:
            watermark.expect(f"{topic}:{partition}", now_ms=received_ms)
        assert bookmark is not None, "created at start-up"
        try:
            noted = await bookmark.load(ours)
        except Exception as error:  # as above: duplicates, nothing lost
            io.counters["join.progress_not_read"] += 1
            log.warning("join progress not read (%s): re-read rejections are written again", error)
            noted = {}
        handled_before.update({f"{topic}:{p}": offset for (topic, p), offset in noted.items()})

    @io.app.on_partitions_revoked.connect
    async def forget_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        """Partitions another worker reads now hold nothing back here."""
        for partition in revoked:
            position = f"{partition.topic}:{partition.partition}"
            watermark.forget(position)
            read_to.pop(position, None)
            handled.pop((partition.topic, partition.partition), None)
            handled_before.pop(position, None)

    @io.app.agent(source, name="join")
    async def join_agent(stream: Any) -> None:
        nonlocal last_input
        size, within = io.batch
        async for events in stream.take_events(size, within):
            outbox = io.outbox()
            received_ms = now_ms()
            batch_read: dict[tuple[str, int], int] = {}
            for event in events:
                message = event.message
                kind = names[message.topic]
                position = f"{message.topic}:{message.partition}"
                read_to[position] = (message.tp, message.offset + 1)
                batch_read[message.topic, message.partition] = message.offset + 1
                if counts_reads[kind]:
                    io.counters[f"read.{kind}"] += 1
                try:
                    record = decoders[kind](event.value)
                except contracts.InvalidEvent as error:
                    # serve owns the dead letters of the queries topic
                    if kind != "queries" and not handled_earlier(position, message.offset):
                        io.dead_letters.reject(outbox, message, error.reason)
                    continue
                origin = {position: message.offset}
                message.incref()  # held until the join releases it (this agent's ack leaves it)
                again = (position, message.offset) in held
                held[position, message.offset] = event
                if again:  # read again after a rebalance: already in the state; ack this copy
                    continue
                if kind == "queries":
                    join.add_query(record, origin)
                elif kind == "impressions":
                    join.add_impression(record, origin)
                elif kind == "clicks":
                    join.add_click(record, origin)
                else:
                    join.add_rating(record, origin)
                watermark.observe(position, record["ts"], now_ms=received_ms)
            last_input = time.monotonic()
            emit(outbox, join.advance(watermark.current(now_ms=received_ms, behind=unread())))
            io.gauges["join.held"] = len(join)
            await outbox.flush()
            handled.update(batch_read)

    @io.app.timer(1.0, name="join-idle-clock")
    async def close_idle_windows() -> None:
        if time.monotonic() - last_input < IDLE_S or unread():
            return
        outbox = io.outbox()
        emit(outbox, join.advance(now_ms() - grace_ms))
        io.gauges["join.held"] = len(join)
        await outbox.flush()

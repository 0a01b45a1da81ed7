"""The asynchronous front-end simulator: queries out, results in, an ad shown, clicks later.

:class:`Simulator` publishes the queries of a :class:`~producers.world.World` at a fixed rate,
reads the system's predictions and rankings, shows one ad per ranking (an impression) and, with
the world's hidden click probability, clicks it after a random delay. Clicks beyond the
attribution window are still published; the system must count them as late.

Exploration: the shown ad is the top-ranked one, or with probability ``epsilon`` a uniformly
random candidate of the query (:class:`~producers.exploration.EpsilonGreedy`). The impression
logs the probability the shown ad had (``propensity``) and the arm that chose it (``"exploit"``
or ``"explore"``), so other weight settings can be evaluated offline by inverse propensity
scoring (``adstream weights sweep``).

Ratings: a fraction ``rating_rate`` of the impressions gets a quality rating on ``ratings`` (key
``impression_id``): the world's hidden quality of the shown ad for its query plus Gaussian
noise (sd 0.1), clipped to [0, 1], published after a uniform random delay (1-10 s by default)
with ``ts`` = impression time + delay. Ratings still pending when the run ends are dropped and
counted (``ratings_pending``), like pending clicks.

Business metrics: every ranking names its weights (``weights.version``, ``alpha``, ``beta``);
per version the stats count impressions, clicks drawn and the true quality of the shown ads
(:meth:`~producers.stats.SimulationStats.business`), so a change of weights shows its
CTR-quality trade-off.

Labelling: a fraction ``label_rate`` of the queries gets its true leaf published on
``query-labels`` (key ``event_id``) after a uniform random delay, as a human labeller would.
A schedule of :class:`~producers.world.WorldChange` launches and retires leaves while the
traffic runs. Predictions that carry a ``category`` map are scored against the true leaf, per
leaf and per second of query time, so a run can show category accuracy around each change.

Pacing is by intended send time (the i-th query is due at ``start + i / rate``), so a slow
loop catches up in batches and latency is measured from when a query was due, not from when a
late loop got round to sending it. A query's record carries its ``ts`` (the intended send time)
as its Kafka timestamp, so a serving deadline runs from then too. A change scheduled at
``at_s`` applies to exactly the queries due at or after ``start + at_s``, whatever the loop's
lag. The readers are assigned every partition and read from the beginning, without a consumer
group: topics are fresh per run and a group join would cost seconds on the embedded broker.

Deadline: with ``answer_deadline_s``, the front-end waits that long for a query's ranking and
then falls back to its own default, which here is to show no ad: the query is counted in
``timed_out`` (a query the worker shed for its serving deadline never gets an answer, so it
ends up there), and a prediction or ranking that comes after that is counted in
``late_predictions`` or ``late_rankings``, not shown. Without it the front-end waits until the
drain ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import heapq
import inspect
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from producers.exploration import EpsilonGreedy
from producers.incidents import Incident
from producers.stats import SimulationStats
from producers.world import Ad, QueryTruth, World, WorldChange
from streams.kafka.broker import BrokerError
from streams.kafka.readers import assigned_from_start
from streams.wire import contracts
from streams.wire.settings import Settings

__all__ = ["ChangeCallback", "Simulator"]

log = logging.getLogger(__name__)

_LINGER_MS = 5
_MAX_BATCH_BYTES = 256 * 1024
_MAX_PACING_SLEEP_S = 0.05  # so stop() is noticed quickly even at low rates
_CLICK_POLL_S = 0.02  # clicks, labels, ratings are published at most this late; ``ts`` exact
_RATING_NOISE_SD = 0.1

#: Called right after a change is applied, with the change and the wall time (ms) it was
#: applied at; may be a coroutine function (awaited before the next query is sent).
ChangeCallback = Callable[[WorldChange, int], Awaitable[None] | None]


@dataclasses.dataclass(slots=True)
class _InFlight:
    """A sent query waiting for its prediction and ranking."""

    intended_s: float
    truth: QueryTruth
    predicted: bool = False
    ranked: bool = False


class Simulator:
    """Drive the system with a world's traffic over Kafka and measure what comes back.

    A simulator runs once: build a new one for another run.

    Parameters
    ----------
    settings
        Broker and topic names; ``settings.kafka`` must name a running broker.
    world
        Makes the queries and holds the hidden click model.
    rate_per_s
        Queries per second.
    duration_s
        How long queries are published; ``rate_per_s * duration_s`` queries in all.
    attribution_window_s
        Clicks delayed longer than this are counted as late; defaults to the settings' window.
    clock
        Seconds since the epoch, for event timestamps, pacing and latency (wall clock).
    seed
        Seeds click draws and delays; defaults to the world's seed.
    drain_timeout_s
        After the last query, how long to wait for every prediction and ranking.
    feedback_tail_s
        After the answers, how long to keep publishing the clicks, labels and ratings that
        fall due (0: none; the demo uses the attribution window, so the last impressions get
        their clicks).
    tick_interval_s
        How often ``on_tick`` is called during :meth:`run`.
    label_rate
        Fraction of queries (0-1) whose true leaf is published on ``query-labels``.
    label_delay_s
        Bounds of the uniform delay between a query and its label.
    changes
        Launches and retirements of leaves, applied to ``world`` during the run; each must
        fall before ``duration_s``.
    epsilon
        Probability of showing a uniformly random candidate instead of the top-ranked ad;
        see :class:`~producers.exploration.EpsilonGreedy`.
    rating_rate
        Fraction of impressions (0-1) that get a quality rating on ``ratings``.
    rating_delay_s
        Bounds of the uniform delay between an impression and its rating.
    on_change
        Called (or awaited) right after each change is applied, before the next query is
        sent; see :data:`ChangeCallback`. An error it raises ends :meth:`run`.
    incidents
        What goes wrong during the run (:mod:`producers.incidents`): a ``drift`` of the
        world at its start, ``label-corruption`` (clicks of impressions shown in the period
        are published under the id of another impression shown just before), ``stale`` (no
        impression, click or rating is published for rankings received in the period).
    answer_deadline_s
        How long after a query's intended send time the front-end waits for its ranking
        before it falls back (shows no ad; ``stats.timed_out``); ``None``: until the drain
        ends.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        world: World,
        rate_per_s: float,
        duration_s: float,
        attribution_window_s: float | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        drain_timeout_s: float = 15.0,
        feedback_tail_s: float = 0.0,
        tick_interval_s: float = 0.5,
        label_rate: float = 0.3,
        label_delay_s: tuple[float, float] = (0.5, 3.0),
        changes: Sequence[WorldChange] = (),
        on_change: ChangeCallback | None = None,
        epsilon: float = 0.1,
        rating_rate: float = 0.2,
        rating_delay_s: tuple[float, float] = (1.0, 10.0),
        incidents: Sequence[Incident] = (),
        answer_deadline_s: float | None = None,
    ) -> None:
        if not settings.kafka:
            raise ValueError(
                "settings.kafka is empty: start a broker (streams.kafka.broker.broker_for)"
            )
        if not rate_per_s > 0 or not duration_s >= 0:
            raise ValueError(
                f"need rate_per_s > 0 and duration_s >= 0, got {rate_per_s}, {duration_s}"
            )
        if not 0.0 <= label_rate <= 1.0:
            raise ValueError(f"label_rate must be in [0, 1], got {label_rate}")
        if not 0.0 <= label_delay_s[0] <= label_delay_s[1]:
            raise ValueError(f"need 0 <= low <= high in label_delay_s, got {label_delay_s}")
        if not 0.0 <= rating_rate <= 1.0:
            raise ValueError(f"rating_rate must be in [0, 1], got {rating_rate}")
        if not 0.0 <= rating_delay_s[0] <= rating_delay_s[1]:
            raise ValueError(f"need 0 <= low <= high in rating_delay_s, got {rating_delay_s}")
        if answer_deadline_s is not None and not answer_deadline_s > 0:
            raise ValueError(f"answer_deadline_s must be > 0 or None, got {answer_deadline_s}")
        policy = EpsilonGreedy(epsilon=epsilon)  # validates epsilon
        late = [change for change in changes if change.at_s >= duration_s]
        if late:
            raise ValueError(f"changes at or after duration_s={duration_s} never apply: {late}")
        self.settings = settings
        self.world = world
        self.rate_per_s = rate_per_s
        self.duration_s = duration_s
        self.attribution_window_s = (
            settings.attribution_window_s if attribution_window_s is None else attribution_window_s
        )
        self.clock = clock
        self.seed = world.seed if seed is None else seed
        self.drain_timeout_s = drain_timeout_s
        if not feedback_tail_s >= 0:
            raise ValueError(f"feedback_tail_s must be >= 0, got {feedback_tail_s}")
        self.feedback_tail_s = feedback_tail_s
        self.tick_interval_s = tick_interval_s
        self.label_rate = label_rate
        self.label_delay_s = label_delay_s
        self.changes = changes
        self.on_change = on_change
        self.epsilon = epsilon
        self.rating_rate = rating_rate
        self.rating_delay_s = rating_delay_s
        self.incidents = tuple(incidents)
        self.answer_deadline_s = answer_deadline_s
        self._drifts = sorted(i.start_s for i in self.incidents if i.kind == "drift")
        self._recent_impressions: collections.deque[str] = collections.deque(maxlen=200)
        self._start_s = 0.0
        self.stats = SimulationStats()
        self._rng = random.Random(f"{self.seed}:clicks")
        self._corrupt_rng = random.Random(f"{self.seed}:corruption")
        self._label_rng = random.Random(f"{self.seed}:labels")
        self._explore_rng = random.Random(f"{self.seed}:explore")
        self._rating_rng = random.Random(f"{self.seed}:ratings")
        self._policy = policy
        self._topics = {
            name: settings.topic(name)
            for name in (
                "queries",
                "predictions",
                "rankings",
                "impressions",
                "clicks",
                "query-labels",
                "ratings",
            )
        }
        self._in_flight: dict[str, _InFlight] = {}
        self._sent_order: collections.deque[tuple[float, str]] = collections.deque()
        self._timed_out: set[str] = set()  # event ids the front-end gave up on
        self._clicks: list[tuple[int, str, bool]] = []  # heap of (ts_ms, impression_id, late)
        self._labels: list[tuple[int, int, dict[str, Any]]] = []  # heap of (ts_ms, seq, label)
        self._ratings: list[tuple[int, int, dict[str, Any]]] = []  # heap of (ts_ms, seq, rating)
        self._schedule = sorted(changes, key=lambda change: change.at_s)  # stable: ties in order
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._all_answered = asyncio.Event()
        self._started = False

    def stop(self) -> None:
        """Stop publishing queries and end :meth:`run` without waiting for answers."""
        self._stopping.set()

    async def run(
        self, on_tick: Callable[[SimulationStats], None] | None = None
    ) -> SimulationStats:
        """Publish for ``duration_s``, wait for the answers (bounded), return the counters.

        Parameters
        ----------
        on_tick
            Called with the live stats about every ``tick_interval_s``.
        """
        if self._started:
            raise RuntimeError("a Simulator runs once; build a new one")
        self._started = True
        async with contextlib.AsyncExitStack() as stack:
            self._producer = await self._start_producer(stack)
            consumer = await self._start_consumer(stack)
            background = [
                asyncio.create_task(self._consume(consumer)),
                asyncio.create_task(self._tick(on_tick)),
            ]
            for task in background:
                task.add_done_callback(self._on_background_done)
            try:
                await self._publish_queries()
                await self._producer.flush()
                await self._drain()
                await self._feedback_tail()
            finally:
                for task in background:
                    task.cancel()
                outcomes = await asyncio.gather(*background, return_exceptions=True)
            self.stats.clicks_pending = len(self._clicks)
            self.stats.labels_pending = len(self._labels)
            self.stats.ratings_pending = len(self._ratings)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
        return self.stats

    # ----------------------------------------------------------------------- lifecycle

    def _client_options(self, role: str) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.settings.kafka,
            "client_id": f"{self.settings.app_id}-simulator-{role}",
            **self.settings.client_security(),
        }

    async def _start_producer(self, stack: contextlib.AsyncExitStack) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            acks=1,
            linger_ms=_LINGER_MS,
            max_batch_size=_MAX_BATCH_BYTES,
            **self._client_options("producer"),
        )
        await producer.start()
        stack.push_async_callback(producer.stop)
        return producer

    async def _start_consumer(self, stack: contextlib.AsyncExitStack) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            **self._client_options("consumer"),
        )
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        await consumer.topics()  # refreshes metadata, so partitions_for_topic answers
        written = ("query-labels",) if self.label_rate else ()
        for name in ("predictions", "rankings", *written):
            if not consumer.partitions_for_topic(self._topics[name]):
                raise BrokerError(
                    f"topic {self._topics[name]!r} does not exist; create topics first"
                )
        await assigned_from_start(consumer, [self._topics["predictions"], self._topics["rankings"]])
        return consumer

    def _on_background_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed: %r", task.exception())
            self.stop()

    # ----------------------------------------------------------------------- sending

    async def _send(
        self, name: str, key: str, event: dict[str, Any], timestamp_ms: int | None = None
    ) -> None:
        """Hand one event to the producer's batch without waiting for its delivery (its record
        stamped ``timestamp_ms``, or when sent)."""
        assert self._producer is not None
        delivery = await self._producer.send(
            self._topics[name], contracts.encode(event), key=key.encode(), timestamp_ms=timestamp_ms
        )
        delivery.add_done_callback(self._on_delivery)

    def _on_delivery(self, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            self.stats.send_errors += 1
            log.warning("send failed: %r", None if delivery.cancelled() else delivery.exception())

    async def _publish_queries(self) -> None:
        """Send every query that is due, then sleep until the next query or change is."""
        total = math.floor(self.rate_per_s * self.duration_s)
        start = self._start_s = self.clock()
        self.stats.started_ms = int(start * 1000)
        while self.stats.queries_sent < total and not self._stopping.is_set():
            due = min(total, math.floor((self.clock() - start) * self.rate_per_s) + 1)
            for index in range(self.stats.queries_sent, due):
                await self._apply_changes(until_s=index / self.rate_per_s)
                await self._send_query(start + index / self.rate_per_s)
            await self._apply_changes(until_s=self.clock() - start)
            wake_s = start + due / self.rate_per_s
            if self._schedule:
                wake_s = min(wake_s, start + self._schedule[0].at_s)
            await asyncio.sleep(min(max(0.0, wake_s - self.clock()), _MAX_PACING_SLEEP_S))
        log.info("published %d queries", self.stats.queries_sent)

    def _incident(self, kind: str) -> bool:
        """Whether an incident of ``kind`` is going on now."""
        at_s = self.clock() - self._start_s
        return any(i.kind == kind and i.active(at_s) for i in self.incidents)

    async def _apply_changes(self, until_s: float) -> None:
        """Apply the scheduled changes due ``until_s`` seconds into the traffic, in order."""
        while self._drifts and self._drifts[0] <= until_s:
            self._drifts.pop(0)
            self.world.drift_tastes()
            log.info("the world's click propensities drifted at %.3f s", until_s)
        while self._schedule and self._schedule[0].at_s <= until_s:
            change = self._schedule.pop(0)
            self.world.apply(change)
            ts_ms = int(self.clock() * 1000)
            self.stats.changes_applied.append((change, ts_ms))
            log.info("applied %s %s at %.3f s", change.kind, change.path, change.at_s)
            if self.on_change is not None:
                outcome = self.on_change(change, ts_ms)
                if inspect.isawaitable(outcome):
                    await outcome

    async def _send_query(self, intended_s: float) -> None:
        ts_ms = int(intended_s * 1000)
        event, truth = self.world.next_query(ts_ms=ts_ms)
        self._track(intended_s, truth)
        await self._send("queries", truth.user_id, event, timestamp_ms=ts_ms)
        self.stats.queries_sent += 1
        if self._label_rng.random() < self.label_rate:
            delay_s = self._label_rng.uniform(*self.label_delay_s)
            label_ms = ts_ms + round(delay_s * 1000)
            label = contracts.query_label(
                event_id=truth.event_id, query=event["query"], path=truth.leaf, ts=label_ms
            )
            heapq.heappush(self._labels, (label_ms, self.stats.queries_sent, label))

    def _track(self, intended_s: float, truth: QueryTruth) -> None:
        """Wait for the answers of a query sent now."""
        self._in_flight[truth.event_id] = _InFlight(intended_s, truth)
        if self.answer_deadline_s is not None:
            self._sent_order.append((intended_s, truth.event_id))

    def _give_up_overdue(self) -> None:
        """Fall back for every query still without a ranking ``answer_deadline_s`` after it
        was due (one ranked but not yet predicted is shown: it stays until its prediction)."""
        if self.answer_deadline_s is None:
            return
        due_before = self.clock() - self.answer_deadline_s
        order = self._sent_order
        while order and order[0][0] <= due_before:
            _, event_id = order.popleft()
            pending = self._in_flight.get(event_id)
            if pending is not None and not pending.ranked:
                del self._in_flight[event_id]
                self._timed_out.add(event_id)
                self.stats.timed_out += 1
                if not self._in_flight:
                    self._all_answered.set()

    async def _tick(self, on_tick: Callable[[SimulationStats], None] | None) -> None:
        """Publish clicks, labels and ratings as they fall due, give up on overdue queries;
        report the live stats every interval."""
        next_tick_s = self.clock() + self.tick_interval_s
        while True:
            self._give_up_overdue()
            await self._release_clicks()
            await self._release_labels()
            await self._release_ratings()
            if on_tick is not None and self.clock() >= next_tick_s:
                on_tick(self.stats)
                next_tick_s += self.tick_interval_s
            await asyncio.sleep(_CLICK_POLL_S)

    async def _release_clicks(self) -> None:
        now_ms = self.clock() * 1000
        while self._clicks and self._clicks[0][0] <= now_ms:
            ts_ms, impression_id, late = heapq.heappop(self._clicks)
            await self._send(
                "clicks", impression_id, contracts.click(impression_id=impression_id, ts=ts_ms)
            )
            self.stats.clicks_sent += 1
            self.stats.late_clicks_sent += late

    async def _release_labels(self) -> None:
        now_ms = self.clock() * 1000
        while self._labels and self._labels[0][0] <= now_ms:
            _, _, label = heapq.heappop(self._labels)
            await self._send("query-labels", label["event_id"], label)
            self.stats.labels_sent += 1

    async def _release_ratings(self) -> None:
        now_ms = self.clock() * 1000
        while self._ratings and self._ratings[0][0] <= now_ms:
            _, _, rating = heapq.heappop(self._ratings)
            await self._send("ratings", rating["impression_id"], rating)
            self.stats.ratings_sent += 1

    # ----------------------------------------------------------------------- receiving

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        rankings = self._topics["rankings"]
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            for partition, records in batches.items():
                for record in records:
                    if partition.topic == rankings:
                        await self._on_ranking(record.value)
                    else:
                        self._on_prediction(record.value)

    def _reject(self, name: str, reason: str) -> None:
        self.stats.bad_messages += 1
        log.debug("bad message on %s: %s", name, reason)

    def _expect(self, event_id: str, answered: str) -> _InFlight | None:
        """The query an answer belongs to, if it is ours and not yet ``answered`` this way."""
        pending = self._in_flight.get(event_id)
        if pending is None and event_id in self._timed_out:
            if answered == "predicted":
                self.stats.late_predictions += 1
            else:
                self.stats.late_rankings += 1
            return None
        if pending is None or getattr(pending, answered):
            self.stats.unmatched += 1
            return None
        setattr(pending, answered, True)
        if pending.predicted and pending.ranked:
            del self._in_flight[event_id]
            if not self._in_flight:
                self._all_answered.set()
        return pending

    def _on_prediction(self, value: bytes) -> None:
        try:
            event = contracts.decode_prediction(value)
        except contracts.InvalidEvent as error:
            self._reject("predictions", error.reason)
            return
        pending = self._expect(event["event_id"], "predicted")
        if pending is None:
            return
        self.stats.predictions_received += 1
        self.stats.latencies_ms.append((self.clock() - pending.intended_s) * 1000.0)
        category = event.get("category")
        if not category:
            return
        if type(category) is not dict or not all(
            type(p) in (int, float) and math.isfinite(p) for p in category.values()
        ):
            self._reject("predictions", "category must map paths to finite numbers")
            return
        best = max(category, key=category.__getitem__)
        self.stats.record_category(
            int(pending.intended_s * 1000), pending.truth.leaf, best == pending.truth.leaf
        )

    async def _on_ranking(self, value: bytes) -> None:
        try:
            event = contracts.decode_ranking(value)
        except contracts.InvalidEvent as error:
            self._reject("rankings", error.reason)
            return
        pending = self._expect(event["event_id"], "ranked")
        if pending is None:
            return
        self.stats.rankings_received += 1
        truth = pending.truth
        if not event["ad_ids"] or event["ad_ids"][0] not in truth.candidates:
            self._reject("rankings", "top ad is not a candidate of its query")
            return
        shown = self._policy.choose(event["ad_ids"][0], truth.candidates, self._explore_rng)
        ad = self.world.ad(shown.ad_id)
        clicked = await self._show(truth, ad, shown.arm, shown.propensity)
        weights = event["weights"]
        version, alpha, beta = (weights.get(name) for name in ("version", "alpha", "beta"))
        if type(version) is not int or not {type(alpha), type(beta)} <= {int, float}:
            self.stats.unversioned_rankings += 1
            return
        self.stats.record_business(
            version, alpha=alpha, beta=beta, clicked=clicked, quality=self.world.quality(truth, ad)
        )

    async def _show(self, truth: QueryTruth, ad: Ad, arm: str, propensity: float) -> bool:
        """Publish the impression of ``ad``, maybe schedule its click and its rating; returns
        whether a click was drawn."""
        if self._incident("stale"):  # the impression log is down
            self.stats.impressions_lost += 1
            return False
        ts_ms = int(self.clock() * 1000)
        impression_id = f"imp-{truth.event_id}"
        corrupt = self._incident("label-corruption") and bool(self._recent_impressions)
        clicked_id = (
            self._corrupt_rng.choice(self._recent_impressions) if corrupt else impression_id
        )
        self._recent_impressions.append(impression_id)
        shown = contracts.impression(
            impression_id=impression_id,
            event_id=truth.event_id,
            ad_id=ad.ad_id,
            position=0,
            ts=ts_ms,
            arm=arm,
            propensity=propensity,
        )
        await self._send("impressions", impression_id, shown)
        self.stats.impressions += 1
        self.stats.explored += arm == "explore"
        self._maybe_rate(truth, ad, impression_id, ts_ms)
        probability = self.world.click_probability(truth, ad, position=0)
        self.stats.expected_clicks += probability
        if self._rng.random() >= probability:
            return False
        delay_s = self.world.click_delay_s(self._rng)
        late = delay_s > self.attribution_window_s
        heapq.heappush(self._clicks, (ts_ms + round(delay_s * 1000), clicked_id, late))
        self.stats.clicks += 1
        self.stats.misattributed_clicks += clicked_id != impression_id
        return True

    def _maybe_rate(self, truth: QueryTruth, ad: Ad, impression_id: str, ts_ms: int) -> None:
        """With probability ``rating_rate``, schedule a noisy rating of the shown ad's quality."""
        if self._rating_rng.random() >= self.rating_rate:
            return
        delay_s = self._rating_rng.uniform(*self.rating_delay_s)
        noise = self._rating_rng.gauss(0.0, _RATING_NOISE_SD)
        quality = min(1.0, max(0.0, self.world.quality(truth, ad) + noise))
        rating_ms = ts_ms + round(delay_s * 1000)
        rating = contracts.rating(impression_id=impression_id, quality=quality, ts=rating_ms)
        heapq.heappush(self._ratings, (rating_ms, self.stats.impressions, rating))

    async def _feedback_tail(self) -> None:
        """Keep publishing the clicks, labels and ratings that fall due within
        ``feedback_tail_s`` after the traffic, so the last impressions get their feedback."""
        deadline_ms = (self.clock() + self.feedback_tail_s) * 1000
        heaps = (self._clicks, self._labels, self._ratings)
        while not self._stopping.is_set() and any(h and h[0][0] <= deadline_ms for h in heaps):
            await asyncio.sleep(_CLICK_POLL_S)  # the background tick releases them

    async def _drain(self) -> None:
        """Wait, at most ``drain_timeout_s``, until every sent query has both answers or was
        given up on (``answer_deadline_s``)."""
        if not self._in_flight or self._stopping.is_set():
            return
        self._all_answered.clear()
        waits = [
            asyncio.create_task(event.wait()) for event in (self._all_answered, self._stopping)
        ]
        await asyncio.wait(waits, timeout=self.drain_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if self._in_flight:
            log.warning("%d queries unanswered after the drain", len(self._in_flight))

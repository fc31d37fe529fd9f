"""The matcher's loop: own partitions of `orders`, settle batches, recover when fenced.

Ownership is decided by Kafka's consumer group but enforced by PostgreSQL: on every
assignment the instance bumps the partition's ``owner_epoch`` (``fence_partition``) and
resumes at the partition's stored ``next_offset``; each batch commits only if the epoch
is still its own. A batch that fails for any reason rolls back, its partition's books
are dropped (they ran uncommitted commands), and the partition is fenced again and
rewound to the stored offset, so the same commands run again on a rebuilt book.

Batches overlap in two steps: while the server runs one batch's transaction (sent, COMMIT
included), the loop consumes the next and matches and settles it in memory, reading on
a second connection; only then does it wait for the first to commit, publish it and send
the next. The chain is then the longer of the loop's work and the server's, not their
sum. A batch prepared on top of one that fails is dropped with it, its partitions
rewound too. Fencing and book rebuilds also use the second connection, so that nothing
but settlement runs on the first while a batch is in flight.

While the database is away (refused, failing over, silent past the batch's deadline)
those partitions are paused and their recovery is tried again with a growing backoff on
a new connection: nothing is consumed or settled for them meanwhile, and they resume
exactly at the stored offset.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.adapters.kafka import key_partition, make_consumer
from chalicelib.adapters.postgres import Deadline
from chalicelib.domain.clock import Clock
from chalicelib.domain.metric_catalogue import (
    MATCHER_BATCH_ERRORS,
    MATCHER_BATCH_SIZE,
    MATCHER_FENCED_BATCHES,
    MATCHER_SETTLEMENT_SECONDS,
)
from chalicelib.domain.stream_events import TimeMarkEvent

from . import repository as repo
from .batch import PreparedBatch, SettlingBatch, prepare_batch, send_batch
from .books import DEFAULT_ORDER_BOOK, Books, OrderBookKind
from .consumed import ConsumedBatch, consumed_batch
from .consumer_progress import ConsumerProgress
from .durability import Offsets
from .metrics import Metrics
from .publishing import Queued, settled_updates
from .settled import record_settled
from .time_marks import CandleEnds

log = logging.getLogger(__name__)

# The longest wait between two attempts to recover partitions while the database is away.
MAX_RECOVERY_BACKOFF_S = 5.0


class MatcherConfig(BaseSettings):
    """The matcher's own knobs, from ``MATCHER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore", frozen=True)

    group_id: str = "matcher"
    # Names this instance as a partition's owner in matcher_offsets.
    instance_id: str = "matcher-0"
    # Kafka static membership under instance_id (a StatefulSet pod name): a restarted
    # instance takes its partitions back at once instead of after the session timeout.
    # The price: a static member does not leave the group when it closes.
    static_membership: bool = False
    # The most commands one batch (one transaction) takes. Below saturation a batch is
    # what arrived while the last one settled, far fewer; past it, a larger batch spreads
    # the transaction's and the events' fixed costs wider: at 8,000/s offered on two
    # cores, 500 settled 3,600-4,600/s and 5,000 settled 5,300-6,300/s (bench/pipeline.py).
    # The price is a longer transaction, holding its balance rows' locks, under overload.
    batch_size: int = Field(default=5000, ge=1, le=10000)
    # How long an idle loop waits for the next message; it returns as soon as one comes.
    poll_timeout_seconds: float = Field(default=0.1, gt=0)
    session_timeout_ms: int = Field(default=10000, ge=6000)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    # A batch (its settlement transaction) still running after this fails: its connection
    # is shut down, so a silent database cannot stall the matcher.
    batch_deadline_seconds: float = Field(default=60, gt=0)
    # True: each batch's commit waits for its WAL to be flushed and on the synchronous
    # standby, and its events go out right after it. False: the commit does not wait,
    # and the events wait for a durability barrier instead; shorter batches below
    # saturation, but a batch a reader saw may be lost in a crash and settled again
    # (``durability``).
    synchronous_commit: bool = True
    # The compiled book, or the Python one it is proven equal to (the reference).
    order_book: OrderBookKind = DEFAULT_ORDER_BOOK


@dataclass
class Status:
    """What the health endpoints report."""

    last_loop: float = field(default_factory=time.monotonic)
    assigned: set[int] = field(default_factory=set)
    stopping: bool = False


class Matcher:
    def __init__(
        self, *, conn_factory: Callable[[], repo.Conn], topic: str, config: MatcherConfig,
        bootstrap_servers: str,
        publish: Callable[[list[Queued], Offsets], None],
        publish_marks: Callable[[list[TimeMarkEvent]], None], metrics: Metrics, clock: Clock,
        reads_conn_factory: Callable[[], repo.Conn] | None = None,
    ) -> None:
        self._conn_factory = conn_factory
        self._reads_factory = reads_conn_factory or conn_factory
        self._clock = clock
        self._conn = conn_factory()
        self._reads = self._reads_factory()
        self._in_flight: _InFlight | None = None
        self._topic = topic
        self._config = config
        self._publish = publish
        self._publish_marks = publish_marks
        self._candle_ends = CandleEnds()
        self.metrics = metrics
        self._books = Books(metrics, config.order_book)
        self._epochs: dict[int, int] = {}
        # Partitions paused until the database lets them be fenced: next attempt, backoff.
        self._stalled: set[int] = set()
        self._next_recovery = 0.0
        self._recovery_backoff = config.retry_backoff_seconds
        self.status = Status()
        static = {"group.instance.id": config.instance_id} if config.static_membership else {}
        self._consumer: Consumer = make_consumer(
            bootstrap_servers, config.group_id,
            **{"session.timeout.ms": config.session_timeout_ms, **static})
        self._progress = ConsumerProgress(self._consumer, topic, metrics)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then finish the batch in hand and leave the group."""
        self._consumer.subscribe([self._topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_revoke)
        try:
            while not stop.is_set():
                self.status.last_loop = time.monotonic()
                self._retry_stalled()
                self._handle(self._next_messages())
                self._mark_time()
                self._progress.commit_due()
            self._finish_in_flight()
            self._progress.commit()
        finally:
            self.status.stopping = True
            # A dynamic member leaves the group here, handing its partitions over at once
            # (a static member keeps them until it returns or its session times out).
            self._consumer.close()
            self._conn.close()
            self._reads.close()

    def _next_messages(self) -> list[Message]:
        """What is already fetched, up to a batch; when nothing is, the first message to
        arrive and whatever came with it. Never waits for a batch to fill: under load the
        batch grows by itself while the previous one settles. With a batch in flight,
        waits for nothing: that batch is waited for next."""
        messages = self._consumer.consume(self._config.batch_size, 0)
        if messages or self._in_flight is not None:
            return messages
        first = self._consumer.poll(self._config.poll_timeout_seconds)
        if first is None:
            return []
        return [first, *self._consumer.consume(self._config.batch_size - 1, 0)]

    # ------------------------------------------------------------- rebalancing

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        owned = [tp.partition for tp in partitions]
        try:
            for tp in partitions:
                tp.offset = self._fence(tp.partition)
            self._seed_candle_ends(consumer, set(owned))
        except (psycopg.OperationalError, KafkaException) as exc:
            consumer.incremental_assign(partitions)
            self.status.assigned |= set(owned)
            self._stall(owned, exc)
            return
        consumer.incremental_assign(partitions)
        self.status.assigned |= set(owned)
        log.info("partitions assigned", extra={"partitions": [tp.partition for tp in partitions],
                                               "offsets": [tp.offset for tp in partitions]})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._books.drop_partition(tp.partition)
            self._candle_ends.drop_partition(tp.partition)
            self._epochs.pop(tp.partition, None)
            self._stalled.discard(tp.partition)
            self.status.assigned.discard(tp.partition)
            self._progress.drop_partition(tp.partition)
        log.info("partitions revoked", extra={"partitions": [tp.partition for tp in partitions]})

    def _seed_candle_ends(self, consumer: Consumer, partitions: set[int]) -> None:
        """The markets of newly owned partitions get time marks from their last stored
        trade: after a restart or a rebalance their candles may still be open."""
        metadata = consumer.list_topics(self._topic, timeout=10).topics[self._topic]
        count = len(metadata.partitions)
        for market, trade_id, traded_ms in repo.last_trades(self._reads):
            partition = key_partition(market.encode(), count)
            if partition in partitions:
                self._candle_ends.trade(market, partition, traded_ms, trade_id)

    def _fence(self, partition: int) -> int:
        """Own ``partition`` from now on; return the offset to resume at."""
        self._books.drop_partition(partition)
        epoch, next_offset = repo.fence_partition(self._reads, self._topic, partition,
                                                  self._config.instance_id)
        self._epochs[partition] = epoch
        return next_offset

    # ---------------------------------------------------------------- batches

    def _handle(self, messages: list[Message]) -> None:
        """Prepare the batch in ``messages`` while the one in flight settles; then wait
        for that one and send this one."""
        consumed = consumed_batch(messages, self._epochs)
        prepared: _Prepared | None = None
        failure: Exception | None = None
        if consumed is not None:
            try:
                prepared = self._prepare(consumed)
            except Exception as exc:  # the batch's failure, handled once the one in flight is
                failure = exc
        try:
            if not self._finish_in_flight(also_rewind=consumed.partitions if consumed else []):
                return
            if failure is not None and consumed is not None:
                self._fail(consumed.partitions, failure)
            elif prepared is not None:
                self._send(prepared)
        finally:
            # The failure's traceback holds this frame: drop it, or the two would keep each
            # other (and the books in the failed batch's frames) alive until a collection,
            # on whichever thread runs it.
            failure = None

    def _prepare(self, consumed: ConsumedBatch) -> _Prepared:
        """Match and settle the batch in memory; its updates are copied out of the books
        now, before the next batch changes them."""
        started = time.perf_counter()
        in_flight = self._in_flight.prepared.batch.command_ids if self._in_flight else ()
        with Deadline(self._reads, self._config.batch_deadline_seconds):
            batch = prepare_batch(self._reads, self._books, self.metrics,
                                  slices=consumed.slices, clock=self._clock,
                                  in_flight=in_flight)
        return _Prepared(consumed, batch, settled_updates(batch.results, consumed.traces),
                         started)

    def _send(self, prepared: _Prepared) -> None:
        try:
            settling = send_batch(self._conn, prepared.batch, topic=self._topic,
                                  deadline_s=self._config.batch_deadline_seconds)
        except Exception as exc:
            self._fail(prepared.consumed.partitions, exc)
            return
        self._in_flight = _InFlight(prepared, settling)

    def _finish_in_flight(self, also_rewind: list[int] | None = None) -> bool:
        """Wait for the batch in flight; then its metrics, events and log line. False if
        it failed: then its partitions and ``also_rewind`` (those of a batch prepared on
        top of it) are rewound."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return True
        prepared = in_flight.prepared
        try:
            results = in_flight.settling.wait()
        except Exception as exc:
            self._fail(sorted({*prepared.consumed.partitions, *(also_rewind or [])}), exc)
            return False
        committed_ms = self._clock.now_ms()
        self.metrics.observe(MATCHER_SETTLEMENT_SECONDS, time.perf_counter() - prepared.started)
        slices = prepared.consumed.slices
        size = sum(len(s.commands) for s in slices)
        self.metrics.observe(MATCHER_BATCH_SIZE, size)
        self._publish(prepared.updates,
                      tuple((s.partition, s.epoch, s.next_offset) for s in slices))
        # A partition revoked while the batch was in flight is another instance's now:
        # its books' gauges and time marks are that one's to report.
        owned = [r for r in results if r.entry.partition in self.status.assigned]
        record_settled(self.metrics, owned, prepared.consumed.traces,
                       committed_ms=committed_ms, offsets=prepared.consumed.offsets, size=size)
        self._candle_ends.traded(owned)
        self._progress.settled((s.partition, s.next_offset) for s in slices
                               if s.partition in self.status.assigned)
        return True

    def _fail(self, partitions: list[int], exc: Exception) -> None:
        """A batch failed: its partitions (and those of any batch on top of it) are
        rewound to their stored offsets, at once if fenced, else once the database lets
        them be fenced again. A partition revoked meanwhile is left to its new owner."""
        partitions = [p for p in partitions if p in self.status.assigned]
        if isinstance(exc, repo.FencedError):
            self.metrics.inc(MATCHER_FENCED_BATCHES)
            log.warning("fenced: another instance owns partitions", extra={
                "fenced": exc.partitions, "partitions": partitions})
            self._recover(partitions)
            return
        self.metrics.inc(MATCHER_BATCH_ERRORS)
        # The traceback as text, not the exception: a handler that keeps its records (a
        # test's log capture) would keep the failed batches' frames, and the books in
        # them, alive past this thread, and a compiled book must be freed on its own.
        log.error("batch failed; rebuilding its partitions", extra={
            "partitions": partitions, "exception": "".join(traceback.format_exception(exc))})
        # Paused and retried by the loop, never slept on: the loop keeps polling (the
        # group and the health check see it alive) and nothing in it can fail a sleep.
        self._stall(partitions, exc)

    def _mark_time(self) -> None:
        """Publish a time mark for each market whose last trade's candle has just ended
        (see ``time_marks``); between batches, so that it follows the earlier ones."""
        now = self._clock.now_ms()
        if self._in_flight is not None:
            # The batch in flight trades at its own time, perhaps before now: no mark may
            # promise a time past it.
            now = min(now, self._in_flight.prepared.batch.time_ms)
        marks = self._candle_ends.due(now)
        if marks:
            self._publish_marks(marks)

    def _recover(self, partitions: list[int]) -> None:
        """Drop what the failed batch did in memory; resume each partition at its stored
        offset. Every partition of the batch ran commands that never committed.

        A broken connection is replaced, never reused. If the database is away, the
        partitions are paused until ``_retry_stalled`` manages this.
        """
        was_stalled = bool(self._stalled.intersection(partitions))
        try:
            if self._conn.closed or self._conn.broken:
                self._conn = self._conn_factory()
            if self._reads.closed or self._reads.broken:
                self._reads = self._reads_factory()
            for partition in partitions:
                offset = self._fence(partition)
                self._consumer.seek(TopicPartition(self._topic, partition, offset))
            if was_stalled:
                self._seed_candle_ends(self._consumer, set(partitions))
        except (psycopg.OperationalError, KafkaException) as exc:
            self._stall(partitions, exc)
            return
        if was_stalled:
            self._consumer.resume([TopicPartition(self._topic, p) for p in partitions])
            self._stalled.difference_update(partitions)
            self._recovery_backoff = self._config.retry_backoff_seconds
            log.info("database back; partitions resume at their stored offsets",
                     extra={"partitions": partitions})

    def _stall(self, partitions: list[int], exc: Exception) -> None:
        for partition in partitions:
            self._epochs.pop(partition, None)
            self._books.drop_partition(partition)
        self._consumer.pause([TopicPartition(self._topic, p) for p in partitions])
        self._stalled.update(partitions)
        self._next_recovery = time.monotonic() + self._recovery_backoff
        log.warning("partitions paused until they can be fenced again", extra={
            "partitions": sorted(self._stalled), "retry_in_s": self._recovery_backoff,
            "error": str(exc).strip()})
        self._recovery_backoff = min(self._recovery_backoff * 2, MAX_RECOVERY_BACKOFF_S)

    def _retry_stalled(self) -> None:
        if self._stalled and time.monotonic() >= self._next_recovery:
            self._recover(sorted(self._stalled))


@dataclass(frozen=True, slots=True)
class _Prepared:
    consumed: ConsumedBatch
    batch: PreparedBatch
    updates: list[Queued]
    started: float
    """When its preparation started (``time.perf_counter``): settlement time runs from there."""


@dataclass(frozen=True, slots=True)
class _InFlight:
    prepared: _Prepared
    settling: SettlingBatch

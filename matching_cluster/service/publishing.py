"""After a batch commits: Redis market data and events on Kafka, best effort.

PostgreSQL is the source of truth; nothing here can undo or block a committed batch, and
a failure is logged and skipped. In the matcher this runs on a thread of its own
(``publish_thread``), in commit order, while the next batch is matched and settled.
Every value carries the market sequence (``seq``) of the last event it reflects, so
readers can detect gaps and ignore stale data.

Redis: ``chalicelib.adapters.market_cache`` owns the market data's keys (and writes them,
guarded by the sequence).

Kafka (events of ``chalicelib.domain.stream_events``): ``market-events`` (key = market)
gets a trade event per trade, then an aggregate trade event per aggregate of the batch's
trades (the ``@aggTrade`` stream's, equal to ``/api/v3/aggTrades``'), then one depth
event per batch; ``order-events`` (key = user id) gets an order event with each changed
order's state after the batch. Redis's trades list gets the trades alone. Time marks of
quiet markets (``time_marks``) go to ``market-events`` in the same order, after the
batches before them.

Tracing (``traces``): an event carries, as Kafka headers, the correlation id and accept
time of the command that caused it: a trade and its aggregate the taker's, an order
event the command naming the order (or, for a maker's fill, the taker's), a depth event
the one request that made the whole update, if one did. Payloads are unchanged.

Settled orders: the ids of the orders each batch settled (those its commands name and
those it changed) go to Redis's ``order-settled`` channel (``adapters.settled_orders``)
after the market data, in its round trip, so that an API request waiting on one reads it
then, instead of polling PostgreSQL; a message lost costs that request its wait, never its answer.

Metrics: a write to Redis that failed, or an event the broker did not take, is counted
(``exchange_redis_publish_failures_total``, ``exchange_kafka_publish_failures_total``);
the publish lag runs from the batch's commit to the broker acknowledging its last event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import redis
from confluent_kafka import KafkaError, Message, Producer

from chalicelib.adapters.market_cache import BOOK_LEVELS, MarketDataCache, MarketWrite, Notice
from chalicelib.adapters.metrics import MetricsRecorder
from chalicelib.adapters.settled_orders import encode_settled, settled_channel
from chalicelib.domain.agg_trades import agg_trade_events
from chalicelib.domain.metric_catalogue import KAFKA_PUBLISH_FAILURES, REDIS_PUBLISH_FAILURES
from chalicelib.domain.orders import Side
from chalicelib.domain.stream_events import (
    DepthEvent,
    OrderEvent,
    TimeMarkEvent,
    TradeEvent,
    encode,
)
from matching_cluster.engine import OrderBook, PreventedMatch, Trade

from .batch import MarketResult
from .deliveries import SERVICE, Acknowledgements
from .settlement import OrderState
from .traces import CommandHeaders, command_order_ids, order_causes, sole_cause

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """What one market's part of a committed batch shows the world, copied out of the
    live book so that it can be sent while the next batch already changes the book."""

    market: str
    first_seq: int
    last_seq: int
    top_bids: list[tuple[int, int]]
    top_asks: list[tuple[int, int]]
    touched_bids: list[tuple[int, int]]
    touched_asks: list[tuple[int, int]]
    trades: list[Trade]
    orders: list[OrderState]
    time_ms: int
    causes: Mapping[int, CommandHeaders] = field(default_factory=dict)
    """The tracing headers of the command naming each order, by order id."""
    sole_cause: CommandHeaders | None = None
    """The headers of the one request that made this whole update, if one did."""
    committed_at: float = field(default_factory=time.monotonic)
    """When the batch committed (``time.monotonic``): the publish lag starts there."""


def market_updates(results: Iterable[MarketResult],
                   traces: Mapping[int, CommandHeaders]) -> list[MarketUpdate]:
    """The updates of a committed batch's markets (those with events); ``traces`` has the
    tracing headers of the batch's traced commands, by command id."""
    updates = []
    committed_at = time.monotonic()
    for result in results:
        if not result.events:
            continue
        bids, asks = result.entry.book.depth(BOOK_LEVELS)
        touched_bids, touched_asks = _touched_levels(result)
        causes = order_causes(result.commands, traces) if traces else {}
        updates.append(MarketUpdate(
            result.entry.info.symbol, result.events[0].seq, result.events[-1].seq, bids, asks,
            touched_bids, touched_asks, result.settlement.trades,
            list(result.settlement.changed_orders.values()), result.time_ms, causes,
            sole_cause(result.commands, traces), committed_at))
    return updates


@dataclass(frozen=True, slots=True)
class OrdersSettled:
    """The orders a committed batch settled, for the requests waiting on them."""

    order_ids: list[int]


Queued = MarketUpdate | TimeMarkEvent | OrdersSettled


def settled_updates(results: Sequence[MarketResult],
                    traces: Mapping[int, CommandHeaders]) -> list[Queued]:
    """A committed batch's market updates, then the orders it settled (if any)."""
    queued: list[Queued] = [*market_updates(results, traces)]
    order_ids: dict[int, None] = {}
    for result in results:
        order_ids.update(dict.fromkeys(result.settlement.changed_orders))
        for command in result.commands:  # also those that changed nothing
            for order_id in command_order_ids(command):
                order_ids[order_id] = None
    if order_ids:
        queued.append(OrdersSettled(list(order_ids)))
    return queued


@dataclass(frozen=True, slots=True)
class _Encoded:
    """An update with its trades encoded once, for Redis and for the trade events, and
    its aggregate trade events (for Kafka only), each with its first trade's taker."""

    update: MarketUpdate
    trades: list[TradeEvent]
    lines: list[bytes]
    aggregates: list[tuple[bytes, int]]


def _encode(update: MarketUpdate) -> _Encoded:
    trades = [_trade_event(update.market, t, update.time_ms) for t in update.trades]
    takers = {t.trade_id: t.taker_order_id for t in trades}
    aggregates = [(encode(a), takers[a.first_trade_id])
                  for a in agg_trade_events(update.market, trades)]
    return _Encoded(update, trades, [encode(t) for t in trades], aggregates)


class Publisher:
    def __init__(self, redis_client: redis.Redis, producer: Producer, *,
                 market_events_topic: str, order_events_topic: str,
                 metrics: MetricsRecorder) -> None:
        self._settled_channel = settled_channel(redis_client)
        self._cache = MarketDataCache(redis_client)
        self._producer = producer
        self._market_topic = market_events_topic
        self._order_topic = order_events_topic
        self._metrics = metrics

    def send(self, queued: Sequence[Queued]) -> None:
        """Every market's Redis update and, after them in the same round trip, the
        settled orders' ids in one message (an answer is never ahead of the book), then
        the events, then the time marks (a mark may follow later trades, never precede
        earlier ones)."""
        updates = [u for u in queued if isinstance(u, MarketUpdate)]
        encoded = [_encode(update) for update in updates]
        settled = [i for s in queued if isinstance(s, OrdersSettled) for i in s.order_ids]
        if encoded or settled:
            self._update_redis(encoded, Notice(self._settled_channel, encode_settled(settled))
                               if settled else None)
        for update in encoded:
            try:
                self._produce_events(update)
            except (BufferError, ValueError):
                log.exception("event publish failed", extra={"market": update.update.market})
        for mark in (m for m in queued if isinstance(m, TimeMarkEvent)):
            try:
                self._producer.produce(self._market_topic, key=mark.market, value=encode(mark),
                                       timestamp=mark.time_ms, on_delivery=self._delivered)
            except BufferError:
                self._kafka_failed()
                log.exception("time mark publish failed", extra={"market": mark.market})

    def serve_deliveries(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the broker's delivery reports and handle them."""
        self._producer.poll(timeout)

    def flush(self, timeout: float) -> None:
        self._producer.flush(timeout)

    def _update_redis(self, updates: list[_Encoded], settled: Notice | None) -> None:
        """One guarded write per market, from its newest state and all its new trades
        (when batches queue up, Redis is written once per market, not once per batch),
        then the settled orders' notice, if any."""
        by_market: dict[str, list[_Encoded]] = {}
        for update in updates:
            by_market.setdefault(update.update.market, []).append(update)
        try:
            failed = self._cache.write([_market_write(u) for u in by_market.values()],
                                       settled)
        except redis.RedisError:
            self._metrics.inc(REDIS_PUBLISH_FAILURES, len(by_market) + (settled is not None),
                              service=SERVICE)
            log.exception("redis update failed; waiting requests answer at their deadline",
                          extra={"markets": list(by_market)})
            return
        for target, error in failed.items():
            self._metrics.inc(REDIS_PUBLISH_FAILURES, service=SERVICE)
            log.error("redis update failed", extra={"target": target, "error": str(error)})

    def _produce_events(self, encoded: _Encoded) -> None:
        update = encoded.update
        market = update.market
        causes = _event_causes(update)
        acks = Acknowledgements(self._metrics, update.committed_at)
        # Records carry the batch's time (the matcher's clock, the database's), not this
        # host's wall clock: stepped an hour ahead, that would make the broker refuse them.
        stamp = update.time_ms

        def produce(topic: str, key: str, value: bytes, cause: CommandHeaders | None) -> None:
            acks.expect()
            try:
                self._producer.produce(topic, key=key, value=value, timestamp=stamp,
                                       headers=_headers(cause), on_delivery=acks.delivered)
            except BaseException:
                acks.lost()
                raise

        try:
            for trade, line in zip(encoded.trades, encoded.lines, strict=True):
                produce(self._market_topic, market, line, causes.get(trade.taker_order_id))
            for line, taker in encoded.aggregates:
                produce(self._market_topic, market, line, causes.get(taker))
            produce(self._market_topic, market, encode(DepthEvent(
                market=market, first_seq=update.first_seq, last_seq=update.last_seq,
                bids=update.touched_bids, asks=update.touched_asks)), update.sole_cause)
            for order in update.orders:
                produce(self._order_topic, str(order.user_id),
                        encode(_order_event(market, order, update.first_seq)),
                        causes.get(order.order_id))
        finally:
            acks.release()

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._kafka_failed()

    def _kafka_failed(self) -> None:
        self._metrics.inc(KAFKA_PUBLISH_FAILURES, service=SERVICE)


def _event_causes(update: MarketUpdate) -> Mapping[int, CommandHeaders]:
    """Each order's cause in this update: the command naming it, or the taker's command
    for a maker's fill (that is what changed it last)."""
    if not update.causes or not update.trades:
        return update.causes
    causes = dict(update.causes)
    for trade in update.trades:
        taker = update.causes.get(trade.taker_order_id)
        if taker is not None:
            causes[trade.maker_order_id] = taker
    return causes


def _headers(cause: CommandHeaders | None) -> list[tuple[str, str | bytes | None]] | None:
    return [*cause.kafka_headers] if cause is not None else None


def _market_write(updates: list[_Encoded]) -> MarketWrite:
    """A market's newest state with every trade of its queued updates."""
    newest = updates[-1].update
    last = next((u.trades[-1] for u in reversed(updates) if u.trades), None)
    return MarketWrite(newest.market, newest.last_seq, newest.top_bids, newest.top_asks,
                       [line for u in updates for line in u.lines], last)


def _order_event(market: str, order: OrderState, batch_first_seq: int) -> OrderEvent:
    return OrderEvent(
        market=market, seq=order.last_seq, batch_first_seq=batch_first_seq,
        order_id=order.order_id, user_id=order.user_id,
        side=order.side, order_type=order.order_type, price=order.price,
        quantity=order.quantity, executed_qty=order.executed_qty,
        cumulative_quote_qty=order.cumulative_quote_qty, status=order.status,
        done_reason=order.done_reason)


def _touched_levels(result: MarketResult) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The current total of every (side, price) level the batch's events touched."""
    touched: set[tuple[Side, int]] = set()
    orders = result.settlement.changed_orders
    for e in result.events:
        if isinstance(e, Trade):
            touched.add((orders[e.maker_order_id].side, e.price))
            continue
        if isinstance(e, PreventedMatch):
            continue  # the maker's OrderDone, if it expired, touches its level
        order = orders.get(e.order_id)
        if order is not None and order.price:  # MARKET orders never rest
            touched.add((order.side, order.price))
    book = result.entry.book
    bids = sorted((p for s, p in touched if s is Side.BUY), reverse=True)
    asks = sorted(p for s, p in touched if s is Side.SELL)
    return ([(p, _level_qty(book, Side.BUY, p)) for p in bids],
            [(p, _level_qty(book, Side.SELL, p)) for p in asks])


def _level_qty(book: OrderBook, side: Side, price: int) -> int:
    return sum(o.remaining for o in book.level_orders(side, price))


def _trade_event(market: str, t: Trade, time_ms: int) -> TradeEvent:
    return TradeEvent(market=market, seq=t.seq, trade_id=t.trade_id, time_ms=time_ms,
                      price=t.price, qty=t.qty, quote_qty=t.quote_qty,
                      buyer_is_maker=t.buyer_is_maker, maker_order_id=t.maker_order_id,
                      taker_order_id=t.taker_order_id)

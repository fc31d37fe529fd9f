"""After a batch commits: Redis market data and events on Kafka, best effort.

PostgreSQL is the source of truth; nothing here can undo or block a committed batch, and
a failure is logged and skipped. Every value carries the market sequence (``seq``) of
the last event it reflects, so readers can detect gaps and ignore stale data.

Redis layout (amounts are decimal strings of smallest units, as at the API):

* ``book:{market}``   JSON ``{"seq", "bids": [[price, qty], ...], "asks": [...]}``,
  the top ``BOOK_LEVELS`` levels, best first.
* ``trades:{market}`` list of JSON trades, newest first, capped at ``RECENT_TRADES``.
* ``last:{market}``   JSON ``{"seq", "price", "trade_id"}``: the last trade price.
* ``ticker:{market}`` hash: ``seq``, ``best_bid``, ``bid_qty``, ``best_ask``, ``ask_qty``
  (empty strings when that side is empty) and ``last_price`` (set once a trade happened).

Kafka: ``market-events`` (key = market) gets ``{"type": "trade", ...}`` per trade and one
``{"type": "depth", "first_seq", "last_seq", "bids", "asks"}`` per batch with the new
total of every level the batch touched ("0" = level gone); ``order-events`` (key = user
id) gets ``{"type": "order", ...}`` with each changed order's state after the batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import redis
from confluent_kafka import Producer
from redis.typing import EncodableT, FieldT

from chalicelib.domain.orders import Side
from matching_cluster.engine import OrderBook, Trade

from .batch import MarketResult

log = logging.getLogger(__name__)

BOOK_LEVELS = 50
RECENT_TRADES = 100

# Applies a batch's market data only if it is newer than what Redis holds, so an
# instance that lost its partition right after committing cannot overwrite the new
# owner's later data. KEYS: seq, book, ticker, trades, last. ARGV: seq, book JSON,
# ticker JSON object, last-trade JSON (or ""), trades to keep, trade JSONs oldest first.
GUARDED_MARKET_UPDATE = """
local seq = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= seq then return 0 end
redis.call('SET', KEYS[1], seq)
redis.call('SET', KEYS[2], ARGV[2])
for field, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[3], field, value) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[5], ARGV[4]) end
for i = 6, #ARGV do redis.call('LPUSH', KEYS[4], ARGV[i]) end
if #ARGV >= 6 then redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1) end
return 1
"""


class Publisher:
    def __init__(self, redis_client: redis.Redis, producer: Producer, *,
                 market_events_topic: str, order_events_topic: str) -> None:
        self._redis = redis_client
        self._market_update = redis_client.register_script(GUARDED_MARKET_UPDATE)
        self._producer = producer
        self._market_topic = market_events_topic
        self._order_topic = order_events_topic

    def publish(self, results: Iterable[MarketResult]) -> None:
        for result in results:
            if not result.events:
                continue
            try:
                self._update_redis(result)
            except redis.RedisError:
                log.exception("redis update failed", extra={"market": result.entry.info.symbol})
            try:
                self._produce_events(result)
            except (BufferError, ValueError):
                log.exception("event publish failed", extra={"market": result.entry.info.symbol})
        self._producer.poll(0)

    def flush(self, timeout: float) -> None:
        self._producer.flush(timeout)

    def _update_redis(self, result: MarketResult) -> None:
        market, book = result.entry.info.symbol, result.entry.book
        seq = result.events[-1].seq
        bids, asks = book.depth(BOOK_LEVELS)
        trades = result.settlement.trades
        ticker = _ticker(seq, bids, asks)
        last = ""
        if trades:
            ticker["last_price"] = str(trades[-1].price)
            last = _dumps({"seq": trades[-1].seq, "price": str(trades[-1].price),
                           "trade_id": trades[-1].trade_id})
        self._market_update(
            keys=[f"seq:{market}", f"book:{market}", f"ticker:{market}", f"trades:{market}",
                  f"last:{market}"],
            args=[seq, _dumps({"seq": seq, "bids": _levels(bids), "asks": _levels(asks)}),
                  _dumps({str(k): str(v) for k, v in ticker.items()}), last, RECENT_TRADES,
                  *[_dumps(_trade(market, t)) for t in trades]])

    def _produce_events(self, result: MarketResult) -> None:
        market = result.entry.info.symbol
        for t in result.settlement.trades:
            self._producer.produce(self._market_topic, key=market, value=_dumps(_trade(market, t)))
        bids, asks = _touched_levels(result)
        self._producer.produce(self._market_topic, key=market, value=_dumps({
            "type": "depth", "market": market, "first_seq": result.events[0].seq,
            "last_seq": result.events[-1].seq, "bids": bids, "asks": asks}))
        for order in result.settlement.changed_orders.values():
            self._producer.produce(self._order_topic, key=str(order.user_id), value=_dumps({
                "type": "order", "market": market, "seq": order.last_seq,
                "order_id": order.order_id, "user_id": order.user_id, "side": order.side.value,
                "order_type": order.order_type.value, "price": str(order.price),
                "quantity": str(order.quantity), "executed_qty": str(order.executed_qty),
                "cumulative_quote_qty": str(order.cumulative_quote_qty),
                "status": order.status.value, "done_reason": order.done_reason}))


def _touched_levels(result: MarketResult) -> tuple[list[list[str]], list[list[str]]]:
    """The current total of every (side, price) level the batch's events touched."""
    touched: set[tuple[Side, int]] = set()
    orders = result.settlement.changed_orders
    for e in result.events:
        if isinstance(e, Trade):
            touched.add((orders[e.maker_order_id].side, e.price))
            continue
        order = orders.get(e.order_id)
        if order is not None and order.price:  # MARKET orders never rest
            touched.add((order.side, order.price))
    book = result.entry.book
    bids = sorted((p for s, p in touched if s is Side.BUY), reverse=True)
    asks = sorted(p for s, p in touched if s is Side.SELL)
    return (_levels((p, _level_qty(book, Side.BUY, p)) for p in bids),
            _levels((p, _level_qty(book, Side.SELL, p)) for p in asks))


def _level_qty(book: OrderBook, side: Side, price: int) -> int:
    return sum(o.remaining for o in book.level_orders(side, price))


def _trade(market: str, t: Trade) -> dict[str, Any]:
    return {"type": "trade", "market": market, "seq": t.seq, "trade_id": t.trade_id,
            "price": str(t.price), "qty": str(t.qty), "quote_qty": str(t.quote_qty),
            "buyer_is_maker": t.buyer_is_maker, "maker_order_id": t.maker_order_id,
            "taker_order_id": t.taker_order_id}


def _ticker(seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
            ) -> dict[FieldT, EncodableT]:
    bid: tuple[int | str, int | str] = bids[0] if bids else ("", "")
    ask: tuple[int | str, int | str] = asks[0] if asks else ("", "")
    return {"seq": str(seq), "best_bid": str(bid[0]), "bid_qty": str(bid[1]),
            "best_ask": str(ask[0]), "ask_qty": str(ask[1])}


def _levels(levels: Iterable[tuple[int, int]]) -> list[list[str]]:
    return [[str(price), str(qty)] for price, qty in levels]


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))

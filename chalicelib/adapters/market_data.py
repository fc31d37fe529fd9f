"""Public market data: the matcher's Redis copy, and PostgreSQL to rebuild it from.

Redis (written by the matcher after each committed batch; see
``matching_cluster/service/publishing.py``) holds per market ``seq:``, ``book:``,
``trades:``, ``last:`` and ``ticker:``, every value reflecting market sequence ``seq``.
When keys are lost, ``MarketDataCache.restore`` writes them all back from one
PostgreSQL snapshot, behind the same kind of guard as the matcher's: data for an older
sequence than Redis holds is never written, so a rebuild racing the matcher can only
lose. Recent candles live in ``klines:{market}:{interval}`` (score = open time), kept by
the candles function; older ones in the ``candles`` table.

Amounts are integers of smallest units; Redis holds them as decimal strings.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from psycopg.pq import TransactionStatus

from chalicelib.domain.candles import Candle, Interval

Conn = psycopg.Connection[Any]
Level = tuple[int, int]

# What the matcher keeps in Redis: the top levels of the book (Binance's default depth
# limit) and the newest trades (the maximum /trades limit). The value shapes below are
# the matcher's too (matching_cluster/service/publishing.py writes with them).
BOOK_LEVELS = 100
RECENT_TRADES = 1000

# Writes a market's whole Redis state as of sequence ARGV[1] unless Redis already holds
# a newer one. An equal sequence is rewritten: the data is the same, only more complete
# (the trades list may have lost its older part). KEYS: seq, book, ticker, last, trades.
# ARGV: seq, book JSON, ticker JSON object, last-trade JSON (or ""), trade JSONs newest
# first.
GUARDED_RESTORE = """
local seq = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '-1') > seq then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
for field, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[3], field, value) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4]) else redis.call('DEL', KEYS[4]) end
redis.call('DEL', KEYS[5])
for i = 5, #ARGV do redis.call('RPUSH', KEYS[5], ARGV[i]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class MarketScales:
    symbol: str
    base_scale: int
    quote_scale: int

    @property
    def base_unit(self) -> int:
        return int(10**self.base_scale)


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Aggregated price levels, best first, as of market sequence ``seq``."""

    seq: int
    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class PublicTrade:
    trade_id: int
    seq: int
    time_ms: int
    price: int
    qty: int
    quote_qty: int
    buyer_is_maker: bool
    maker_order_id: int
    taker_order_id: int


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Everything the matcher keeps in Redis for a market, as of ``book.seq``."""

    market: str
    book: BookSnapshot
    trades: list[PublicTrade]  # newest first, at most RECENT_TRADES


@dataclass(frozen=True, slots=True)
class TopOfBook:
    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int


@dataclass(frozen=True, slots=True)
class LastTrade:
    price: int
    qty: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class TradeTotals:
    """What a run of consecutive trades adds up to: open/close are its first and last
    trade's price, ``first_id``/``last_id`` their ids."""

    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    count: int
    first_id: int
    last_id: int

    def then(self, later: TradeTotals) -> TradeTotals:
        """These trades followed by ``later`` ones."""
        return TradeTotals(self.open, max(self.high, later.high), min(self.low, later.low),
                           later.close, self.volume + later.volume,
                           self.quote_volume + later.quote_volume, self.count + later.count,
                           self.first_id, later.last_id)


@dataclass(frozen=True, slots=True)
class Window:
    """The trades of a time window (``totals`` None without any), the price of the last
    trade before it (0 if none) and the market's last trade."""

    totals: TradeTotals | None
    prev_close: int
    last: LastTrade | None


# ----------------------------------------------------------------- PostgreSQL


@contextmanager
def snapshot(conn: Conn) -> Iterator[None]:
    """One REPEATABLE READ read-only transaction: every query inside sees the same
    committed state (the matcher commits orders, trades and ``market_sequences``
    together, so they agree with each other)."""
    if conn.info.transaction_status is not TransactionStatus.IDLE:
        raise RuntimeError("a market data snapshot needs a connection outside a transaction")
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def market_scales(conn: Conn, symbols: Sequence[str] | None) -> list[MarketScales]:
    """The given markets (those that exist), or every market, by symbol."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT m.symbol, b.scale, q.scale FROM markets m"
            " JOIN assets b ON b.symbol = m.base_asset JOIN assets q ON q.symbol = m.quote_asset"
            " WHERE %(symbols)s::text[] IS NULL OR m.symbol = ANY (%(symbols)s)"
            " ORDER BY m.symbol", {"symbols": None if symbols is None else list(symbols)},
        ).fetchall()
    return [MarketScales(str(s), int(b), int(q)) for s, b, q in rows]


def read_market_snapshot(conn: Conn, market: str) -> MarketSnapshot:
    """The whole book and the newest trades in one snapshot, for depth beyond what
    Redis holds and to rebuild Redis."""
    with snapshot(conn):
        seq = _last_sequence(conn, market)
        bids, asks = _open_levels(conn, market)
        trades = _newest_trades(conn, market, RECENT_TRADES)
    return MarketSnapshot(market, BookSnapshot(seq, bids, asks), trades)


def _last_sequence(conn: Conn, market: str) -> int:
    row = conn.execute("SELECT last_sequence FROM market_sequences WHERE market = %s",
                       (market,)).fetchone()
    return int(row[0]) if row else 0


def _open_levels(conn: Conn, market: str) -> tuple[list[Level], list[Level]]:
    rows = conn.execute(
        "SELECT side, price, sum(quantity - executed_qty) FROM orders"
        " WHERE market = %s AND status IN ('NEW', 'PARTIALLY_FILLED')"
        " AND accepted_seq IS NOT NULL AND price IS NOT NULL"
        " GROUP BY side, price HAVING sum(quantity - executed_qty) > 0"
        " ORDER BY side, CASE WHEN side = 'BUY' THEN -price ELSE price END",
        (market,)).fetchall()
    bids = [(int(p), int(q)) for side, p, q in rows if side == "BUY"]
    asks = [(int(p), int(q)) for side, p, q in rows if side == "SELL"]
    return bids, asks


def _newest_trades(conn: Conn, market: str, limit: int) -> list[PublicTrade]:
    rows = conn.execute(
        "SELECT id, sequence, floor(extract(epoch FROM executed_at) * 1000)::bigint, price,"
        " quantity, quote_quantity, buyer_is_maker, maker_order_id, taker_order_id"
        " FROM trades WHERE market = %s ORDER BY id DESC LIMIT %s", (market, limit)).fetchall()
    return [PublicTrade(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]),
                        bool(r[6]), int(r[7]), int(r[8])) for r in rows]


CANDLES_IN_RANGE = (
    "SELECT open_time, close_time, open, high, low, close, volume, quote_volume, trade_count,"
    " taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id FROM candles"
    " WHERE market = %s AND interval = %s AND open_time BETWEEN %s AND %s")
CANDLES_NEWEST = CANDLES_IN_RANGE + " ORDER BY open_time DESC LIMIT %s"
CANDLES_OLDEST = CANDLES_IN_RANGE + " ORDER BY open_time LIMIT %s"


def read_candles(conn: Conn, market: str, interval: Interval, start_ms: int, end_ms: int,
                 limit: int, *, newest: bool) -> list[Candle]:
    """Candles opening within [start_ms, end_ms], ascending; the newest ``limit`` of them
    if ``newest``, else the oldest."""
    with conn.transaction():
        rows = conn.execute(CANDLES_NEWEST if newest else CANDLES_OLDEST,
                            (market, interval.value, start_ms, end_ms, limit)).fetchall()
    candles = [Candle(market, interval, *(int(v) for v in row)) for row in rows]
    return candles[::-1] if newest else candles


def read_window(conn: Conn, market: str, start_ms: int) -> Window:
    """The trades since ``start_ms`` (a minute boundary) in one snapshot: 1m candles up
    to the candles function's progress, then the trades it has not folded yet, so the
    result is exact to the trade while reading about 1,440 candle rows, not every trade."""
    with snapshot(conn):
        folded = conn.execute(
            "SELECT coalesce(max(last_trade_id), 0) FROM candle_progress WHERE market = %s",
            (market,)).fetchone()
        progress = int(folded[0]) if folded else 0
        candles = _totals(conn.execute(
            "SELECT (array_agg(open ORDER BY open_time))[1], max(high), min(low),"
            " (array_agg(close ORDER BY open_time DESC))[1], sum(volume), sum(quote_volume),"
            " sum(trade_count), min(first_trade_id), max(last_trade_id)"
            " FROM candles WHERE market = %s AND interval = '1m' AND open_time >= %s"
            " AND last_trade_id <= %s", (market, start_ms, progress)).fetchone())
        unfolded = _totals(conn.execute(
            "SELECT (array_agg(price ORDER BY id))[1], max(price), min(price),"
            " (array_agg(price ORDER BY id DESC))[1], sum(quantity), sum(quote_quantity),"
            " count(*), min(id), max(id) FROM trades"
            " WHERE market = %s AND id > %s AND executed_at >= to_timestamp(%s)",
            (market, progress, start_ms / 1000)).fetchone())
        prev = conn.execute(
            "SELECT price FROM trades WHERE market = %s AND executed_at < to_timestamp(%s)"
            " ORDER BY executed_at DESC, id DESC LIMIT 1",
            (market, start_ms / 1000)).fetchone()
        last = _last_trade(conn, market)
    totals = candles.then(unfolded) if candles and unfolded else candles or unfolded
    return Window(totals, int(prev[0]) if prev else 0, last)


def _totals(row: tuple[Any, ...] | None) -> TradeTotals | None:
    if row is None or row[0] is None:
        return None
    return TradeTotals(*(int(v) for v in row))


def average_price(conn: Conn, market: str, since_ms: int, base_unit: int
                  ) -> tuple[int, int] | None:
    """(volume-weighted average price, time of the last trade) of the trades since
    ``since_ms``; None without such trades."""
    with conn.transaction():
        row = conn.execute(
            "SELECT sum(quote_quantity), sum(quantity),"
            " floor(extract(epoch FROM max(executed_at)) * 1000)::bigint"
            " FROM trades WHERE market = %s AND executed_at >= to_timestamp(%s)",
            (market, since_ms / 1000)).fetchone()
    if row is None or row[1] is None:
        return None
    return int(row[0]) * base_unit // int(row[1]), int(row[2])


def last_trade(conn: Conn, market: str) -> LastTrade | None:
    with conn.transaction():
        return _last_trade(conn, market)


def _last_trade(conn: Conn, market: str) -> LastTrade | None:
    row = conn.execute(
        "SELECT price, quantity, floor(extract(epoch FROM executed_at) * 1000)::bigint"
        " FROM trades WHERE market = %s ORDER BY id DESC LIMIT 1", (market,)).fetchone()
    return LastTrade(int(row[0]), int(row[1]), int(row[2])) if row else None


# ---------------------------------------------------------------------- Redis


class MarketDataCache:
    """The market data the matcher keeps in Redis; every read answers None (or a
    shorter list) when Redis does not hold what was asked, never a guess."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._restore = client.register_script(GUARDED_RESTORE)

    def book(self, market: str) -> BookSnapshot | None:
        raw = self._redis.get(f"book:{market}")
        if raw is None:
            return None
        data = json.loads(raw)
        return BookSnapshot(int(data["seq"]), _levels(data["bids"]), _levels(data["asks"]))

    def newest_trades(self, market: str, limit: int) -> list[PublicTrade] | None:
        """The newest ``limit`` trades, newest first, if Redis holds them without a gap
        (or holds every trade since the first); else None."""
        raw = self._redis.lrange(f"trades:{market}", 0, limit - 1)
        trades = [_trade(json.loads(item)) for item in raw]
        if not trades:
            return None
        contiguous = all(a.trade_id == b.trade_id + 1 for a, b in itertools.pairwise(trades))
        complete = len(trades) == limit or trades[-1].trade_id == 1
        return trades if contiguous and complete else None

    def top_of_book(self, market: str) -> TopOfBook | None:
        ticker = {_text(k): _text(v) for k, v in self._redis.hgetall(f"ticker:{market}").items()}
        if "best_bid" not in ticker or "best_ask" not in ticker:
            return None
        return TopOfBook(int(ticker["best_bid"] or 0), int(ticker.get("bid_qty") or 0),
                         int(ticker["best_ask"] or 0), int(ticker.get("ask_qty") or 0))

    def last_price(self, market: str) -> int | None:
        raw = self._redis.get(f"last:{market}")
        return None if raw is None else int(json.loads(raw)["price"])

    def last_trade_id(self, market: str) -> int:
        """The newest trade the matcher published (0 if Redis does not know)."""
        raw = self._redis.get(f"last:{market}")
        return 0 if raw is None else int(json.loads(raw)["trade_id"])

    def restore(self, snap: MarketSnapshot) -> bool:
        """Write ``snap`` back unless Redis holds newer data; True if it was written."""
        market, book = snap.market, snap.book
        newest = snap.trades[0] if snap.trades else None
        written = self._restore(
            keys=[f"seq:{market}", f"book:{market}", f"ticker:{market}", f"last:{market}",
                  f"trades:{market}"],
            args=[book.seq, book_json(book.seq, book.bids, book.asks),
                  _dumps(ticker_hash(book.seq, book.bids, book.asks,
                                     newest.price if newest else None)),
                  last_trade_json(newest) if newest else "",
                  *[trade_json(market, t) for t in snap.trades]])
        return bool(written)

    def oldest_kline_time(self, market: str, interval: Interval) -> int | None:
        oldest = self._redis.zrange(f"klines:{market}:{interval.value}", 0, 0, withscores=True)
        return int(oldest[0][1]) if oldest else None

    def klines(self, market: str, interval: Interval, start_ms: int, end_ms: int, limit: int,
               *, newest: bool) -> list[Candle]:
        """Candles opening within [start_ms, end_ms], ascending (see ``read_candles``)."""
        key = f"klines:{market}:{interval.value}"
        if newest:
            raw = self._redis.zrevrangebyscore(key, end_ms, start_ms, start=0, num=limit)
            raw = raw[::-1]
        else:
            raw = self._redis.zrangebyscore(key, start_ms, end_ms, start=0, num=limit)
        return [_candle(market, interval, json.loads(_text(item))) for item in raw]

    def cached(self, key: str) -> Any:
        raw = self._redis.get(key)
        return None if raw is None else json.loads(raw)

    def cache(self, key: str, value: Any, ttl_ms: int) -> None:
        self._redis.set(key, _dumps(value), px=ttl_ms)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _levels(levels: list[list[str]]) -> list[Level]:
    return [(int(price), int(qty)) for price, qty in levels]


def _trade(data: dict[str, Any]) -> PublicTrade:
    return PublicTrade(int(data["trade_id"]), int(data["seq"]), int(data["time"]),
                       int(data["price"]), int(data["qty"]), int(data["quote_qty"]),
                       bool(data["buyer_is_maker"]), int(data["maker_order_id"]),
                       int(data["taker_order_id"]))


def book_json(seq: int, bids: list[Level], asks: list[Level]) -> str:
    """``book:{market}``: the top ``BOOK_LEVELS`` of each side, best first."""
    return _dumps({"seq": seq, "bids": _level_strings(bids[:BOOK_LEVELS]),
                   "asks": _level_strings(asks[:BOOK_LEVELS])})


def ticker_hash(seq: int, bids: list[Level], asks: list[Level],
                last_price: int | None) -> dict[str, str]:
    """``ticker:{market}``: best bid and ask (empty strings for an empty side), and the
    last price when there is one to set."""
    bid = (str(bids[0][0]), str(bids[0][1])) if bids else ("", "")
    ask = (str(asks[0][0]), str(asks[0][1])) if asks else ("", "")
    fields = {"seq": str(seq), "best_bid": bid[0], "bid_qty": bid[1], "best_ask": ask[0],
              "ask_qty": ask[1]}
    return fields if last_price is None else {**fields, "last_price": str(last_price)}


def last_trade_json(trade: PublicTrade) -> str:
    """``last:{market}``."""
    return _dumps({"seq": trade.seq, "price": str(trade.price), "trade_id": trade.trade_id})


def trade_json(market: str, t: PublicTrade) -> str:
    """A trade as ``trades:{market}`` holds it and ``market-events`` carries it."""
    return _dumps({"type": "trade", "market": market, "seq": t.seq, "trade_id": t.trade_id,
                   "time": t.time_ms, "price": str(t.price), "qty": str(t.qty),
                   "quote_qty": str(t.quote_qty), "buyer_is_maker": t.buyer_is_maker,
                   "maker_order_id": t.maker_order_id, "taker_order_id": t.taker_order_id})


def _level_strings(levels: list[Level]) -> list[list[str]]:
    return [[str(price), str(qty)] for price, qty in levels]


def _candle(market: str, interval: Interval, m: dict[str, Any]) -> Candle:
    return Candle(market, interval, int(m["t"]), int(m["T"]), int(m["o"]), int(m["h"]),
                  int(m["l"]), int(m["c"]), int(m["v"]), int(m["q"]), int(m["n"]), int(m["V"]),
                  int(m["Q"]), int(m["f"]), int(m["L"]))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))

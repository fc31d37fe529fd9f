"""Public market data in PostgreSQL: the source of truth the Redis copy is rebuilt from.

Every read of more than one query runs in one REPEATABLE READ snapshot, so its parts
agree with each other (the matcher commits orders, trades and ``market_sequences``
together).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.market_data import (
    BookSnapshot,
    Fill,
    LastTrade,
    MarketScales,
    MarketSnapshot,
    TradeTotals,
    Window,
)
from chalicelib.domain.stream_events import Level, TradeEvent

Conn = psycopg.Connection[Any]


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


def read_market_snapshot(conn: Conn, market: str, trades_limit: int) -> MarketSnapshot:
    """The whole book and the newest ``trades_limit`` trades in one snapshot, for depth
    beyond what Redis holds and to rebuild Redis."""
    with snapshot(conn):
        seq = _last_sequence(conn, market)
        bids, asks = _open_levels(conn, market)
        trades = _newest_trades(conn, market, trades_limit)
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


def trade_event(market: str, r: Sequence[Any]) -> TradeEvent:
    """A ``trades`` row as the public sees it: id, sequence, time (ms), price, quantity,
    quote quantity, buyer is maker, maker and taker order ids."""
    return TradeEvent(market=market, trade_id=int(r[0]), seq=int(r[1]), time_ms=int(r[2]),
                      price=int(r[3]), qty=int(r[4]), quote_qty=int(r[5]),
                      buyer_is_maker=bool(r[6]), maker_order_id=int(r[7]),
                      taker_order_id=int(r[8]))


def _newest_trades(conn: Conn, market: str, limit: int) -> list[TradeEvent]:
    rows = conn.execute(
        "SELECT id, sequence, floor(extract(epoch FROM executed_at) * 1000)::bigint, price,"
        " quantity, quote_quantity, buyer_is_maker, maker_order_id, taker_order_id"
        " FROM trades WHERE market = %s ORDER BY id DESC LIMIT %s", (market, limit)).fetchall()
    return [trade_event(market, r) for r in rows]


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


def order_fills(conn: Conn, market: str, order_id: int, after_seq: int,
                upto_seq: int) -> list[Fill]:
    """The order's trades with a market sequence in (after_seq, upto_seq]."""
    rows = conn.execute(
        "SELECT id, price, quantity, quote_quantity,"
        " (extract(epoch FROM executed_at) * 1000)::bigint, maker_order_id = %(order)s,"
        " CASE WHEN maker_order_id = %(order)s THEN maker_fee ELSE taker_fee END,"
        " CASE WHEN maker_order_id = %(order)s THEN maker_fee_asset ELSE taker_fee_asset END"
        " FROM trades WHERE market = %(market)s AND sequence > %(after)s"
        " AND sequence <= %(upto)s"
        " AND (maker_order_id = %(order)s OR taker_order_id = %(order)s) ORDER BY sequence",
        {"order": order_id, "market": market, "after": after_seq, "upto": upto_seq}).fetchall()
    return [Fill(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), bool(r[5]), int(r[6]),
                 str(r[7])) for r in rows]

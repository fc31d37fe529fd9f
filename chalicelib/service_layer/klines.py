"""Binance's klines beyond the stored ones: 1s candles, built from the trades when asked
for, and candles in a time zone whose boundaries are not UTC's, merged from a finer
stored interval (``kline_zones``). Everything else is ``market_data.klines``.

As there, intervals without a trade between two traded ones are filled in (volume 0),
and ``limit`` candles are counted from the anchored end: from ``start_ms`` on if given,
else the newest up to ``end_ms``. The span those candles can cover is known once the
traded candle at the anchored end is found, so only that span is read.
"""

from __future__ import annotations

from chalicelib.adapters.market_data_pg import read_candles, snapshot
from chalicelib.adapters.trade_history_pg import TradeRange, read_trades
from chalicelib.domain.candles import (
    Candle,
    Interval,
    Trade,
    fold,
    open_time,
    with_quiet_intervals,
)
from chalicelib.domain.errors import ErrorCode, bad_request
from chalicelib.domain.kline_zones import (
    merged_into,
    shifted,
    source_interval,
    steps_back,
    steps_forward,
)
from chalicelib.domain.market_data import Klines
from chalicelib.domain.stream_events import TradeEvent
from chalicelib.service_layer import Conn
from chalicelib.service_layer import market_data as md
from chalicelib.service_layer.ports import MarketCache

# Rows read per query while collecting a span.
PAGE = 5000


def klines(conn: Conn, cache: MarketCache, symbol: str, interval: Interval,
           start_ms: int | None = None, end_ms: int | None = None,
           limit: int = md.KLINES_LIMIT_DEFAULT, offset_ms: int = 0) -> Klines:
    """Candles by open time of ``interval`` in the zone ``offset_ms`` ahead of UTC."""
    source = None if interval is Interval.S1 else source_interval(interval, offset_ms)
    if interval is not Interval.S1 and source is None:
        return md.klines(conn, cache, symbol, interval, start_ms, end_ms, limit)
    md.check_limit(limit, md.KLINES_LIMIT_MAX)
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise bad_request(ErrorCode.START_TIME_GREATER_THAN_END_TIME,
                          "Start time is greater than end time.")
    scales = md.market(conn, symbol)
    low, high = start_ms or 0, md.LATEST_MS if end_ms is None else end_ms
    newest = start_ms is None
    if source is None:
        found = _seconds(conn, symbol, low, high, limit, newest=newest)
    else:
        found = _in_zone(conn, cache, symbol, (interval, source, offset_ms), (low, high),
                         limit, newest=newest)
    return Klines(scales, found)


def _seconds(conn: Conn, symbol: str, low: int, high: int, limit: int, *,
             newest: bool) -> list[Candle]:
    """1s candles folded from the trades of the span ``limit`` seconds can cover."""
    with snapshot(conn):
        edge = read_trades(conn, symbol, TradeRange(start_ms=low, end_ms=high), 1,
                           newest=newest)
        if not edge:
            return []
        anchor = open_time(Interval.S1, edge[0].time_ms)
        if newest:
            low = max(low, steps_back(Interval.S1, anchor, limit - 1))
        else:
            high = min(high, steps_forward(Interval.S1, anchor, limit) - 1)
        trades = _trades_between(conn, symbol, low, high)
    candles = fold(symbol, [Trade(t.trade_id, t.time_ms, t.price, t.qty, t.quote_qty,
                                  t.buyer_is_maker) for t in trades], [Interval.S1])
    return with_quiet_intervals(candles, limit, newest=newest)


def _trades_between(conn: Conn, symbol: str, low: int, high: int) -> list[TradeEvent]:
    bounds = TradeRange(start_ms=low, end_ms=high)
    trades: list[TradeEvent] = []
    while True:
        page = read_trades(conn, symbol, bounds, PAGE, newest=False)
        trades += page
        if len(page) < PAGE:
            return trades
        bounds = TradeRange(page[-1].trade_id + 1, bounds.high_id, low, high)


def _in_zone(conn: Conn, cache: MarketCache, symbol: str,
             intervals: tuple[Interval, Interval, int], span: tuple[int, int], limit: int,
             *, newest: bool) -> list[Candle]:
    """``interval``'s candles of the zone, merged from ``source``'s in zone time."""
    interval, source, offset = intervals
    low, high = span
    edge = md.klines(conn, cache, symbol, source, None if newest else low, high, 1).candles
    if not edge:
        return []
    anchor = open_time(interval, edge[0].open_time + offset)  # in zone time
    if newest:
        low = max(low, steps_back(interval, anchor, limit - 1) - offset)
    else:
        high = min(high, steps_forward(interval, anchor, limit) - offset - 1)
    zoned = merged_into(shifted(_stored(conn, cache, symbol, source, low, high), offset),
                        interval)
    return shifted(with_quiet_intervals(zoned, limit, newest=newest), -offset)


def _stored(conn: Conn, cache: MarketCache, symbol: str, interval: Interval, low: int,
            high: int) -> list[Candle]:
    """Every stored candle opening in [low, high]: Redis from its oldest on, PostgreSQL
    before (as ``market_data.klines`` splits them)."""
    oldest_cached = cache.oldest_kline_time(symbol, interval)
    boundary = high + 1 if oldest_cached is None else max(low, oldest_cached)
    older: list[Candle] = []
    while boundary > low:
        page = read_candles(conn, symbol, interval, low, boundary - 1, PAGE, newest=False)
        older += page
        if len(page) < PAGE:
            break
        low = page[-1].open_time + 1
    recent: list[Candle] = []
    while boundary <= high:
        page = cache.klines(symbol, interval, boundary, high, PAGE, newest=False)
        recent += page
        if len(page) < PAGE:
            break
        boundary = page[-1].open_time + 1
    return older + recent

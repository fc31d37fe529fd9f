"""Public market data (Binance's depth, trades, klines, tickers, average price).

Served from the Redis copy the matcher keeps current. Whatever Redis lacks is read from
PostgreSQL in one snapshot and written back behind the sequence guard, so an answer is
never older than Redis already was, and never mixes two states of the book (its
``lastUpdateId`` is the market sequence the levels belong to).

Every function takes a connection outside a transaction (a fresh pool connection or an
autocommit one) and a ``MarketCache`` (``ports``); nothing here knows about HTTP, so the
WebSocket fan-out calls ``ticker_24hr`` for its ``@ticker`` streams too. Results are
integers of smallest units with the market's scales; callers format them.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.adapters import market_data_pg as data
from chalicelib.adapters.market_cache import BOOK_LEVELS, RECENT_TRADES
from chalicelib.domain.candles import Candle, Interval, with_quiet_intervals
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request
from chalicelib.domain.market_data import (
    AveragePrice,
    BookSnapshot,
    BookTicker,
    Depth,
    Klines,
    LastPrice,
    MarketScales,
    MarketSnapshot,
    Ticker24hr,
    TopOfBook,
    Trades,
)
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import bad_symbol
from chalicelib.service_layer.ports import MarketCache

DEPTH_LIMIT_MAX = 5000
DEPTH_LIMIT_DEFAULT = 100
TRADES_LIMIT_MAX = 1000
TRADES_LIMIT_DEFAULT = 500
KLINES_LIMIT_MAX = 1000
KLINES_LIMIT_DEFAULT = 500
MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
AVERAGE_PRICE_MINUTES = 5
# A 24 h ticker is computed at most this often per market; polling clients share it.
TICKER_24HR_TTL_MS = 1000
WINDOW_TICKER_SYMBOLS_MAX = 100
# Beyond every time Binance accepts, so "no endTime" is one bound like any other.
LATEST_MS = 2**63 - 1


def markets(conn: Conn, symbols: Sequence[str] | None) -> list[MarketScales]:
    """The requested markets (Invalid symbol if one is unknown), or every market."""
    found = data.market_scales(conn, symbols)
    if symbols is not None and (not symbols or len(found) != len(set(symbols))):
        raise bad_symbol()
    return found


def market(conn: Conn, symbol: str) -> MarketScales:
    return markets(conn, [symbol])[0]


def check_limit(limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise bad_request(ErrorCode.ILLEGAL_CHARS,
                          f"Illegal characters found in parameter 'limit'; legal range is "
                          f"'1..{maximum}'.")


def depth(conn: Conn, cache: MarketCache, symbol: str,
          limit: int = DEPTH_LIMIT_DEFAULT) -> Depth:
    """The best ``limit`` levels of each side and the sequence they are at."""
    check_limit(limit, DEPTH_LIMIT_MAX)
    scales = market(conn, symbol)
    book = cache.book(symbol) if limit <= BOOK_LEVELS else None
    if book is None:
        book = _rebuild(conn, cache, symbol).book
    return Depth(scales, BookSnapshot(book.seq, book.bids[:limit], book.asks[:limit]))


def recent_trades(conn: Conn, cache: MarketCache, symbol: str,
                  limit: int = TRADES_LIMIT_DEFAULT) -> Trades:
    check_limit(limit, TRADES_LIMIT_MAX)
    scales = market(conn, symbol)
    newest = cache.newest_trades(symbol, limit)
    if newest is None:
        newest = _rebuild(conn, cache, symbol).trades[:limit]
    return Trades(scales, newest[::-1])


def klines(conn: Conn, cache: MarketCache, symbol: str, interval: Interval,
           start_ms: int | None = None, end_ms: int | None = None,
           limit: int = KLINES_LIMIT_DEFAULT) -> Klines:
    """Candles by open time (quiet intervals between trades included, volume 0): from
    ``start_ms`` on if given, else the newest up to ``end_ms``. Redis holds the recent
    ones (from its oldest member on, every candle the candles function wrote since); the
    ``candles`` table the older ones."""
    check_limit(limit, KLINES_LIMIT_MAX)
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise bad_request(ErrorCode.START_TIME_GREATER_THAN_END_TIME,
                          "Start time is greater than end time.")
    scales = market(conn, symbol)
    low, high = start_ms or 0, LATEST_MS if end_ms is None else end_ms
    oldest_cached = cache.oldest_kline_time(symbol, interval)
    boundary = high + 1 if oldest_cached is None else max(low, oldest_cached)
    newest = start_ms is None

    def cached(count: int) -> list[Candle]:
        if count <= 0 or boundary > high:
            return []
        return cache.klines(symbol, interval, boundary, high, count, newest=newest)

    def stored(count: int) -> list[Candle]:
        if count <= 0 or boundary <= low:
            return []
        return data.read_candles(conn, symbol, interval, low, boundary - 1, count,
                                 newest=newest)

    # Intervals without a trade are not stored; filled in, the series is continuous,
    # so cutting it to ``limit`` from the anchored end gives what Binance gives.
    if newest:
        recent = cached(limit)
        return Klines(scales, with_quiet_intervals(stored(limit - len(recent)) + recent, limit,
                                                   newest=True))
    older = stored(limit)
    return Klines(scales, with_quiet_intervals(older + cached(limit - len(older)), limit,
                                               newest=False))


def ticker_24hr(conn: Conn, cache: MarketCache, symbols: Sequence[str] | None,
                now_ms: int) -> list[Ticker24hr]:
    """Rolling 24 h statistics of the given markets (or all), by symbol."""
    return [_ticker_24hr(conn, cache, scales, now_ms) for scales in markets(conn, symbols)]


def _ticker_24hr(conn: Conn, cache: MarketCache, scales: MarketScales,
                 now_ms: int) -> Ticker24hr:
    top = _top_of_book(conn, cache, scales.symbol)  # rebuilds Redis if it was lost
    # Keyed by the newest trade too: a trade makes the next request (and the @ticker
    # stream it triggers) recompute at once; the TTL only spares repeats in between.
    newest_trade = cache.last_trade_id(scales.symbol)
    stats = cache.ticker_stats(scales.symbol, newest_trade)
    if stats is None:
        stats = _window_stats(conn, scales, (now_ms - DAY_MS) // MINUTE_MS * MINUTE_MS,
                              now_ms)
        cache.cache_ticker_stats(scales.symbol, newest_trade, stats, TICKER_24HR_TTL_MS)
    return Ticker24hr(scales, **stats, top=top)


def window_tickers(conn: Conn, cache: MarketCache, symbols: Sequence[str], start_ms: int,
                   close_ms: int) -> list[Ticker24hr]:
    """The statistics of the trades since ``start_ms`` (a minute boundary) of the given
    markets, by symbol, reported as the window [start_ms, close_ms]: Binance's rolling
    window and trading day tickers, computed on each request."""
    if len(symbols) > WINDOW_TICKER_SYMBOLS_MAX:
        raise bad_request(ErrorCode.TOO_MANY_PARAMETERS,
                          f"Too many values sent for parameter 'symbols', max "
                          f"{WINDOW_TICKER_SYMBOLS_MAX}.")
    return [Ticker24hr(scales, **_window_stats(conn, scales, start_ms, close_ms),
                       top=_top_of_book(conn, cache, scales.symbol))
            for scales in markets(conn, symbols)]


def _window_stats(conn: Conn, scales: MarketScales, start_ms: int,
                  close_ms: int) -> dict[str, int]:
    window = data.read_window(conn, scales.symbol, start_ms)
    last = window.last
    last_price, last_qty = (last.price, last.qty) if last else (0, 0)
    totals = window.totals
    stats = {"open_time": start_ms, "close_time": close_ms, "last": last_price,
             "last_qty": last_qty, "prev_close": window.prev_close}
    if totals is None:
        return {**stats, "open": last_price, "high": last_price, "low": last_price,
                "volume": 0, "quote_volume": 0, "weighted_avg_price": 0, "first_id": -1,
                "last_id": -1, "count": 0}
    return {**stats, "open": totals.open, "high": totals.high, "low": totals.low,
            "volume": totals.volume, "quote_volume": totals.quote_volume,
            "weighted_avg_price": totals.quote_volume * scales.base_unit // totals.volume,
            "first_id": totals.first_id, "last_id": totals.last_id, "count": totals.count}


def last_prices(conn: Conn, cache: MarketCache,
                symbols: Sequence[str] | None) -> list[LastPrice]:
    """The last trade price of the given markets (or all); 0 before the first trade."""
    return [LastPrice(scales, _last_price(conn, cache, scales.symbol))
            for scales in markets(conn, symbols)]


def _last_price(conn: Conn, cache: MarketCache, symbol: str) -> int:
    price = cache.last_price(symbol)
    if price is not None:
        return price
    trades = _rebuild(conn, cache, symbol).trades
    return trades[0].price if trades else 0


def book_tickers(conn: Conn, cache: MarketCache,
                 symbols: Sequence[str] | None) -> list[BookTicker]:
    """The best bid and ask of the given markets (or all); 0 for an empty side."""
    return [BookTicker(scales, _top_of_book(conn, cache, scales.symbol))
            for scales in markets(conn, symbols)]


def _top_of_book(conn: Conn, cache: MarketCache, symbol: str) -> TopOfBook:
    top = cache.top_of_book(symbol)
    if top is not None:
        return top
    return _rebuild(conn, cache, symbol).book.top()


def average_price(conn: Conn, symbol: str, now_ms: int) -> AveragePrice:
    """Binance's ``avgPrice``: the volume-weighted price of the last 5 minutes' trades,
    and the time of the last of them. Without trades in those minutes, the last trade's
    price and time (0 and 0 before the first trade)."""
    scales = market(conn, symbol)
    since = now_ms - AVERAGE_PRICE_MINUTES * MINUTE_MS
    found = data.average_price(conn, symbol, since, scales.base_unit)
    if found is None:
        last = data.last_trade(conn, symbol)
        found = (last.price, last.time_ms) if last else (0, 0)
    return AveragePrice(scales, AVERAGE_PRICE_MINUTES, *found)


def _rebuild(conn: Conn, cache: MarketCache, symbol: str) -> MarketSnapshot:
    """The market as PostgreSQL has it now, written back to Redis (unless Redis moved
    on meanwhile: then the matcher's newer data stays)."""
    snap = data.read_market_snapshot(conn, symbol, RECENT_TRADES)
    cache.restore(snap)
    return snap


def parse_interval(value: str | None) -> Interval:
    if not value:
        raise ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                       "Mandatory parameter 'interval' was not sent, was empty/null, or "
                       "malformed.")
    try:
        return Interval(value)
    except ValueError as exc:
        raise bad_request(ErrorCode.BAD_INTERVAL, "Invalid interval.") from exc

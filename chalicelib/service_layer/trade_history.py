"""Older trades: Binance's ``historicalTrades`` (by trade id) and ``aggTrades`` (the
fills of one taker order at one price as one row, by aggregate id or time).

Each answer is read in one PostgreSQL snapshot, page by page until it is complete, so
an aggregate is never cut by a page boundary or by a trade committed meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.market_data_pg import snapshot
from chalicelib.adapters.trade_history_pg import TradeRange, read_trades
from chalicelib.domain.agg_trades import AggTrade, aggregate
from chalicelib.domain.errors import ErrorCode, bad_request
from chalicelib.domain.market_data import MarketScales, Trades
from chalicelib.domain.stream_events import TradeEvent
from chalicelib.service_layer import Conn
from chalicelib.service_layer.market_data import (
    TRADES_LIMIT_DEFAULT,
    TRADES_LIMIT_MAX,
    check_limit,
    market,
    recent_trades,
)
from chalicelib.service_layer.ports import MarketCache

AGG_TRADES_LIMIT_DEFAULT = 500
AGG_TRADES_LIMIT_MAX = 1000
AGG_TRADES_SPAN_MAX_MS = 60 * 60_000
# Trades read per query while aggregating.
PAGE = 1000


@dataclass(frozen=True, slots=True)
class AggTrades:
    market: MarketScales
    trades: list[AggTrade]  # oldest first


def historical_trades(conn: Conn, cache: MarketCache, symbol: str, from_id: int | None,
                      limit: int = TRADES_LIMIT_DEFAULT) -> Trades:
    """Trades from ``from_id`` on (inclusive), oldest first; the newest without it."""
    if from_id is None:
        return recent_trades(conn, cache, symbol, limit)
    check_limit(limit, TRADES_LIMIT_MAX)
    scales = market(conn, symbol)
    with snapshot(conn):
        found = read_trades(conn, symbol, TradeRange(low_id=from_id), limit, newest=False)
    return Trades(scales, found)


def agg_trades(conn: Conn, symbol: str, from_id: int | None = None,
               start_ms: int | None = None, end_ms: int | None = None,
               limit: int = AGG_TRADES_LIMIT_DEFAULT) -> AggTrades:
    """Aggregates from ``from_id`` (an aggregate id, inclusive) or from ``start_ms`` on,
    oldest first; without either the newest, up to ``end_ms`` if given."""
    check_limit(limit, AGG_TRADES_LIMIT_MAX)
    _check_bounds(from_id, start_ms, end_ms)
    scales = market(conn, symbol)
    with snapshot(conn):
        if from_id is not None:
            # From the trade before: an aggregate it continues starts below from_id.
            found = _oldest(conn, symbol, TradeRange(low_id=max(from_id - 1, 0)), limit + 1)
            found = [a for a in found if a.agg_id >= from_id][:limit]
        elif start_ms is not None:
            bounds = TradeRange(start_ms=start_ms, end_ms=_or_latest(end_ms))
            found = _oldest(conn, symbol, bounds, limit)
        else:
            found = _newest(conn, symbol, TradeRange(end_ms=_or_latest(end_ms)), limit)
    return AggTrades(scales, found)


def _check_bounds(from_id: int | None, start_ms: int | None, end_ms: int | None) -> None:
    if start_ms is not None and end_ms is not None:
        if start_ms > end_ms:
            raise bad_request(ErrorCode.START_TIME_GREATER_THAN_END_TIME,
                              "Start time is greater than end time.")
        if end_ms - start_ms > AGG_TRADES_SPAN_MAX_MS:
            raise bad_request(ErrorCode.TIME_SPAN_TOO_LONG,
                              "More than 1 hours between startTime and endTime.")
    if from_id is not None and (start_ms is not None or end_ms is not None):
        raise bad_request(ErrorCode.INVALID_PARAM_COMBINATION,
                          "Combination of optional parameters invalid.")


def _or_latest(end_ms: int | None) -> int:
    return TradeRange().end_ms if end_ms is None else end_ms


def _oldest(conn: Conn, symbol: str, bounds: TradeRange, limit: int) -> list[AggTrade]:
    """The oldest ``limit`` aggregates in ``bounds``: trades are read until one more
    aggregate has started (so the last one is whole) or none are left."""
    trades: list[TradeEvent] = []
    while True:
        page = read_trades(conn, symbol, bounds, PAGE, newest=False)
        trades += page
        found = aggregate(trades)
        if len(found) > limit or len(page) < PAGE:
            return found[:limit]
        bounds = TradeRange(page[-1].trade_id + 1, bounds.high_id, bounds.start_ms,
                            bounds.end_ms)


def _newest(conn: Conn, symbol: str, bounds: TradeRange, limit: int) -> list[AggTrade]:
    """The newest ``limit`` aggregates in ``bounds``, oldest first (read backwards until
    one more aggregate has started, so the oldest one kept is whole)."""
    backwards: list[TradeEvent] = []
    while True:
        page = read_trades(conn, symbol, bounds, PAGE, newest=True)
        backwards += page
        found = aggregate(backwards[::-1])
        if len(found) > limit or len(page) < PAGE:
            return found[-limit:]
        bounds = TradeRange(bounds.low_id, page[-1].trade_id - 1, bounds.start_ms,
                            bounds.end_ms)

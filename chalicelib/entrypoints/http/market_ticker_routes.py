"""Binance's statistics tickers: the 24 h ticker, rolling windows (``ticker``) and the
trading day (``ticker/tradingDay``), each FULL or MINI."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.market_data import Ticker24hr
from chalicelib.domain.money import format_units
from chalicelib.domain.ticker_windows import (
    DAY_MS,
    day_start,
    mandatory,
    time_zone_offset_ms,
    window_ms,
    window_start,
)
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.market_data_models import (
    Ticker24hrParams,
    TickerType,
    TradingDayParams,
    WindowTickerParams,
)
from chalicelib.entrypoints.http.market_routes import price, qty, top_of_book, with_data
from chalicelib.entrypoints.http.public_routes import requested_symbols
from chalicelib.entrypoints.http.requests import parse_query
from chalicelib.service_layer import market_data as md

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/ticker/24hr", methods=["GET"])
def ticker_24hr() -> Any:
    p = parse_query(routes.current_request, Ticker24hrParams)
    symbols = requested_symbols(p.symbol, p.symbols)
    now = routes.services.now_ms()
    found = with_data(lambda conn, cache: md.ticker_24hr(conn, cache, symbols, now))
    shape = mini_shape if p.type is TickerType.MINI else ticker_24hr_shape
    return shape(found[0]) if p.symbol else [shape(t) for t in found]


@routes.route("/api/v3/ticker", methods=["GET"])
def window_ticker() -> Any:
    p = parse_query(routes.current_request, WindowTickerParams)
    length = window_ms(p.window_size)
    now = routes.services.now_ms()
    return window_tickers(p.symbol, p.symbols, p.type, window_start(now, length), now)


@routes.route("/api/v3/ticker/tradingDay", methods=["GET"])
def trading_day_ticker() -> Any:
    p = parse_query(routes.current_request, TradingDayParams)
    start = day_start(routes.services.now_ms(), time_zone_offset_ms(p.time_zone))
    return window_tickers(p.symbol, p.symbols, p.type, start, start + DAY_MS - 1)


def window_tickers(symbol: str | None, symbols_list: str | None, kind: TickerType,
                   start_ms: int, close_ms: int) -> Any:
    symbols = requested_symbols(symbol, symbols_list)
    if symbols is None:
        raise mandatory("symbol")
    found = with_data(
        lambda conn, cache: md.window_tickers(conn, cache, symbols, start_ms, close_ms))
    shape = mini_shape if kind is TickerType.MINI else window_shape
    return shape(found[0]) if symbol else [shape(t) for t in found]


def mini_shape(t: Ticker24hr) -> dict[str, object]:
    s = t.market
    return {"symbol": s.symbol, "openPrice": price(s, t.open), "highPrice": price(s, t.high),
            "lowPrice": price(s, t.low), "lastPrice": price(s, t.last),
            "volume": qty(s, t.volume), "quoteVolume": price(s, t.quote_volume),
            "openTime": t.open_time, "closeTime": t.close_time, "firstId": t.first_id,
            "lastId": t.last_id, "count": t.count}


def _change(t: Ticker24hr) -> dict[str, object]:
    s = t.market
    return {"symbol": s.symbol, "priceChange": price(s, t.price_change),
            "priceChangePercent": format_units(t.price_change_percent_milli, 3),
            "weightedAvgPrice": price(s, t.weighted_avg_price)}


def window_shape(t: Ticker24hr) -> dict[str, object]:
    return {**_change(t), **mini_shape(t)}


def ticker_24hr_shape(t: Ticker24hr) -> dict[str, object]:
    s = t.market
    return {**_change(t), "prevClosePrice": price(s, t.prev_close),
            "lastPrice": price(s, t.last), "lastQty": qty(s, t.last_qty),
            **top_of_book(s, t.top), **mini_shape(t)}

"""Binance's klines (``klines`` and ``uiKlines``, which Binance shapes alike): every
interval from 1s to 1M, in any ``timeZone``."""

from __future__ import annotations

from chalicelib.domain.ticker_windows import time_zone_offset_ms
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.market_data_models import ZonedKlinesParams
from chalicelib.entrypoints.http.market_routes import price, qty, with_data
from chalicelib.entrypoints.http.requests import parse_query
from chalicelib.service_layer import klines as candles

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/klines", methods=["GET"])
def klines() -> list[list[object]]:
    return kline_rows()


@routes.route("/api/v3/uiKlines", methods=["GET"])
def ui_klines() -> list[list[object]]:
    return kline_rows()


def kline_rows() -> list[list[object]]:
    p = parse_query(routes.current_request, ZonedKlinesParams)
    offset = time_zone_offset_ms(p.time_zone)
    found = with_data(lambda conn, cache: candles.klines(
        conn, cache, p.symbol, p.interval, p.start_time, p.end_time, p.limit, offset))
    s = found.market
    return [[c.open_time, price(s, c.open), price(s, c.high), price(s, c.low),
             price(s, c.close), qty(s, c.volume), c.close_time, price(s, c.quote_volume),
             c.trade_count, qty(s, c.taker_buy_volume), price(s, c.taker_buy_quote_volume), "0"]
            for c in found.candles]

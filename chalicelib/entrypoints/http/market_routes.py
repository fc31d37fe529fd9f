"""Public market data endpoints in Binance's shapes: depth, recent trades, the price and
book tickers and the average price, and the formatting the other market data routes
share (``market_history_routes``, ``market_kline_routes``, ``market_ticker_routes``).
Amounts are decimal strings at the asset's scale (prices in the quote asset, quantities
in the base asset), times in ms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.domain.market_data import MarketScales, TopOfBook, Trades
from chalicelib.domain.money import format_units
from chalicelib.entrypoints.http.api_models import (
    DepthParams,
    MarketsParams,
    SymbolParams,
    TradesParams,
)
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.public_routes import requested_symbols
from chalicelib.entrypoints.http.requests import parse_query
from chalicelib.service_layer import Conn
from chalicelib.service_layer import market_data as md
from chalicelib.service_layer.ports import MarketCache

routes = ApiBlueprint(__name__)
T = TypeVar("T")


def with_data(use: Callable[[Conn, MarketCache], T]) -> T:
    """Run ``use`` with a database connection and the Redis market data."""
    svc = routes.services
    with svc.read_db() as conn:
        return use(conn, svc.market_cache)


@routes.route("/api/v3/depth", methods=["GET"])
def depth() -> dict[str, object]:
    params = parse_query(routes.current_request, DepthParams)
    found = with_data(lambda conn, cache: md.depth(conn, cache, params.symbol, params.limit))
    scales, book = found.market, found.book
    return {"lastUpdateId": book.seq,
            "bids": [[price(scales, p), qty(scales, q)] for p, q in book.bids],
            "asks": [[price(scales, p), qty(scales, q)] for p, q in book.asks]}


@routes.route("/api/v3/trades", methods=["GET"])
def trades() -> list[dict[str, object]]:
    params = parse_query(routes.current_request, TradesParams)
    return trade_shapes(with_data(
        lambda conn, cache: md.recent_trades(conn, cache, params.symbol, params.limit)))


def trade_shapes(found: Trades) -> list[dict[str, object]]:
    """Binance's trades (``trades``, ``historicalTrades``)."""
    s = found.market
    return [{"id": t.trade_id, "price": price(s, t.price), "qty": qty(s, t.qty),
             "quoteQty": price(s, t.quote_qty), "time": t.time_ms,
             "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True} for t in found.trades]


@routes.route("/api/v3/ticker/price", methods=["GET"])
def ticker_price() -> Any:
    params = parse_query(routes.current_request, MarketsParams)
    symbols = requested_symbols(params.symbol, params.symbols)
    found = with_data(
        lambda conn, cache: md.last_prices(conn, cache, symbols))
    return one_or_all(params, [{"symbol": p.market.symbol, "price": price(p.market, p.price)}
                               for p in found])


@routes.route("/api/v3/ticker/bookTicker", methods=["GET"])
def book_ticker() -> Any:
    params = parse_query(routes.current_request, MarketsParams)
    symbols = requested_symbols(params.symbol, params.symbols)
    found = with_data(
        lambda conn, cache: md.book_tickers(conn, cache, symbols))
    return one_or_all(params, [{"symbol": b.market.symbol, **top_of_book(b.market, b.top)}
                               for b in found])


@routes.route("/api/v3/avgPrice", methods=["GET"])
def avg_price() -> dict[str, object]:
    symbol = parse_query(routes.current_request, SymbolParams).symbol
    now = routes.services.now_ms()
    found = with_data(lambda conn, _: md.average_price(conn, symbol, now))
    return {"mins": found.minutes, "price": price(found.market, found.price),
            "closeTime": found.close_time}


def one_or_all(params: MarketsParams, shapes: list[dict[str, object]]) -> Any:
    """Binance answers ``symbol=`` with an object, otherwise with a list."""
    return shapes[0] if params.symbol else shapes


def top_of_book(s: MarketScales, top: TopOfBook) -> dict[str, str]:
    return {"bidPrice": price(s, top.bid_price), "bidQty": qty(s, top.bid_qty),
            "askPrice": price(s, top.ask_price), "askQty": qty(s, top.ask_qty)}


def price(s: MarketScales, units: int) -> str:
    return format_units(units, s.quote_scale)


def qty(s: MarketScales, units: int) -> str:
    return format_units(units, s.base_scale)

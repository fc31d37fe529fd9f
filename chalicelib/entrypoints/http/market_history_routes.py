"""Older trades in Binance's shapes: ``historicalTrades`` (by trade id) and
``aggTrades`` (one row per taker order and price)."""

from __future__ import annotations

from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.market_data_models import (
    AggTradesParams,
    HistoricalTradesParams,
)
from chalicelib.entrypoints.http.market_routes import price, qty, trade_shapes
from chalicelib.entrypoints.http.requests import parse_query
from chalicelib.service_layer import trade_history as history

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/historicalTrades", methods=["GET"])
def historical_trades() -> list[dict[str, object]]:
    """Binance asks for an API key here (X-MBX-APIKEY); it is accepted, not required:
    the data is public."""
    p = parse_query(routes.current_request, HistoricalTradesParams)
    svc = routes.services
    with svc.read_db() as conn:
        found = history.historical_trades(conn, svc.market_cache, p.symbol, p.from_id,
                                          p.limit)
    return trade_shapes(found)


@routes.route("/api/v3/aggTrades", methods=["GET"])
def agg_trades() -> list[dict[str, object]]:
    p = parse_query(routes.current_request, AggTradesParams)
    with routes.services.read_db() as conn:
        found = history.agg_trades(conn, p.symbol, p.from_id, p.start_time, p.end_time,
                                   p.limit)
    s = found.market
    return [{"a": t.agg_id, "p": price(s, t.price), "q": qty(s, t.qty), "f": t.first_trade_id,
             "l": t.last_trade_id, "T": t.time_ms, "m": t.buyer_is_maker, "M": True}
            for t in found.trades]

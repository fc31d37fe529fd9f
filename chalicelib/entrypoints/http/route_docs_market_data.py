"""The OpenAPI description of the market data routes added for Binance's clients."""

from __future__ import annotations

from chalicelib.entrypoints.http import api_models as api
from chalicelib.entrypoints.http import market_data_models as models
from chalicelib.entrypoints.http import market_history_routes
from chalicelib.entrypoints.http.route_doc_kinds import RouteDoc, public

ROUTES: tuple[RouteDoc, ...] = (
    public("/api/v3/historicalTrades", market_history_routes.historical_trades,
           "Older trades, from a trade id on (X-MBX-APIKEY accepted, not needed).",
           params=models.HistoricalTradesParams, answer=api.Trades),
    public("/api/v3/aggTrades", market_history_routes.agg_trades,
           "Aggregate trades: one row per taker order and price.",
           params=models.AggTradesParams, answer=models.AggTrades),
)

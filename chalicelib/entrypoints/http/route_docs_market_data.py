"""The OpenAPI description of the market data routes added for Binance's clients, and
of the 24 h ticker, which moved with the other statistics tickers."""

from __future__ import annotations

from chalicelib.entrypoints.http import api_models as api
from chalicelib.entrypoints.http import market_data_models as models
from chalicelib.entrypoints.http import (
    market_history_routes,
    market_kline_routes,
    market_ticker_routes,
)
from chalicelib.entrypoints.http.route_doc_kinds import RouteDoc, public

ROUTES: tuple[RouteDoc, ...] = (
    public("/api/v3/klines", market_kline_routes.klines, "Candles (1s to 1M, any timeZone).",
           params=models.ZonedKlinesParams, answer=api.Klines),
    public("/api/v3/uiKlines", market_kline_routes.ui_klines, "Candles, as klines.",
           params=models.ZonedKlinesParams, answer=api.Klines),
    public("/api/v3/historicalTrades", market_history_routes.historical_trades,
           "Older trades, from a trade id on (X-MBX-APIKEY accepted, not needed).",
           params=models.HistoricalTradesParams, answer=api.Trades),
    public("/api/v3/aggTrades", market_history_routes.agg_trades,
           "Aggregate trades: one row per taker order and price.",
           params=models.AggTradesParams, answer=models.AggTrades),
    public("/api/v3/ticker/24hr", market_ticker_routes.ticker_24hr,
           "24 hour rolling statistics.", params=models.Ticker24hrParams,
           answer=models.Tickers24hrAnswer),
    public("/api/v3/ticker", market_ticker_routes.window_ticker,
           "Rolling window statistics (windowSize 1m to 7d).",
           params=models.WindowTickerParams, answer=models.WindowTickers),
    public("/api/v3/ticker/tradingDay", market_ticker_routes.trading_day_ticker,
           "Statistics of the current day in a time zone.", params=models.TradingDayParams,
           answer=models.WindowTickers),
)

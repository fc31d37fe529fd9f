"""The ticker family of streams a trade feeds, in Binance's payloads: ``@ticker`` and
``!ticker@arr`` (24 h), ``@miniTicker`` and ``!miniTicker@arr``, ``@ticker_<window>``
and ``!ticker_<window>@arr`` (rolling 1h/4h/1d windows from a minute boundary up to
now, as Binance's window streams are) and ``@avgPrice``. An ``@arr`` stream carries
the markets that changed: here, the one that just traded."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import market_data_pg
from chalicelib.domain.market_data import Ticker24hr
from chalicelib.domain.money import format_units
from chalicelib.domain.orders import Market
from chalicelib.service_layer import Conn, market_data
from chalicelib.service_layer.ports import MarketCache
from chalicelib.service_layer.stream_names import TICKER_WINDOWS, Stream, StreamKind
from chalicelib.service_layer.stream_payloads import ticker_payload

MINUTE_MS = 60_000
TICKER_KINDS = frozenset({StreamKind.TICKER, StreamKind.ALL_TICKERS, StreamKind.MINI_TICKER,
                          StreamKind.ALL_MINI_TICKERS, StreamKind.WINDOW_TICKER,
                          StreamKind.ALL_WINDOW_TICKERS, StreamKind.AVG_PRICE})

Payload = dict[str, Any] | list[dict[str, Any]]


def ticker_streams(symbol: str) -> list[Stream]:
    """The ticker streams a trade of ``symbol`` feeds."""
    return [Stream(symbol, StreamKind.TICKER), Stream(symbol, StreamKind.MINI_TICKER),
            Stream(symbol, StreamKind.AVG_PRICE),
            *[Stream("", kind, speed=speed) for speed in ("", "1000ms")
              for kind in (StreamKind.ALL_TICKERS, StreamKind.ALL_MINI_TICKERS)],
            *[Stream(symbol, StreamKind.WINDOW_TICKER, w) for w in TICKER_WINDOWS],
            *[Stream("", StreamKind.ALL_WINDOW_TICKERS, w) for w in TICKER_WINDOWS]]


def ticker_payloads(conn: Conn, cache: MarketCache, market: Market, stream: Stream,
                    now_ms: int) -> Payload:
    kind = stream.kind
    symbol = market.spec.symbol
    if kind is StreamKind.AVG_PRICE:
        average = market_data.average_price(conn, symbol, now_ms)
        return {"e": "avgPrice", "E": now_ms, "s": symbol, "i": f"{average.minutes}m",
                "w": format_units(average.price, market.quote_scale), "T": average.close_time}
    if kind in (StreamKind.WINDOW_TICKER, StreamKind.ALL_WINDOW_TICKERS):
        window = window_ticker(conn, market, stream.interval, now_ms)
        return [window] if kind is StreamKind.ALL_WINDOW_TICKERS else window
    ticker = market_data.ticker_24hr(conn, cache, [symbol], now_ms)[0]
    if kind is StreamKind.TICKER:
        return ticker_payload(market, ticker, now_ms)
    if kind is StreamKind.ALL_TICKERS:
        return [ticker_payload(market, ticker, now_ms)]
    mini = mini_ticker_payload(market, ticker, now_ms)
    return [mini] if kind is StreamKind.ALL_MINI_TICKERS else mini


def mini_ticker_payload(market: Market, ticker: Ticker24hr, now_ms: int) -> dict[str, Any]:
    full = ticker_payload(market, ticker, now_ms)
    return {"e": "24hrMiniTicker", "E": now_ms, "s": full["s"], "c": full["c"],
            "o": full["o"], "h": full["h"], "l": full["l"], "v": full["v"], "q": full["q"]}


def window_ticker(conn: Conn, market: Market, window: str, now_ms: int) -> dict[str, Any]:
    """Binance's ``<window>Ticker``: the trades from the minute ``window`` ago to now."""
    start = (now_ms - TICKER_WINDOWS[window]) // MINUTE_MS * MINUTE_MS
    found = market_data_pg.read_window(conn, market.spec.symbol, start)
    last = found.last.price if found.last else 0
    totals = found.totals
    open_, high, low = (totals.open, totals.high, totals.low) if totals else (last, last, last)
    volume, quote = (totals.volume, totals.quote_volume) if totals else (0, 0)
    change = last - open_
    percent = (abs(change) * 100_000 * 2 + open_) // (2 * open_) if open_ else 0

    def price(units: int) -> str:
        return format_units(units, market.quote_scale)

    return {"e": f"{window}Ticker", "E": now_ms, "s": market.spec.symbol,
            "p": ("-" if change < 0 else "") + price(abs(change)),
            "P": ("-" if change < 0 else "") + format_units(percent, 3),
            "o": price(open_), "h": price(high), "l": price(low), "c": price(last),
            "w": price(quote * market.spec.base_unit // volume if volume else 0),
            "v": format_units(volume, market.base_scale), "q": price(quote),
            "O": start, "C": now_ms, "F": totals.first_id if totals else -1,
            "L": totals.last_id if totals else -1, "n": totals.count if totals else 0}

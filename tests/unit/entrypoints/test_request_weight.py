"""Request weights as Binance counts them, including those that depend on parameters."""

from __future__ import annotations

import pytest

from chalicelib.entrypoints.http.middleware import request_weight


@pytest.mark.parametrize(("limit", "weight"), [
    (None, 5), ("5", 5), ("100", 5), ("101", 25), ("500", 25), ("1000", 50), ("5000", 250),
    ("junk", 5),  # the handler rejects it; it still costs the default
    ("²", 5), ("٣٠٠", 5), ("9" * 30, 5), ("", 5),
])
def test_depth_weighs_by_limit(limit: str | None, weight: int) -> None:
    params = {"symbol": "BTCUSDT"} | ({"limit": limit} if limit else {})
    assert request_weight("GET", "/api/v3/depth", params) == weight


def symbols(count: int) -> dict[str, str]:
    return {"symbols": "[" + ",".join(f'"S{i}USDT"' for i in range(count)) + "]"}


def test_tickers_weigh_by_how_many_markets_they_cover() -> None:
    assert request_weight("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}) == 2
    assert [request_weight("GET", "/api/v3/ticker/24hr", symbols(n))
            for n in (1, 3, 20, 21, 100, 101)] == [2, 2, 2, 40, 40, 80]
    assert request_weight("GET", "/api/v3/ticker/24hr", None) == 80
    assert request_weight("GET", "/api/v3/ticker/price", {}) == 4
    assert request_weight("GET", "/api/v3/ticker/price", symbols(2)) == 4
    assert request_weight("GET", "/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}) == 2
    for path in ("/api/v3/ticker", "/api/v3/ticker/tradingDay"):
        assert request_weight("GET", path, {"symbol": "BTCUSDT"}) == 4
        assert [request_weight("GET", path, symbols(n)) for n in (2, 50, 51)] == [8, 200, 200]


def test_other_routes_weigh_what_the_table_says_or_one() -> None:
    assert request_weight("GET", "/api/v3/exchangeInfo", None) == 20
    assert request_weight("GET", "/api/v3/trades", {"symbol": "BTCUSDT"}) == 25
    assert request_weight("GET", "/api/v3/ping", None) == 1

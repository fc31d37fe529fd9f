"""CCXT's Binance class, unmodified but for its URLs and keys, starts against the
exchange: load_markets with API keys set walks exchangeInfo, the coins and the margin
listings; its wallet and fee calls read the sapi routes; an unknown route is a plain
exchange error, not an outage to retry."""

from __future__ import annotations

import ccxt
import pytest

from tests.e2e.clients.conftest import Trader
from tests.e2e.conftest import Caller, fund


def ccxt_binance(api_url: str, trader: Trader | None = None) -> ccxt.binance:
    """CCXT's binance with every spot URL pointed here; spot only (no futures here)."""
    exchange = ccxt.binance({
        "apiKey": trader.key.api_key if trader else None,
        "secret": trader.key.secret if trader else None,
        "options": {"fetchMarkets": {"types": ["spot"]}},
    })
    for name, url in list(exchange.urls["api"].items()):
        if name.startswith("sapi"):
            exchange.urls["api"][name] = f"{api_url}/sapi/{url.rsplit('/', 1)[1]}"
        elif name in ("public", "private", "v1"):
            exchange.urls["api"][name] = f"{api_url}/api/{url.rsplit('/', 1)[1]}"
    return exchange


@pytest.fixture
def exchange(api_url: str, maker: Trader) -> ccxt.binance:
    return ccxt_binance(api_url, maker)


def test_load_markets_with_keys_set_starts(exchange: ccxt.binance) -> None:
    markets = exchange.load_markets()

    market = markets["BTC/USDT"]
    assert (market["id"], market["spot"], market["margin"], market["active"]) == (
        "BTCUSDT", True, False, True)
    assert (market["precision"]["price"], market["limits"]["cost"]["min"]) == (0.01, 5.0)
    assert {"BTC", "USDT"} <= set(exchange.currencies)
    assert exchange.currencies["BTC"]["networks"]["BTC"]["withdraw"] is True


def test_status_fees_and_wallet_through_ccxt(
        exchange: ccxt.binance, admin: Caller, maker: Trader) -> None:
    fund(admin, maker.caller, "BTC", "0.5")

    assert exchange.fetch_status()["status"] == "ok"
    fee = exchange.fetch_trading_fee("BTC/USDT")
    assert (fee["maker"], fee["taker"]) == (0.001, 0.002)
    assert exchange.fetch_deposit_address("BTC")["address"]
    deposits = exchange.fetch_deposits("BTC")
    assert [d["amount"] for d in deposits] == [10.0, 0.5]
    assert exchange.fetch_withdrawals("BTC") == []


def test_an_unknown_route_is_an_exchange_error_not_an_outage(exchange: ccxt.binance) -> None:
    with pytest.raises(ccxt.ExchangeError) as raised:
        exchange.request("noSuchRoute", "public", "GET")

    assert not isinstance(raised.value, ccxt.NetworkError)

"""CCXT's Binance class, unmodified but for its URLs and keys, amends orders
(`edit_order` is cancelReplace), lists open orders of every market, pages its trades
and reads fee tiers as it would on Binance."""

from __future__ import annotations

import json
from typing import Any

import ccxt
import psycopg
import pytest

from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.test_ccxt_startup import ccxt_binance
from tests.e2e.conftest import Caller
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]


@pytest.fixture
def exchange(api_url: str, maker: Trader) -> ccxt.binance:
    binance = ccxt_binance(api_url, maker)
    binance.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    binance.load_markets()
    return binance


def test_edit_order_replaces_the_order(exchange: ccxt.binance, db: Conn) -> None:
    placed = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 20000)

    edited = exchange.edit_order(placed["id"], "BTC/USDT", "limit", "buy", 0.02, 19990)

    assert edited["id"] != placed["id"]
    assert (edited["price"], edited["amount"], edited["status"]) == (19990.0, 0.02, "open")
    assert exchange.fetch_order(placed["id"], "BTC/USDT")["status"] == "canceled"
    assert [o["id"] for o in exchange.fetch_open_orders()] == [edited["id"]]
    wait_until_settled(db, "BTCUSDT")
    assert_ledger_invariants(db)


def test_an_edit_of_a_filled_order_is_refused_with_binances_2022(exchange: ccxt.binance,
                                                         taker: Trader) -> None:
    placed = exchange.create_order("BTC/USDT", "limit", "sell", 0.01, 20000)
    taker.pb.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")

    with pytest.raises(ccxt.ExchangeError) as refused:
        exchange.edit_order(placed["id"], "BTC/USDT", "limit", "sell", 0.01, 20100)

    assert json.loads(str(refused.value).split(" ", 1)[1])["code"] == -2022


def test_my_trades_with_a_limit_are_the_newest(exchange: ccxt.binance, taker: Trader,
                                               db: Conn) -> None:
    for price in (20000, 20001, 20002):
        exchange.create_order("BTC/USDT", "limit", "sell", 0.01, price)
    taker.pb.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.03")
    wait_until_settled(db, "BTCUSDT")

    newest = exchange.fetch_my_trades("BTC/USDT", limit=2)

    assert [t["price"] for t in newest] == [20001.0, 20002.0]


def test_trading_fees_follow_the_accounts_tier(exchange: ccxt.binance, admin: Caller,
                                               maker: Trader) -> None:
    tiers = {"tiers": [{"tier": 1, "volumeAsset": "USDT", "minVolume": "0",
                        "makerFeePpm": 200, "takerFeePpm": 400}]}
    headers = admin.headers()
    assert admin.client.http.put("/v1/admin/fee-tiers", headers=headers,
                                 body=json.dumps(tiers)).status_code == 200
    assert admin.client.http.put(f"/v1/admin/users/{maker.caller.user_id}/fee-tier",
                                 headers=headers, body=json.dumps({"tier": 1})).status_code == 200

    fee = exchange.fetch_trading_fee("BTC/USDT")

    assert (fee["maker"], fee["taker"]) == (0.0002, 0.0004)

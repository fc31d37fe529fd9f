"""Trading end to end: the API takes orders, the matcher (in-process, on a topic of the
test's own) matches and settles them, and balances, locks, fees and the ledger are
exact to the unit afterwards.

BTCUSDT: maker fee 0.1 %, taker fee 0.2 %; the buyer pays its fee in BTC, the seller
in USDT (Binance's default)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import redis

from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]


@pytest.fixture
def buyer(admin: Caller, alice: Caller, btcusdt: str, matcher: Settings) -> ApiKey:
    fund(admin, alice, "USDT", "10000")
    return alice.new_api_key(["READ", "TRADE"])


@pytest.fixture
def seller(admin: Caller, bob: Caller, btcusdt: str, matcher: Settings) -> ApiKey:
    fund(admin, bob, "BTC", "1")
    return bob.new_api_key(["READ", "TRADE"])


def balances(key: ApiKey) -> dict[str, tuple[str, str]]:
    account = key.get("/api/v3/account").json_body
    return {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}


def order(key: ApiKey, **params: str) -> dict[str, Any]:
    response = key.post_form("/api/v3/order", {"symbol": "BTCUSDT", **params})
    assert response.status_code == 200, response.body
    return dict(response.json_body)


def status_of(key: ApiKey, order_id: int) -> str:
    return str(key.get("/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id}
                       ).json_body["status"])


def fee_account(db: Conn) -> dict[str, int]:
    return {asset: int(amount) for asset, amount in db.execute(
        "SELECT asset, available FROM balances WHERE account_kind = 'FEE'").fetchall()}


def test_a_partial_fill_at_the_makers_price_then_a_cancel(buyer: ApiKey, seller: ApiKey,
                                                          db: Conn) -> None:
    ask = order(seller, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.5",
                price="20000", newOrderRespType="RESULT")
    assert ask["status"] == "NEW"

    bid = order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.2",
                price="20100", newOrderRespType="FULL")

    assert (bid["status"], bid["executedQty"], bid["cummulativeQuoteQty"]) == (
        "FILLED", "0.20000000", "4000.000000")
    assert bid["fills"] == [{"price": "20000.000000", "qty": "0.20000000",
                             "commission": "0.00040000", "commissionAsset": "BTC",
                             "tradeId": 1}]
    assert balances(buyer) == {"USDT": ("6000.000000", "0.000000"),
                               "BTC": ("0.19960000", "0.00000000")}
    assert balances(seller) == {"BTC": ("0.50000000", "0.30000000"),
                                "USDT": ("3996.000000", "0.000000")}
    assert status_of(seller, ask["orderId"]) == "PARTIALLY_FILLED"
    assert fee_account(db) == {"BTC": 40_000, "USDT": 4_000_000}

    cancelled = seller.delete("/api/v3/order",
                              {"symbol": "BTCUSDT", "orderId": ask["orderId"]})
    assert cancelled.json_body["status"] == "CANCELED"
    assert balances(seller)["BTC"] == ("0.80000000", "0.00000000")
    trades = buyer.get("/api/v3/myTrades", {"symbol": "BTCUSDT"}).json_body
    assert [(t["isBuyer"], t["isMaker"], t["qty"]) for t in trades] == [
        (True, False, "0.20000000")]
    assert_ledger_invariants(db)


def test_a_market_buy_by_quote_amount(buyer: ApiKey, seller: ApiKey, db: Conn) -> None:
    order(seller, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.5", price="20000")

    bought = order(buyer, side="BUY", type="MARKET", quoteOrderQty="1000",
                   newOrderRespType="RESULT")

    assert (bought["status"], bought["executedQty"], bought["cummulativeQuoteQty"]) == (
        "FILLED", "0.05000000", "1000.000000")
    assert balances(buyer) == {"USDT": ("9000.000000", "0.000000"),
                               "BTC": ("0.04990000", "0.00000000")}
    assert_ledger_invariants(db)


def test_a_market_sell_fills_what_the_book_has_and_expires_the_rest(
    buyer: ApiKey, seller: ApiKey, db: Conn
) -> None:
    order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1", price="19000")

    sold = order(seller, side="SELL", type="MARKET", quantity="0.25", newOrderRespType="RESULT")

    assert (sold["status"], sold["executedQty"]) == ("EXPIRED", "0.10000000")
    assert balances(seller) == {"BTC": ("0.90000000", "0.00000000"),
                                "USDT": ("1896.200000", "0.000000")}
    assert_ledger_invariants(db)


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
def test_ioc_and_fok_without_enough_liquidity_expire_and_unlock(
    buyer: ApiKey, seller: ApiKey, db: Conn, tif: str
) -> None:
    order(seller, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.1", price="20000")

    placed = order(buyer, side="BUY", type="LIMIT", timeInForce=tif, quantity="0.3",
                   price="20000", newOrderRespType="RESULT")

    expected_fill = "0.10000000" if tif == "IOC" else "0.00000000"
    assert (placed["status"], placed["executedQty"]) == ("EXPIRED", expected_fill)
    assert balances(buyer)["USDT"][1] == "0.000000"
    assert_ledger_invariants(db)


def test_a_post_only_order_that_would_take_is_rejected_and_unlocked(
    buyer: ApiKey, seller: ApiKey, db: Conn, redis_client: redis.Redis
) -> None:
    """The engine's refusal: intake refuses what the market-data cache shows crossing
    (tests/e2e/clients/test_cancel_replace.py), so the cache here has not caught up."""
    order(seller, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.1", price="20000",
          newOrderRespType="RESULT")
    wait_until(lambda: redis_client.hget("ticker:BTCUSDT", "best_ask"), timeout=10,
               what="the matcher to publish the ask to the market-data cache")
    redis_client.delete("ticker:BTCUSDT")

    placed = order(buyer, side="BUY", type="LIMIT_MAKER", quantity="0.1", price="20000",
                   newOrderRespType="RESULT")

    assert (placed["status"], placed["executedQty"]) == ("REJECTED", "0.00000000")
    assert balances(buyer)["USDT"] == ("10000.000000", "0.000000")
    assert_ledger_invariants(db)


def test_self_trade_prevention_expires_the_maker_by_default(
    admin: Caller, alice: Caller, buyer: ApiKey, db: Conn
) -> None:
    fund(admin, alice, "BTC", "1")
    ask = order(buyer, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.1",
                price="20000")

    bid = order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                price="20000", newOrderRespType="RESULT")

    assert status_of(buyer, ask["orderId"]) == "EXPIRED_IN_MATCH"
    assert (bid["status"], bid["executedQty"]) == ("NEW", "0.00000000")
    assert buyer.get("/api/v3/myTrades", {"symbol": "BTCUSDT"}).json_body == []
    assert balances(buyer)["BTC"] == ("1.00000000", "0.00000000")
    assert_ledger_invariants(db)


def test_cancel_all_closes_every_open_order_and_unlocks(buyer: ApiKey, db: Conn) -> None:
    for price in ("19000", "19500", "19900"):
        order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1", price=price)

    response = buyer.delete("/api/v3/openOrders", {"symbol": "BTCUSDT"})

    assert [o["status"] for o in response.json_body] == ["CANCELED"] * 3
    assert balances(buyer)["USDT"] == ("10000.000000", "0.000000")
    assert buyer.get("/api/v3/openOrders", {"symbol": "BTCUSDT"}).json_body == []
    assert_ledger_invariants(db)


def test_a_halted_market_still_accepts_cancels(admin: Caller, buyer: ApiKey, db: Conn) -> None:
    resting = order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                    price="19000", newOrderRespType="RESULT")
    admin.post("/v1/admin/markets/BTCUSDT/halt", {})

    cancelled = buyer.delete("/api/v3/order",
                             {"symbol": "BTCUSDT", "orderId": resting["orderId"]})

    assert cancelled.json_body["status"] == "CANCELED"
    assert balances(buyer)["USDT"] == ("10000.000000", "0.000000")
    assert_ledger_invariants(db)


def test_amend_keeps_priority_and_frees_the_lock(buyer: ApiKey, seller: ApiKey,
                                                 db: Conn) -> None:
    first = order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.3",
                  price="20000")
    second = order(buyer, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                   price="20000")

    amended = buyer.put("/api/v3/order/amend/keepPriority",
                        {"symbol": "BTCUSDT", "orderId": first["orderId"], "newQty": "0.1"})
    assert amended.status_code == 200, amended.body
    assert amended.json_body["amendedOrder"]["origQty"] == "0.10000000"
    assert balances(buyer)["USDT"] == ("6000.000000", "4000.000000")

    order(seller, side="SELL", type="LIMIT", timeInForce="IOC", quantity="0.1", price="20000")

    assert status_of(buyer, first["orderId"]) == "FILLED", "amend down keeps its place"
    assert status_of(buyer, second["orderId"]) == "NEW"
    growing = buyer.put("/api/v3/order/amend/keepPriority",
                        {"symbol": "BTCUSDT", "orderId": second["orderId"], "newQty": "0.2"})
    assert (growing.status_code, growing.json_body["code"]) == (400, -2010)
    assert_ledger_invariants(db)

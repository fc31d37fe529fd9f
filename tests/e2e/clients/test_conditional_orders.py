"""STOP_LOSS(_LIMIT) and TAKE_PROFIT(_LIMIT) orders through python-binance and the
connector: placed with their stopPrice and their funds locked, NEW and not working
(`workingTime` -1, `isWorking` false) while they wait, set working by a trade at their
stop price, cancellable while they wait, refused as Binance refuses them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from tests.e2e.clients.amend_support import assert_shape, example
from tests.e2e.clients.conftest import Trader
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"


def trade_at(seller: Trader, buyer: Trader, price: str, qty: str = "0.01") -> None:
    """One trade at ``price``: the seller rests, the buyer takes it."""
    seller.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                           quantity=qty, price=price)
    buyer.spot.new_order(SYMBOL, "BUY", "LIMIT", timeInForce="IOC", quantity=qty,
                         price=price)


def btc(trader: Trader) -> tuple[Decimal, Decimal]:
    """(free, locked) BTC as python-binance reports it."""
    balance = trader.pb.get_asset_balance(asset="BTC")
    return Decimal(balance["free"]), Decimal(balance["locked"])


def test_a_stop_loss_limit_waits_then_sells_when_the_price_falls_to_it(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")  # last price 30,000
    free_before, _ = btc(maker)

    placed = maker.pb.create_order(
        symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity="0.02", price="28900", stopPrice="29000", newClientOrderId="my-stop")
    wait_until_settled(db, SYMBOL)
    waiting = maker.spot.get_order(SYMBOL, orderId=placed["orderId"])

    assert_shape(placed, example("stop_order_result"))
    assert (placed["status"], placed["type"], placed["workingTime"]) == (
        "NEW", "STOP_LOSS_LIMIT", -1)
    assert (Decimal(placed["stopPrice"]), Decimal(placed["price"])) == (
        Decimal("29000"), Decimal("28900"))
    assert_shape(waiting, example("all_orders")[0])
    assert (waiting["status"], waiting["isWorking"], waiting["workingTime"]) == (
        "NEW", False, -1)
    assert Decimal(waiting["stopPrice"]) == Decimal("29000")
    assert btc(maker) == (free_before - Decimal("0.02"), Decimal("0.02"))
    assert [o["orderId"] for o in maker.pb.get_open_orders(symbol=SYMBOL)] == [
        placed["orderId"]]

    # Bob bids 0.05 at 29,000 and buys 0.01 there: the last price reaches the stop, which
    # sells its 0.02 into the rest of that bid.
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                          quantity="0.05", price="29000")
    maker.spot.new_order(SYMBOL, "SELL", "LIMIT", timeInForce="GTC", quantity="0.01",
                         price="29000")
    wait_until_settled(db, SYMBOL)
    worked = maker.pb.get_order(symbol=SYMBOL, origClientOrderId="my-stop")

    assert (worked["status"], worked["executedQty"]) == ("FILLED", "0.02000000")
    assert worked["workingTime"] >= worked["time"]  # when the trade reached its stop
    assert Decimal(worked["cummulativeQuoteQty"]) == Decimal("580")  # 0.02 at 29,000
    assert [t["orderId"] for t in maker.pb.get_my_trades(symbol=SYMBOL)].count(
        placed["orderId"]) == 1
    assert btc(maker)[1] == 0
    assert_locks_match_open_orders(db, [maker.caller.user_id, taker.caller.user_id])
    assert_ledger_invariants(db)


def test_stop_market_orders_wait_and_are_cancelled_like_any_order(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    usdt_before = Decimal(taker.pb.get_asset_balance(asset="USDT")["free"])
    take_profit = taker.spot.new_order(SYMBOL, "SELL", "TAKE_PROFIT", quantity="0.01",
                                       stopPrice="31000", newOrderRespType="RESULT")
    dip = taker.spot.new_order(SYMBOL, "BUY", "TAKE_PROFIT_LIMIT", timeInForce="GTC",
                               quantity="0.01", price="28000", stopPrice="28500")
    breakout = taker.pb.create_order(symbol=SYMBOL, side="BUY", type="STOP_LOSS",
                                     quantity="0.01", stopPrice="32000")
    wait_until_settled(db, SYMBOL)
    assert [(o["type"], o["status"], o["isWorking"])
            for o in taker.spot.get_open_orders(SYMBOL)] == [
        ("TAKE_PROFIT", "NEW", False), ("TAKE_PROFIT_LIMIT", "NEW", False),
        ("STOP_LOSS", "NEW", False)]
    # The TAKE_PROFIT_LIMIT locks its notional; the STOP_LOSS, a MARKET buy by quantity,
    # all the quote left, as a MARKET order does.
    assert Decimal(taker.pb.get_asset_balance(asset="USDT")["free"]) == 0
    assert_locks_match_open_orders(db, [taker.caller.user_id])

    cancelled = taker.pb.cancel_order(symbol=SYMBOL, orderId=take_profit["orderId"])
    everything = taker.spot.cancel_open_orders(SYMBOL)
    wait_until_settled(db, SYMBOL)

    assert (cancelled["status"], cancelled["type"], Decimal(cancelled["stopPrice"])) == (
        "CANCELED", "TAKE_PROFIT", Decimal("31000"))
    assert sorted(o["orderId"] for o in everything) == sorted(
        [breakout["orderId"], dip["orderId"]])
    assert taker.pb.get_open_orders(symbol=SYMBOL) == []
    assert Decimal(taker.pb.get_asset_balance(asset="USDT")["free"]) == usdt_before
    assert_locks_match_open_orders(db, [taker.caller.user_id])
    assert_ledger_invariants(db)


REFUSALS = [
    # STOP_LOSS SELL above the last price (30,000): reached already.
    ({"type": "STOP_LOSS", "quantity": "0.01", "stopPrice": "30500"}, -2010,
     "Order would trigger immediately."),
    ({"type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "quantity": "0.01",
      "price": "29000", "stopPrice": "30000"}, -2010, "Order would trigger immediately."),
    ({"type": "TAKE_PROFIT", "quantity": "0.01", "stopPrice": "29000"}, -2010,
     "Order would trigger immediately."),
    ({"type": "STOP_LOSS", "quantity": "0.01", "trailingDelta": "100"}, -1106,
     "Parameter 'trailingDelta' sent when not required."),
    ({"type": "STOP_LOSS", "quantity": "0.01"}, -1102,
     "Parameter 'stopPrice' was not sent, was empty/null, or malformed."),
    ({"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "29000",
      "stopPrice": "29000"}, -1106, "Parameter 'stopPrice' sent when not required."),
    ({"type": "STOP_LOSS", "quantity": "0.01", "price": "29000", "stopPrice": "29000"},
     -1106, "Parameter 'price' sent when not required."),
    ({"type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "29000",
      "stopPrice": "29000"}, -1102,
     "Parameter 'timeInForce' was not sent, was empty/null, or malformed."),
    ({"type": "STOP_LOSS", "quantity": "0.01", "stopPrice": "29000.005"}, -1013,
     "Filter failure: PRICE_FILTER"),
]


@pytest.mark.parametrize(("params", "code", "msg"), REFUSALS)
def test_stop_orders_are_refused_as_binance_refuses_them(
        maker: Trader, taker: Trader, db: Conn, params: dict[str, str], code: int,
        msg: str) -> None:
    trade_at(maker, taker, "30000")
    wait_until_settled(db, SYMBOL)
    balances_before = maker.pb.get_account()["balances"]

    with pytest.raises(BinanceAPIException) as by_pb:
        maker.pb.create_order(symbol=SYMBOL, side="SELL", **params)
    with pytest.raises(BinanceAPIException) as tested_by_pb:
        maker.pb.create_test_order(symbol=SYMBOL, side="SELL", **params)
    with pytest.raises(ClientError) as by_connector:
        maker.spot.new_order(SYMBOL, "SELL", **params)

    assert (by_pb.value.code, by_pb.value.message) == (code, msg)
    assert (tested_by_pb.value.code, tested_by_pb.value.message) == (code, msg)
    assert (by_connector.value.error_code, by_connector.value.error_message) == (code, msg)
    assert maker.pb.get_account()["balances"] == balances_before
    assert maker.pb.get_open_orders(symbol=SYMBOL) == []


def test_a_waiting_stop_is_amended_down_in_place_and_its_lock_follows(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    placed = maker.pb.create_order(
        symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
        quantity="0.05", price="28900", stopPrice="29000")
    wait_until_settled(db, SYMBOL)

    amended = maker.spot.sign_request("PUT", "/api/v3/order/amend/keepPriority", {
        "symbol": SYMBOL, "orderId": placed["orderId"], "newQty": "0.02"})
    waiting = maker.pb.get_order(symbol=SYMBOL, orderId=placed["orderId"])

    assert (amended["amendedOrder"]["origQty"], amended["amendedOrder"]["workingTime"]) == (
        "0.02000000", -1)
    assert (waiting["status"], waiting["origQty"], waiting["isWorking"]) == (
        "NEW", "0.02000000", False)
    assert btc(maker)[1] == Decimal("0.02")
    assert_locks_match_open_orders(db, [maker.caller.user_id])
    assert_ledger_invariants(db)

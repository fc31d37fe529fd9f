"""`POST /api/v3/order/cancelReplace` through python-binance (`cancel_replace_order`) and
the connector (`cancel_and_replace`): both modes, the cancel restrictions, each partial
failure in Binance's shape (-2021 / -2022 with both halves in `data`), the ORDERS limit
modes, one matcher command for a price/quantity change and one half after the other
otherwise, and LIMIT_MAKER orders refused at intake when they would take."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from chalicelib.domain.clock import ManualClock
from chalicelib.settings import Settings
from tests.e2e.clients.amend_support import assert_shape, example, last_headers
from tests.e2e.clients.conftest import Trader, trader
from tests.e2e.conftest import Caller
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"


def bid(trader: Trader, price: str, qty: str = "0.01", **more: str) -> int:
    placed = trader.pb.create_order(symbol=SYMBOL, side="BUY", type="LIMIT",
                                    timeInForce="GTC", quantity=qty, price=price, **more)
    return int(placed["orderId"])


def replace_bid(trader: Trader, old: int, price: str, mode: str = "STOP_ON_FAILURE",
                **more: str) -> dict[str, Any]:
    answer: dict[str, Any] = trader.pb.cancel_replace_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
        price=price, cancelReplaceMode=mode, cancelOrderId=old, **more)
    return answer


def body_of(refused: BinanceAPIException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(refused.response.text)
    return body


def status_of(trader: Trader, order_id: int) -> str:
    return str(trader.pb.get_order(symbol=SYMBOL, orderId=order_id)["status"])


def command_kinds(db: Conn, trader: Trader) -> list[str]:
    """The kinds of the commands the API recorded for the trader, oldest first."""
    return [kind for (kind,) in db.execute(
        "SELECT kind FROM order_commands WHERE user_id = %s ORDER BY id",
        (trader.caller.user_id,)).fetchall()]


def wait_for_best_bid(trader: Trader, price: str) -> None:
    wait_until(lambda: trader.pb.get_orderbook_ticker(symbol=SYMBOL)["bidPrice"],
               until=lambda best: best == price, timeout=10,
               what=f"the best bid to be {price} in the market-data cache")


def test_a_replace_cancels_then_places_and_answers_both(maker: Trader, db: Conn) -> None:
    old = bid(maker, "20000", newClientOrderId="first")

    answer = replace_bid(maker, old, "19990", cancelNewClientOrderId="cancel-first",
                         newClientOrderId="second")

    assert (answer["cancelResult"], answer["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    cancelled, placed = answer["cancelResponse"], answer["newOrderResponse"]
    assert (cancelled["orderId"], cancelled["status"]) == (old, "CANCELED")
    assert (cancelled["origClientOrderId"], cancelled["clientOrderId"]) == (
        "first", "cancel-first")
    assert (placed["clientOrderId"], placed["price"], placed["status"]) == (
        "second", "19990.000000", "NEW")
    assert last_headers(maker.pb)["x-mbx-order-count-10s"] == "2"
    assert_shape(answer, example("cancel_replace_success"))
    assert status_of(maker, old) == "CANCELED"
    balances = {b["asset"]: b for b in maker.pb.get_account()["balances"]}
    assert balances["USDT"]["locked"] == "199.900000"
    assert command_kinds(db, maker) == ["PLACE", "CANCEL_REPLACE"]  # one matcher command
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


def test_the_funds_the_cancel_releases_pay_for_the_new_order(
        api_url: str, admin: Caller, client: Any, btcusdt: str, matcher: Settings,
        db: Conn) -> None:
    carol = trader(api_url, admin, Caller(client, "carol@example.com"))
    whole = bid(carol, "10000", qty="9.9")  # 99,000 of the 100,000 USDT

    answer = carol.spot.cancel_and_replace(
        SYMBOL, "BUY", "LIMIT", "STOP_ON_FAILURE", cancelOrderId=whole, timeInForce="GTC",
        quantity="9.9", price="10100")

    assert answer["newOrderResponse"]["status"] == "NEW"
    balances = {b["asset"]: b for b in carol.pb.get_account()["balances"]}
    assert balances["USDT"]["locked"] == "99990.000000"
    assert command_kinds(db, carol) == ["PLACE", "CANCEL", "PLACE"]  # one after the other
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


def test_stop_on_failure_places_nothing_when_the_cancel_fails(maker: Trader) -> None:
    with pytest.raises(BinanceAPIException) as refused:
        replace_bid(maker, 999_999, "19990", newClientOrderId="never")

    assert (refused.value.status_code, refused.value.code) == (400, -2022)
    assert body_of(refused.value) == {
        "code": -2022, "msg": "Order cancel-replace failed.",
        "data": {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                 "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
                 "newOrderResponse": None}}
    assert_shape(body_of(refused.value), example("cancel_replace_stop_on_failure"))
    assert maker.pb.get_open_orders(symbol=SYMBOL) == []


def test_allow_failure_places_the_new_order_when_the_old_one_has_filled(
        maker: Trader, taker: Trader, db: Conn) -> None:
    sold = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT",
                                 timeInForce="GTC", quantity="0.01", price="20000")
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01")

    with pytest.raises(ClientError) as refused:
        maker.spot.cancel_and_replace(
            SYMBOL, "SELL", "LIMIT", "ALLOW_FAILURE", cancelOrderId=sold["orderId"],
            timeInForce="GTC", quantity="0.01", price="20100", newOrderRespType="ACK")

    assert (refused.value.status_code, refused.value.error_code) == (409, -2021)
    assert refused.value.error_message == "Order cancel-replace partially failed."
    data = refused.value.error_data
    assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "SUCCESS")
    assert data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
    assert status_of(maker, data["newOrderResponse"]["orderId"]) == "NEW"
    assert_shape({"code": refused.value.error_code, "msg": refused.value.error_message,
                  "data": data}, example("cancel_replace_cancel_failed"))
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


def test_a_new_order_that_would_take_fails_after_the_cancel(maker: Trader,
                                                            taker: Trader) -> None:
    bid(taker, "20000")
    wait_for_best_bid(taker, "20000.000000")
    ask = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT_MAKER",
                                quantity="0.01", price="20100")["orderId"]

    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.cancel_replace_order(
            symbol=SYMBOL, side="SELL", type="LIMIT_MAKER", quantity="0.01", price="20000",
            cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=ask)

    body = body_of(refused.value)
    assert (refused.value.status_code, body["code"]) == (409, -2021)
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        "SUCCESS", "FAILURE")
    assert body["data"]["newOrderResponse"] == {
        "code": -2010, "msg": "Order would immediately match and take."}
    assert_shape(body, example("cancel_replace_new_order_failed"))
    assert status_of(maker, ask) == "CANCELED"


def test_allow_failure_with_both_halves_failing(maker: Trader, taker: Trader) -> None:
    bid(taker, "20000")
    wait_for_best_bid(taker, "20000.000000")

    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.cancel_replace_order(
            symbol=SYMBOL, side="SELL", type="LIMIT_MAKER", quantity="0.01", price="20000",
            cancelReplaceMode="ALLOW_FAILURE", cancelOrigClientOrderId="nobody")

    body = body_of(refused.value)
    assert (refused.value.status_code, body["code"], body["msg"]) == (
        400, -2022, "Order cancel-replace failed.")
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        "FAILURE", "FAILURE")
    assert_shape(body, example("cancel_replace_both_failed"))


@pytest.mark.parametrize(("restriction", "allowed"), [
    ("ONLY_NEW", True), ("ONLY_PARTIALLY_FILLED", False)])
def test_cancel_restrictions_on_a_new_order(maker: Trader, restriction: str,
                                            allowed: bool) -> None:
    old = bid(maker, "20000")
    try:
        answer = replace_bid(maker, old, "19990", cancelRestrictions=restriction)
    except BinanceAPIException as refused:
        answer = body_of(refused)["data"]

    assert (answer["cancelResult"] == "SUCCESS") is allowed
    assert (status_of(maker, old) == "CANCELED") is allowed
    if not allowed:
        assert answer["cancelResponse"] == {
            "code": -2011, "msg": "Order was not canceled due to cancel restrictions."}
        assert answer["newOrderResult"] == "NOT_ATTEMPTED"


def test_cancel_restriction_only_partially_filled(maker: Trader, taker: Trader) -> None:
    old = bid(maker, "20000", qty="0.02")
    taker.pb.create_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.01")
    wait_until(lambda: status_of(maker, old), until=lambda s: s == "PARTIALLY_FILLED",
               timeout=10, what="the bid to be partly filled")

    answer = replace_bid(maker, old, "19990", cancelRestrictions="ONLY_PARTIALLY_FILLED")

    assert answer["cancelResponse"]["executedQty"] == "0.01000000"
    assert answer["cancelResponse"]["status"] == "CANCELED"


def test_a_limit_maker_that_would_take_is_refused_at_intake(maker: Trader,
                                                            taker: Trader) -> None:
    bid(taker, "20000")
    wait_for_best_bid(taker, "20000.000000")

    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT_MAKER",
                              quantity="0.01", price="19999")
    with pytest.raises(ClientError) as tested:
        maker.spot.new_order_test(SYMBOL, "SELL", "LIMIT_MAKER", quantity="0.01",
                                  price="20000")
    resting = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT_MAKER",
                                    quantity="0.01", price="20000.01")

    assert (refused.value.status_code, refused.value.code, refused.value.message) == (
        400, -2010, "Order would immediately match and take.")
    assert tested.value.error_code == -2010
    assert status_of(maker, resting["orderId"]) == "NEW"
    assert maker.pb.get_all_orders(symbol=SYMBOL) == [
        maker.pb.get_order(symbol=SYMBOL, orderId=resting["orderId"])]



def test_over_the_order_limit_cancel_only_still_cancels(maker: Trader,
                                                        clock: ManualClock) -> None:
    old = bid(maker, "19000")
    for _ in range(99):
        bid(maker, "18000", newOrderRespType="ACK")

    with pytest.raises(BinanceAPIException) as nothing_done:
        replace_bid(maker, old, "19990")
    with pytest.raises(BinanceAPIException) as cancel_only:
        replace_bid(maker, old, "19990", orderRateLimitExceededMode="CANCEL_ONLY")

    assert (nothing_done.value.status_code, nothing_done.value.code) == (429, -1015)
    body = body_of(cancel_only.value)
    assert (cancel_only.value.status_code, body["code"]) == (409, -2021)
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        "SUCCESS", "FAILURE")
    assert body["data"]["newOrderResponse"]["code"] == -1015
    assert status_of(maker, old) == "CANCELED"


@pytest.mark.parametrize(("change", "code"), [
    ({"quantity": "0.00001"}, -1013),  # below the lot size: a filter
    ({"price": "20000.0000001"}, -1111),  # more decimals than USDT has
    ({"timeInForce": ""}, -1102),  # a LIMIT order needs one
    ({"symbol": "NOPEUSDT"}, -1121),
])
def test_a_new_order_refused_by_its_parameters_cancels_nothing(
        maker: Trader, change: dict[str, str], code: int) -> None:
    old = bid(maker, "20000")

    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.cancel_replace_order(**{
            "symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01", "price": "19990", "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrderId": old, **change})

    assert (refused.value.status_code, refused.value.code) == (400, code)
    assert "data" not in body_of(refused.value)
    assert status_of(maker, old) == "NEW"

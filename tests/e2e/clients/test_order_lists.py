"""Order lists through python-binance (create_oco_order, order_oco_sell/buy,
get_open_oco_orders, its v3 list methods), the connector (new_oco_order, new_oto_order,
get_oco_order, get_oco_orders, get_oco_open_orders, cancel_oco_order) and CCXT's
Binance endpoints: an OCO's legs placed together with one lock, shown with their
orderListId everywhere an order is, the first leg to work ending the other, a cancel
ending both; an OTO's pending order placed when its working order fills; refusals as
Binance's, and every answer against Binance's documented examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from tests.e2e.clients.amend_support import assert_shape, example
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.test_ccxt_startup import ccxt_binance
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


def balance(trader: Trader, asset: str) -> tuple[Decimal, Decimal]:
    """(free, locked) as python-binance reports it."""
    found = trader.pb.get_asset_balance(asset=asset)
    return Decimal(found["free"]), Decimal(found["locked"])


def assert_reports(reports: list[dict[str, Any]], documented: list[dict[str, Any]]) -> None:
    """Each order report against Binance's documented report of the same order type
    (Binance adds icebergQty only to iceberg orders, which exchangeInfo says we refuse)."""
    by_type = {d["type"]: {k: v for k, v in d.items() if k != "icebergQty"}
               for d in documented}
    for report in reports:
        assert_shape(report, by_type.get(report["type"], by_type["STOP_LOSS_LIMIT"]))


def check_settled(db: Conn, *traders: Trader) -> None:
    assert_locks_match_open_orders(db, [t.caller.user_id for t in traders])
    assert_ledger_invariants(db)


def test_a_sell_oco_locks_once_and_its_limit_maker_fill_expires_the_stop(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")  # last price 30,000
    free_before, _ = balance(maker, "BTC")

    placed = maker.pb.create_oco_order(
        symbol=SYMBOL, side="SELL", quantity="0.02", listClientOrderId="my-oco",
        aboveType="LIMIT_MAKER", abovePrice="32000", aboveClientOrderId="take-profit",
        belowType="STOP_LOSS_LIMIT", belowStopPrice="29000", belowPrice="28900",
        belowTimeInForce="GTC", belowClientOrderId="stop-loss")
    wait_until_settled(db, SYMBOL)

    documented = example("order_list_oco")
    assert_shape({k: v for k, v in placed.items() if k != "orderReports"},
                 {k: v for k, v in documented.items() if k != "orderReports"})
    assert_reports(placed["orderReports"], documented["orderReports"])
    assert (placed["contingencyType"], placed["listStatusType"], placed["listOrderStatus"],
            placed["listClientOrderId"]) == ("OCO", "EXEC_STARTED", "EXECUTING", "my-oco")
    # As Binance lists them: the below (stop) leg, then the above one.
    assert [(r["clientOrderId"], r["type"], r["status"], r["orderListId"])
            for r in placed["orderReports"]] == [
        ("stop-loss", "STOP_LOSS_LIMIT", "NEW", placed["orderListId"]),
        ("take-profit", "LIMIT_MAKER", "NEW", placed["orderListId"])]
    assert balance(maker, "BTC") == (free_before - Decimal("0.02"), Decimal("0.02"))
    open_orders = maker.pb.get_open_orders(symbol=SYMBOL)
    assert {o["orderListId"] for o in open_orders} == {placed["orderListId"]}
    assert maker.spot.get_order(SYMBOL, origClientOrderId="stop-loss")["orderListId"] == \
        placed["orderListId"]
    open_lists = maker.pb.get_open_oco_orders()
    assert_shape(open_lists, example("open_order_lists"))
    assert [o["orderListId"] for o in open_lists] == [placed["orderListId"]]

    # Bob buys 0.02 at 32,000: the LIMIT_MAKER leg fills, the stop leg expires.
    taker.spot.new_order(SYMBOL, "BUY", "LIMIT", timeInForce="IOC", quantity="0.02",
                         price="32000")
    wait_until_settled(db, SYMBOL)

    done = maker.spot.get_oco_order(orderListId=placed["orderListId"])
    assert_shape(done, example("open_order_lists")[0])
    assert (done["listStatusType"], done["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    statuses = {o["clientOrderId"]: o["status"] for o in maker.pb.get_all_orders(symbol=SYMBOL)}
    assert (statuses["take-profit"], statuses["stop-loss"]) == ("FILLED", "EXPIRED")
    take_profit_id = placed["orderReports"][1]["orderId"]
    assert {t["orderListId"] for t in maker.spot.my_trades(SYMBOL)
            if t["orderId"] == take_profit_id} == {placed["orderListId"]}
    assert maker.spot.get_oco_open_orders() == []
    assert balance(maker, "BTC") == (free_before - Decimal("0.02"), Decimal(0))
    check_settled(db, maker, taker)


def test_a_buy_oco_works_its_stop_leg_when_the_price_rises(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    free_before, _ = balance(taker, "USDT")

    placed = taker.spot.new_oco_order(
        SYMBOL, "BUY", "0.01", "STOP_LOSS_LIMIT", "LIMIT_MAKER", aboveStopPrice="31000",
        abovePrice="31500", aboveTimeInForce="GTC", belowPrice="28000")
    wait_until_settled(db, SYMBOL)
    # One lock for the pair: what the dearer leg needs, 0.01 at 31,500.
    assert balance(taker, "USDT") == (free_before - Decimal("315"), Decimal("315"))

    # A trade at 31,000 sets the stop leg working (the LIMIT_MAKER expires); it buys
    # 0.01 from Alice's offer at 31,200 with the lock it inherited.
    maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                          quantity="0.02", price="31200")
    trade_at(maker, taker, "31000")
    wait_until_settled(db, SYMBOL)

    legs = {o["type"]: o for o in taker.pb.get_all_orders(symbol=SYMBOL)
            if o["orderListId"] == placed["orderListId"]}
    assert (legs["STOP_LOSS_LIMIT"]["status"], legs["LIMIT_MAKER"]["status"]) == (
        "FILLED", "EXPIRED")
    assert Decimal(legs["STOP_LOSS_LIMIT"]["cummulativeQuoteQty"]) == Decimal("312")
    assert balance(taker, "USDT")[1] == 0
    history = taker.spot.get_oco_orders(limit=10)
    assert_shape(history, example("open_order_lists"))
    assert [(o["orderListId"], o["listOrderStatus"]) for o in history] == [
        (placed["orderListId"], "ALL_DONE")]
    assert taker.spot.get_oco_orders(fromId=placed["orderListId"] + 1) == []
    with pytest.raises(ClientError) as mixed:  # fromId with a time window, as Binance
        taker.spot.get_oco_orders(fromId=placed["orderListId"], startTime=history[0][
            "transactionTime"])
    assert mixed.value.error_code == -1128
    check_settled(db, maker, taker)


def test_cancelling_a_list_cancels_both_legs_and_frees_the_lock(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    free_before, _ = balance(maker, "BTC")
    placed = maker.pb.order_oco_sell(
        symbol=SYMBOL, quantity="0.03", listClientOrderId="to-cancel",
        aboveType="LIMIT_MAKER", abovePrice="33000", belowType="STOP_LOSS",
        belowStopPrice="28000")
    wait_until_settled(db, SYMBOL)

    cancelled = maker.spot.cancel_oco_order(SYMBOL, listClientOrderId="to-cancel")

    documented = example("order_list_cancel")
    assert_shape({k: v for k, v in cancelled.items() if k != "orderReports"},
                 {k: v for k, v in documented.items() if k != "orderReports"})
    assert_reports(cancelled["orderReports"], documented["orderReports"])
    assert cancelled["orderListId"] == placed["orderListId"]
    assert (cancelled["listStatusType"], cancelled["listOrderStatus"]) == (
        "ALL_DONE", "ALL_DONE")
    assert {r["status"] for r in cancelled["orderReports"]} == {"CANCELED"}
    assert balance(maker, "BTC") == (free_before, Decimal(0))
    with pytest.raises(ClientError) as again:
        maker.spot.cancel_oco_order(SYMBOL, orderListId=placed["orderListId"])
    assert again.value.error_code == -2011
    check_settled(db, maker, taker)


@pytest.mark.parametrize(("params", "code"), [
    # The above leg under the last price: Binance's price relationship.
    ({"aboveType": "LIMIT_MAKER", "abovePrice": "29500", "belowType": "STOP_LOSS",
      "belowStopPrice": "29000"}, -2010),
    # A SELL cannot stop its loss above.
    ({"aboveType": "STOP_LOSS", "aboveStopPrice": "31000", "belowType": "STOP_LOSS",
      "belowStopPrice": "29000"}, -1158),
    ({"aboveType": "LIMIT_MAKER", "abovePrice": "31000", "belowType": "STOP_LOSS_LIMIT",
      "belowStopPrice": "29000", "belowPrice": "28900"}, -1102),  # no belowTimeInForce
    ({"aboveType": "LIMIT_MAKER", "abovePrice": "31000", "aboveTimeInForce": "GTC",
      "belowType": "STOP_LOSS", "belowStopPrice": "29000"}, -1106),
    ({"aboveType": "LIMIT_MAKER", "abovePrice": "31000.001", "belowType": "STOP_LOSS",
      "belowStopPrice": "29000"}, -1013),  # off the tick: PRICE_FILTER
])
def test_a_refused_list_locks_nothing(maker: Trader, taker: Trader, db: Conn,
                                      params: dict[str, str], code: int) -> None:
    trade_at(maker, taker, "30000")
    before = balance(maker, "BTC")
    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.create_oco_order(symbol=SYMBOL, side="SELL", quantity="0.01", **params)
    assert refused.value.code == code
    assert balance(maker, "BTC") == before
    assert maker.pb.get_open_oco_orders() == []
    check_settled(db, maker, taker)


def test_the_deprecated_order_oco_route_places_a_limit_maker_and_a_stop(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    placed = maker.spot.sign_request("POST", "/api/v3/order/oco", {
        "symbol": SYMBOL, "side": "SELL", "quantity": "0.01", "price": "31000",
        "stopPrice": "29000", "stopLimitPrice": "28900", "stopLimitTimeInForce": "GTC"})
    wait_until_settled(db, SYMBOL)

    assert_reports(placed["orderReports"], example("order_list_oco")["orderReports"])
    assert sorted(r["type"] for r in placed["orderReports"]) == [
        "LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    listed = maker.spot.get_oco_order(orderListId=placed["orderListId"])
    assert listed["listOrderStatus"] == "EXECUTING"
    check_settled(db, maker, taker)


def test_an_oto_places_its_pending_order_once_the_working_order_fills(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    usdt_before, btc_before = balance(taker, "USDT")[0], balance(taker, "BTC")[0]

    placed = taker.spot.new_oto_order(
        SYMBOL, "LIMIT", "BUY", "29000", "0.01", "LIMIT_MAKER", "SELL", "0.01",
        workingTimeInForce="GTC", pendingPrice="32000", listClientOrderId="buy-then-sell",
        pendingClientOrderId="then-sell")
    wait_until_settled(db, SYMBOL)

    documented = example("order_list_oto")
    assert_shape({k: v for k, v in placed.items() if k != "orderReports"},
                 {k: v for k, v in documented.items() if k != "orderReports"})
    for report in placed["orderReports"]:
        assert_shape(report, documented["orderReports"][0])
    assert [(r["type"], r["status"], r["workingTime"] == -1) for r in placed["orderReports"]
            ] == [("LIMIT", "NEW", False), ("LIMIT_MAKER", "PENDING_NEW", True)]
    assert placed["contingencyType"] == "OTO"
    # The working order's quote and the pending order's base are both locked.
    assert balance(taker, "USDT") == (usdt_before - Decimal("290"), Decimal("290"))
    assert balance(taker, "BTC") == (btc_before - Decimal("0.01"), Decimal("0.01"))
    pending = taker.pb.get_order(symbol=SYMBOL, origClientOrderId="then-sell")
    assert (pending["status"], pending["orderListId"]) == ("PENDING_NEW", placed["orderListId"])

    # Alice sells 0.01 at 29,000: the working order fills, the pending one goes on the book.
    maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                          quantity="0.01", price="29000")
    wait_until_settled(db, SYMBOL)

    pending = taker.pb.get_order(symbol=SYMBOL, origClientOrderId="then-sell")
    assert (pending["status"], pending["isWorking"]) == ("NEW", True)
    listed = taker.pb.v3_get_order_list(orderListId=placed["orderListId"])
    assert (listed["listStatusType"], listed["listOrderStatus"]) == (
        "EXEC_STARTED", "EXECUTING")
    check_settled(db, maker, taker)


def test_cancelling_an_otos_pending_order_cancels_the_list(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    placed = taker.spot.new_oto_order(
        SYMBOL, "LIMIT", "BUY", "29000", "0.01", "LIMIT_MAKER", "SELL", "0.01",
        workingTimeInForce="GTC", pendingPrice="32000", pendingClientOrderId="waits")
    wait_until_settled(db, SYMBOL)

    cancelled = taker.pb.cancel_order(symbol=SYMBOL, origClientOrderId="waits")

    assert (cancelled["status"], cancelled["orderListId"]) == (
        "CANCELED", placed["orderListId"])
    legs = [o["status"] for o in taker.pb.get_all_orders(symbol=SYMBOL)
            if o["orderListId"] == placed["orderListId"]]
    assert legs == ["CANCELED", "CANCELED"]  # the working order with it
    assert taker.spot.get_oco_order(orderListId=placed["orderListId"])[
        "listOrderStatus"] == "ALL_DONE"
    check_settled(db, maker, taker)


def test_an_otoco_is_cancelled_whole_through_python_binance(
        maker: Trader, taker: Trader, db: Conn) -> None:
    trade_at(maker, taker, "30000")
    usdt_before, btc_before = balance(taker, "USDT")[0], balance(taker, "BTC")[0]

    placed = taker.pb.v3_post_order_list_otoco(
        symbol=SYMBOL, workingType="LIMIT", workingSide="BUY", workingPrice="29000",
        workingQuantity="0.01", workingTimeInForce="GTC", pendingSide="SELL",
        pendingQuantity="0.01", pendingAboveType="LIMIT_MAKER", pendingAbovePrice="32000",
        pendingBelowType="STOP_LOSS_LIMIT", pendingBelowStopPrice="28000",
        pendingBelowPrice="27900", pendingBelowTimeInForce="GTC")
    wait_until_settled(db, SYMBOL)
    assert sorted((r["type"], r["status"]) for r in placed["orderReports"]) == [
        ("LIMIT", "NEW"), ("LIMIT_MAKER", "PENDING_NEW"), ("STOP_LOSS_LIMIT", "PENDING_NEW")]
    with pytest.raises(ClientError) as amend:  # a list's working order keeps its size
        taker.spot.sign_request("PUT", "/api/v3/order/amend/keepPriority", {
            "symbol": SYMBOL, "orderId": placed["orders"][0]["orderId"], "newQty": "0.005"})
    assert amend.value.error_code == -2010

    cancelled = taker.pb.v3_delete_order_list(symbol=SYMBOL,
                                              orderListId=placed["orderListId"])
    assert {r["status"] for r in cancelled["orderReports"]} == {"CANCELED"}
    assert (cancelled["listStatusType"], cancelled["listOrderStatus"]) == (
        "ALL_DONE", "ALL_DONE")
    assert balance(taker, "USDT") == (usdt_before, Decimal(0))
    assert balance(taker, "BTC") == (btc_before, Decimal(0))
    history = taker.pb.v3_get_all_order_list()
    assert [o["contingencyType"] for o in history] == ["OTO"]
    check_settled(db, maker, taker)


def test_ccxt_places_lists_and_reads_them_through_its_binance_endpoints(
        api_url: str, maker: Trader, taker: Trader, db: Conn) -> None:
    exchange = ccxt_binance(api_url, maker)
    exchange.load_markets()
    trade_at(maker, taker, "30000")
    oco = exchange.private_post_orderlist_oco({
        "symbol": SYMBOL, "side": "SELL", "quantity": "0.01", "aboveType": "LIMIT_MAKER",
        "abovePrice": "31000", "belowType": "STOP_LOSS", "belowStopPrice": "29000"})
    oto = exchange.private_post_orderlist_oto({
        "symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY",
        "workingPrice": "29500", "workingQuantity": "0.01", "workingTimeInForce": "GTC",
        "pendingType": "LIMIT", "pendingSide": "SELL", "pendingQuantity": "0.01",
        "pendingPrice": "31500", "pendingTimeInForce": "GTC"})
    wait_until_settled(db, SYMBOL)

    assert sorted(o["orderListId"] for o in exchange.private_get_openorderlist()) == sorted(
        [int(oco["orderListId"]), int(oto["orderListId"])])
    # CCXT's unified open orders see the lists' orders that are on the book.
    assert {o["info"]["orderListId"] for o in exchange.fetch_open_orders("BTC/USDT")} == {
        oco["orderListId"], oto["orderListId"]}
    exchange.private_delete_orderlist({"symbol": SYMBOL, "orderListId": oto["orderListId"]})
    listed = exchange.private_get_orderlist({"orderListId": oto["orderListId"]})
    assert listed["listOrderStatus"] == "ALL_DONE"
    check_settled(db, maker, taker)

"""Order history as Binance pages it, through python-binance and the connector:
open orders over every market, `allOrders` and `myTrades` answering the newest rows
unless a start is given, and cancels answering with `transactTime`."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from tests.e2e.clients.amend_support import (
    assert_shape,
    create_ethusdt,
    example,
    used_weight,
)
from tests.e2e.clients.conftest import Trader
from tests.e2e.conftest import Caller
from tests.e2e.settling import wait_until_settled

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
DAY_MS = 24 * 60 * 60 * 1000


def bid(trader: Trader, price: str, symbol: str = SYMBOL) -> int:
    placed = trader.pb.create_order(symbol=symbol, side="BUY", type="LIMIT",
                                    timeInForce="GTC", quantity="0.01", price=price)
    return int(placed["orderId"])


def test_open_orders_without_a_symbol_lists_every_market_at_weight_80(
        maker: Trader, admin: Caller) -> None:
    create_ethusdt(admin)
    in_btc = bid(maker, "20000")
    in_eth = bid(maker, "1000", "ETHUSDT")
    bid(maker, "1001", "ETHUSDT")
    maker.pb.cancel_order(symbol="ETHUSDT", orderId=in_eth)

    through_pb = maker.pb.get_open_orders()
    weight_before = used_weight(maker.pb)
    maker.pb.get_open_orders()
    everywhere_weight = used_weight(maker.pb) - weight_before
    maker.pb.get_open_orders(symbol=SYMBOL)
    one_market_weight = used_weight(maker.pb) - weight_before - everywhere_weight
    through_connector = maker.spot.get_open_orders()

    assert [(o["symbol"], o["price"]) for o in through_pb] == [
        ("BTCUSDT", "20000.000000"), ("ETHUSDT", "1001.000000")]
    assert through_connector == through_pb
    assert through_pb[0]["orderId"] == in_btc
    assert (everywhere_weight, one_market_weight) == (80, 6)
    assert_shape(through_pb, example("all_orders"))


def test_all_orders_with_a_limit_answers_the_newest_unless_a_start_is_given(
        maker: Trader) -> None:
    ids = [bid(maker, f"{20000 + i}") for i in range(5)]

    newest = maker.pb.get_all_orders(symbol=SYMBOL, limit=2)
    from_first = maker.spot.get_orders(SYMBOL, orderId=ids[0], limit=2)
    from_third = maker.pb.get_all_orders(symbol=SYMBOL, orderId=ids[2])
    since_start = maker.spot.get_orders(SYMBOL, startTime=newest[0]["time"] - DAY_MS + 1,
                                        limit=1)
    until_end = maker.pb.get_all_orders(symbol=SYMBOL, endTime=newest[1]["time"], limit=3)

    assert [o["orderId"] for o in newest] == ids[3:]
    assert [o["orderId"] for o in from_first] == ids[:2]
    assert [o["orderId"] for o in from_third] == ids[2:]
    assert [o["orderId"] for o in since_start] == ids[:1]
    assert [o["orderId"] for o in until_end] == ids[2:]
    assert_shape(newest, example("all_orders"))


def test_my_trades_with_a_limit_answers_the_newest(maker: Trader, taker: Trader,
                                                    db: Conn) -> None:
    for price in ("20000", "20001", "20002"):
        maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                              quantity="0.01", price=price)
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.03")
    wait_until_settled(db, SYMBOL)

    every = maker.pb.get_my_trades(symbol=SYMBOL)
    newest = maker.pb.get_my_trades(symbol=SYMBOL, limit=1)
    from_first = maker.spot.my_trades(SYMBOL, fromId=every[0]["id"], limit=2)

    assert [t["price"] for t in every] == ["20000.000000", "20001.000000", "20002.000000"]
    assert newest == every[2:]
    assert from_first == every[:2]
    assert_shape(every, example("my_trades"))


def test_history_windows_binance_refuses(maker: Trader) -> None:
    bid(maker, "20000")
    with pytest.raises(BinanceAPIException) as too_long:
        maker.pb.get_all_orders(symbol=SYMBOL, startTime=1, endTime=DAY_MS + 2)
    with pytest.raises(ClientError) as combined:
        maker.spot.my_trades(SYMBOL, fromId=1, startTime=1)
    with pytest.raises(BinanceAPIException) as reversed_window:
        maker.pb.get_my_trades(symbol=SYMBOL, startTime=2, endTime=1)

    assert too_long.value.code == -1127
    assert combined.value.error_code == -1128
    assert reversed_window.value.code == -1023


def test_cancels_answer_with_the_transaction_time(maker: Trader) -> None:
    one = bid(maker, "20000")
    bid(maker, "20001")

    cancelled = maker.pb.cancel_order(symbol=SYMBOL, orderId=one,
                                      newClientOrderId="cancelMyOrder1")
    every = maker.spot.cancel_open_orders(SYMBOL)

    assert_shape(cancelled, example("cancel_order"))
    assert cancelled["clientOrderId"] == "cancelMyOrder1"
    assert cancelled["status"] == "CANCELED"
    assert [o["status"] for o in every] == ["CANCELED"]
    for answer in (cancelled, *every):
        assert abs(answer["transactTime"] - answer["workingTime"]) < 60_000
    assert_shape(every, [example("cancel_order")])

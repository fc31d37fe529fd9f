"""Binance's ORDERS limits per account (100 new orders in 10 seconds, 200,000 a day, as
exchangeInfo says), counted on a clock the test sets: the counts in the
X-MBX-ORDER-COUNT headers and `GET /api/v3/rateLimit/order`, and -1015 with 429 once
over, placing nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from chalicelib.domain.clock import ManualClock
from tests.e2e.clients.amend_support import assert_shape, example, last_headers
from tests.e2e.clients.conftest import Trader
from tests.e2e.settling import wait_until_settled

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
PER_10S = 100



def bid(trader: Trader, price: str = "10000") -> dict[str, Any]:
    placed: dict[str, Any] = trader.pb.create_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001",
        price=price, newOrderRespType="ACK")
    return placed


def order_counts(trader: Trader) -> tuple[str, str]:
    headers = last_headers(trader.pb)
    return headers["x-mbx-order-count-10s"], headers["x-mbx-order-count-1d"]


def test_each_placement_answers_the_accounts_order_counts(maker: Trader, taker: Trader,
                                                           clock: ManualClock) -> None:
    bid(maker)
    first = order_counts(maker)
    bid(maker)
    second = order_counts(maker)
    bid(taker)
    others = order_counts(taker)
    maker.pb.get_open_orders(symbol=SYMBOL)

    assert (first, second, others) == (("1", "1"), ("2", "2"), ("1", "1"))
    assert "x-mbx-order-count-10s" not in last_headers(maker.pb)


def test_rate_limit_order_shows_the_counts_in_binances_shape(maker: Trader,
                                                             clock: ManualClock) -> None:
    bid(maker)
    through_pb = maker.pb.get_current_order_count()
    through_connector = maker.spot.get_order_rate_limit()

    assert through_pb == through_connector == [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
         "limit": PER_10S, "count": 1},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000,
         "count": 1}]
    assert_shape(through_pb, example("rate_limit_order"))


def test_one_order_over_the_10s_limit_is_refused_with_429_and_placed_nowhere(
        maker: Trader, clock: ManualClock, db: Conn) -> None:
    for _ in range(PER_10S):
        bid(maker)
    with pytest.raises(BinanceAPIException) as refused:
        bid(maker, "10001")
    with pytest.raises(ClientError) as refused_again:
        maker.spot.new_order(SYMBOL, "BUY", "LIMIT", timeInForce="GTC", quantity="0.001",
                             price="10002")
    wait_until_settled(db, SYMBOL)
    open_prices = {o["price"] for o in maker.pb.get_open_orders(symbol=SYMBOL)}
    clock.advance(10_000)
    bid(maker, "10003")

    assert (refused.value.status_code, refused.value.code) == (429, -1015)
    assert refused.value.message == (
        "Too many new orders; current limit is 100 orders per 10 SECOND.")
    assert refused_again.value.status_code == 429
    assert refused_again.value.error_code == -1015
    assert open_prices == {"10000.000000"}
    assert order_counts(maker) == ("1", "103")

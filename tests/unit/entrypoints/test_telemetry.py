"""What the API's telemetry reads from an answer: which limit refused it, which orders
a placement's answer accepted, and bounded labels."""

from __future__ import annotations

import pytest

from chalicelib.entrypoints.http.telemetry import (
    PlacedOrder,
    placed_orders,
    refused_limit,
    type_label,
)


@pytest.mark.parametrize(("body", "limit"), [
    ({"code": -1003, "msg": "Too much request weight used; current limit is 6000 request"
                            " weight per 1 MINUTE."}, "ip_weight"),
    ({"code": -1003, "msg": "Too much request weight used on this API key; the limit is"
                            " 6000 per minute."}, "api_key_weight"),
    ({"code": -1003, "msg": "Too many failed logins; try again later."}, "login_failures"),
    ({"code": -1003, "msg": "Too many wrong two-factor codes; try again later."},
     "totp_failures"),
    ({"code": -1015, "msg": "Too many new orders; current limit is 100 orders per 10"
                            " SECOND."}, "orders_per_10_second"),
    ({"code": -1015, "msg": "Too many new orders; current limit is 200000 orders per 1"
                            " DAY."}, "orders_per_1_day"),
    ({}, "unknown"),
])
def test_a_refusal_names_the_limit_it_hit(body: dict[str, object], limit: str) -> None:
    assert refused_limit(body) == limit


def test_a_placement_answer_names_its_orders() -> None:
    one = {"symbol": "BTCUSDT", "orderId": 7, "clientOrderId": "x-7", "orderListId": -1}
    listed = {"orderListId": 3, "symbol": "BTCUSDT", "orders": [
        {"symbol": "BTCUSDT", "orderId": 8, "clientOrderId": "a"},
        {"symbol": "BTCUSDT", "orderId": 9, "clientOrderId": "b"}]}
    replaced = {"code": -2021, "msg": "Order cancel-replace partially failed.", "data": {
        "cancelResult": "FAILURE", "newOrderResult": "SUCCESS",
        "cancelResponse": {"code": -2011}, "newOrderResponse": one}}
    failed = {"code": -2021, "data": {"cancelResult": "SUCCESS",
                                      "newOrderResult": "FAILURE",
                                      "newOrderResponse": {"code": -2010}}}

    assert list(placed_orders(one)) == [PlacedOrder("BTCUSDT", 7, "x-7")]
    assert list(placed_orders(listed)) == [PlacedOrder("BTCUSDT", 8, "a", 3),
                                           PlacedOrder("BTCUSDT", 9, "b", 3)]
    assert list(placed_orders(replaced)) == [PlacedOrder("BTCUSDT", 7, "x-7")]
    assert list(placed_orders(failed)) == []
    assert list(placed_orders({"code": -1013, "msg": "Filter failure"})) == []


def test_an_order_type_outside_the_types_is_unknown() -> None:
    assert (type_label("LIMIT"), type_label("limit"), type_label("STOP")) == (
        "LIMIT", "unknown", "unknown")

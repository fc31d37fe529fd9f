"""Binance's JSON shapes for order lists: the list, its orders, and (when placed or
cancelled) each order's report."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.order_lists import list_status
from chalicelib.domain.orders import Market, OrderStatus
from chalicelib.entrypoints.http import order_presenters as shapes


def summary(found: dict[str, Any]) -> dict[str, Any]:
    """The list as the list queries answer it."""
    status_type, order_status = list_status(OrderStatus(o["status"]) for o in found["orders"])
    return {
        "orderListId": found["id"], "contingencyType": found["contingency_type"],
        "listStatusType": status_type.value, "listOrderStatus": order_status.value,
        "listClientOrderId": found["list_client_order_id"],
        "transactionTime": shapes.millis(found["created_at"]), "symbol": found["market"],
        "orders": [{"symbol": o["market"], "orderId": o["id"],
                    "clientOrderId": o["client_order_id"]} for o in found["orders"]],
    }


def placed(market: Market, found: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A placement's answer: the list, and each order as `POST /api/v3/order` answers."""
    return {**summary(found), "transactionTime": now_ms,
            "orderReports": [shapes.result(market, o, now_ms) for o in found["orders"]]}


def acknowledged(found: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A placement's answer with newOrderRespType ACK: the list without order reports."""
    return {**summary(found), "transactionTime": now_ms}


def cancelled(market: Market, found: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A cancel's answer: the list, and each order as `DELETE /api/v3/order` answers."""
    return {**summary(found), "transactionTime": now_ms,
            "orderReports": [shapes.cancelled(market, o, None, now_ms)
                             for o in found["orders"]]}

"""Binance's ``listStatus`` user-stream event for the orders of an order list.

Sent after an order's execution reports: once when the list is placed (on the first
event of its first order) and once when it is all done (on the final event of its last
order: an OCO's legs end in the same command, an OTO's pending orders after their
working order), so each list is announced exactly twice however the fan-out batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain.order_lists import ListOrderStatus, ListStatusType, list_status
from chalicelib.domain.orders import OrderStatus
from chalicelib.domain.stream_events import OrderEvent
from chalicelib.service_layer import Conn, order_lists

_LIVE = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_NEW)


def list_status_events(conn: Conn, event: OrderEvent, order: Mapping[str, Any],
                       first: bool, now_ms: int) -> list[dict[str, Any]]:
    """The ``listStatus`` this order event announces (none for most events)."""
    if order["order_list_id"] is None:
        return []
    found = order_lists.find_list(conn, event.user_id, list_id=int(order["order_list_id"]),
                                  list_client_order_id=None)
    ids = [int(o["id"]) for o in found["orders"]]
    if first and event.order_id == min(ids):
        return [payload(found, ListStatusType.EXEC_STARTED, ListOrderStatus.EXECUTING,
                        now_ms)]
    status_type, order_status = list_status(OrderStatus(o["status"]) for o in found["orders"])
    if (event.order_id == max(ids) and event.status not in _LIVE
            and status_type is ListStatusType.ALL_DONE):
        return [payload(found, status_type, order_status, now_ms)]
    return []


def payload(found: Mapping[str, Any], status_type: ListStatusType,
            order_status: ListOrderStatus, now_ms: int) -> dict[str, Any]:
    return {
        "e": "listStatus", "E": now_ms, "s": found["market"], "g": found["id"],
        "c": found["contingency_type"], "l": status_type.value, "L": order_status.value,
        "r": "NONE", "C": found["list_client_order_id"], "T": now_ms,
        "O": [{"s": o["market"], "i": o["id"], "c": o["client_order_id"]}
              for o in found["orders"]],
    }

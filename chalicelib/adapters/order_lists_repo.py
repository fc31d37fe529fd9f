"""SQL for order lists (OCO, OTO, OTOCO): the list rows and their orders.

Each function runs in the caller's transaction; none commits.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from chalicelib.adapters.orders_repo import ORDER_COLUMNS, ORDER_FIELDS
from chalicelib.domain.params import within_timestamps

Conn = psycopg.Connection[Any]

LIST_FIELDS = ("id", "market", "list_client_order_id", "contingency_type", "created_at")
_LIST_COLUMNS = sql.SQL("id, market, list_client_order_id, contingency_type, created_at")


def insert_list(conn: Conn, user_id: int, market: str, list_client_order_id: str,
                contingency_type: str) -> int:
    row = conn.execute(
        "INSERT INTO order_lists (user_id, market, list_client_order_id, contingency_type)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (user_id, market, list_client_order_id, contingency_type)).fetchone()
    assert row is not None
    return int(row[0])


def link_oco_legs(conn: Conn, first: int, second: int) -> None:
    """Each of an OCO's two legs names the other."""
    conn.execute("UPDATE orders SET oco_sibling_id = CASE id WHEN %s THEN %s ELSE %s END"
                 " WHERE id IN (%s, %s)", (first, second, first, first, second))


def list_client_id_in_use(conn: Conn, user_id: int, list_client_order_id: str) -> bool:
    """True when one of the user's lists with this client id still has an open order."""
    return conn.execute(
        "SELECT 1 FROM order_lists l JOIN orders o ON o.order_list_id = l.id"
        " WHERE l.user_id = %s AND l.list_client_order_id = %s"
        " AND o.status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_NEW') LIMIT 1",
        (user_id, list_client_order_id)).fetchone() is not None


def find_list(conn: Conn, user_id: int, *, list_id: int | None = None,
              list_client_order_id: str | None = None) -> dict[str, Any] | None:
    """One of the user's lists by id, or the newest with that client id."""
    where = sql.SQL("id = %s") if list_id is not None else sql.SQL("list_client_order_id = %s")
    row = conn.execute(sql.SQL(
        "SELECT {} FROM order_lists WHERE user_id = %s AND {} ORDER BY id DESC LIMIT 1"
    ).format(_LIST_COLUMNS, where),
        (user_id, list_id if list_id is not None else list_client_order_id)).fetchone()
    return None if row is None else dict(zip(LIST_FIELDS, row, strict=True))


def lists_in(conn: Conn, user_id: int, *, from_id: int | None, start_ms: int | None,
             end_ms: int | None, limit: int) -> list[dict[str, Any]]:
    """The user's lists from ``from_id`` or ``start`` on, or else the newest up to
    ``end`` (as Binance's allOrderList), in id order."""
    rows = conn.execute(sql.SQL(
        "SELECT * FROM (SELECT {} FROM order_lists WHERE user_id = %(user)s"
        " AND (%(from)s::bigint IS NULL OR id >= %(from)s)"
        " AND (%(start)s::bigint IS NULL OR created_at >= to_timestamp(%(start)s / 1000.0))"
        " AND (%(end)s::bigint IS NULL OR created_at < to_timestamp((%(end)s + 1) / 1000.0))"
        " ORDER BY CASE WHEN %(from)s::bigint IS NULL AND %(start)s::bigint IS NULL"
        " THEN -id ELSE id END LIMIT %(limit)s)"
        " AS l ORDER BY id").format(_LIST_COLUMNS),
        {"user": user_id, "from": from_id, "start": within_timestamps(start_ms),
         "end": within_timestamps(end_ms), "limit": limit}).fetchall()
    return [dict(zip(LIST_FIELDS, row, strict=True)) for row in rows]


def open_lists(conn: Conn, user_id: int) -> list[dict[str, Any]]:
    """The user's lists that still have an open order, oldest first."""
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM order_lists l WHERE user_id = %s AND EXISTS (SELECT 1 FROM orders o"
        " WHERE o.order_list_id = l.id AND o.status IN ('NEW', 'PARTIALLY_FILLED',"
        " 'PENDING_NEW')) ORDER BY id").format(_LIST_COLUMNS), (user_id,)).fetchall()
    return [dict(zip(LIST_FIELDS, row, strict=True)) for row in rows]


def orders_of(conn: Conn, list_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each list's orders, in id order (the order they were placed in the list)."""
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE order_list_id = ANY(%s) ORDER BY id"
    ).format(ORDER_COLUMNS), (list_ids,)).fetchall()
    found: dict[int, list[dict[str, Any]]] = {list_id: [] for list_id in list_ids}
    for row in rows:
        order = dict(zip(ORDER_FIELDS, row, strict=True))
        found[int(order["order_list_id"])].append(order)
    return found

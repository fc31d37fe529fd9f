"""SQL for a user's order and trade history as Binance pages it.

Binance answers the newest rows unless the caller starts from an id or a time; either
way the rows come back oldest first. Each function runs in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from chalicelib.adapters.orders_repo import ORDER_COLUMNS, ORDER_FIELDS, TRADE_FIELDS, USER_TRADES
from chalicelib.domain.params import within_timestamps

Conn = psycopg.Connection[Any]


def _direction(oldest_first: bool) -> sql.Composable:
    return sql.SQL("ASC" if oldest_first else "DESC")


def orders_page(conn: Conn, user_id: int, market: str, *, from_id: int | None,
                start_ms: int | None, end_ms: int | None, limit: int) -> list[dict[str, Any]]:
    """The user's orders in a market: from ``from_id`` or ``start_ms`` on when given,
    else the newest ``limit`` (up to ``end_ms``); oldest first."""
    oldest_first = from_id is not None or start_ms is not None
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE user_id = %(user)s AND market = %(market)s"
        " AND (%(from)s::bigint IS NULL OR id >= %(from)s)"
        " AND (%(start)s::bigint IS NULL OR created_at >= to_timestamp(%(start)s / 1000.0))"
        " AND (%(end)s::bigint IS NULL OR created_at < to_timestamp((%(end)s + 1) / 1000.0))"
        " ORDER BY id {} LIMIT %(limit)s").format(ORDER_COLUMNS, _direction(oldest_first)),
        {"user": user_id, "market": market, "from": from_id, "start": within_timestamps(start_ms),
         "end": within_timestamps(end_ms), "limit": limit}).fetchall()
    found = [dict(zip(ORDER_FIELDS, row, strict=True)) for row in rows]
    return found if oldest_first else found[::-1]


def open_orders(conn: Conn, user_id: int, market: str | None) -> list[dict[str, Any]]:
    """The user's open orders, all of them, in one market or in every one; oldest first."""
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE user_id = %(user)s"
        " AND (%(market)s::text IS NULL OR market = %(market)s)"
        " AND status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY id").format(ORDER_COLUMNS),
        {"user": user_id, "market": market}).fetchall()
    return [dict(zip(ORDER_FIELDS, row, strict=True)) for row in rows]


def trades_page(conn: Conn, user_id: int, market: str, *, order_id: int | None,
                from_id: int | None, start_ms: int | None, end_ms: int | None,
                limit: int) -> list[dict[str, Any]]:
    """The user's side of their trades in a market, paged as ``orders_page``."""
    oldest_first = from_id is not None or start_ms is not None
    rows = conn.execute(sql.SQL(
        "{}"
        " AND (%(start)s::bigint IS NULL OR executed_at >= to_timestamp(%(start)s / 1000.0))"
        " AND (%(end)s::bigint IS NULL OR executed_at < to_timestamp((%(end)s + 1) / 1000.0))"
        " ORDER BY id {} LIMIT %(limit)s").format(USER_TRADES, _direction(oldest_first)),
        {"user": user_id, "market": market, "order": order_id, "from": from_id,
         "start": within_timestamps(start_ms), "end": within_timestamps(end_ms),
         "limit": limit}).fetchall()
    found = [dict(zip(TRADE_FIELDS, row, strict=True)) for row in rows]
    return found if oldest_first else found[::-1]

"""SQL for what self-trade prevention prevented (the ``prevented_matches`` table, written
by the matcher's settlement). Runs in the caller's transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from chalicelib.domain.market_data import Prevention

Conn = psycopg.Connection[Any]

PREVENTED_MATCH_FIELDS = ("id", "taker_order_id", "maker_order_id", "mode", "price",
                          "maker_prevented_quantity", "prevented_at")


def prevented_matches(conn: Conn, user_id: int, market: str, *, prevented_match_id: int | None,
                      order_id: int | None, from_id: int | None,
                      limit: int) -> list[dict[str, Any]]:
    """The user's prevented matches in a market, oldest first: the one with
    ``prevented_match_id``, or those of ``order_id`` (as taker or maker) from ``from_id``
    on."""
    rows = conn.execute(
        "SELECT id, taker_order_id, maker_order_id, mode, price, maker_prevented_quantity,"
        " prevented_at FROM prevented_matches"
        " WHERE user_id = %(user)s AND market = %(market)s"
        " AND (%(id)s::bigint IS NULL OR id = %(id)s)"
        " AND (%(order)s::bigint IS NULL OR taker_order_id = %(order)s"
        "      OR maker_order_id = %(order)s)"
        " AND (%(from)s::bigint IS NULL OR id >= %(from)s)"
        " ORDER BY id LIMIT %(limit)s",
        {"user": user_id, "market": market, "id": prevented_match_id, "order": order_id,
         "from": from_id, "limit": limit}).fetchall()
    return [dict(zip(PREVENTED_MATCH_FIELDS, row, strict=True)) for row in rows]


def order_prevention(conn: Conn, market: str, order_id: int) -> Prevention | None:
    """What STP prevented of the order (as taker or maker); None if it met no own order."""
    row = conn.execute(
        "SELECT id, CASE WHEN taker_order_id = %(order)s THEN maker_order_id"
        "  ELSE taker_order_id END, sum(maker_prevented_quantity) OVER (),"
        " maker_prevented_quantity FROM prevented_matches"
        " WHERE market = %(market)s AND (taker_order_id = %(order)s"
        "      OR maker_order_id = %(order)s)"
        " ORDER BY id DESC LIMIT 1",
        {"market": market, "order": order_id}).fetchone()
    if row is None:
        return None
    return Prevention(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

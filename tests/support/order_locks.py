"""Invariant 3 of the SPEC for orders: what a user has locked is what their open orders
(resting, stop orders waiting for their stop price, an OTO list's pending orders) can
still consume."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg


def assert_locks_match_open_orders(conn: psycopg.Connection[Any],
                                   user_ids: Iterable[int]) -> None:
    """For each of these users (who have no pending withdrawal) and every asset, LOCKED
    equals the sum of their open orders' ``locked_amount`` in that asset."""
    mismatched = conn.execute(
        "WITH wanted AS (SELECT locked_by.user_id, locked_by.asset, sum(o_locked) AS locked"
        "  FROM (SELECT o.user_id, CASE o.side WHEN 'BUY' THEN m.quote_asset"
        "         ELSE m.base_asset END AS asset, o.locked_amount AS o_locked"
        "        FROM orders o JOIN markets m ON m.symbol = o.market"
        "        WHERE o.status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_NEW')) locked_by"
        "  GROUP BY locked_by.user_id, locked_by.asset)"
        " SELECT b.user_id, b.asset, b.locked, coalesce(w.locked, 0) FROM balances b"
        " LEFT JOIN wanted w ON w.user_id = b.user_id AND w.asset = b.asset"
        " WHERE b.account_kind = 'USER' AND b.user_id = ANY(%s)"
        " AND b.locked <> coalesce(w.locked, 0)", (list(user_ids),)).fetchall()
    assert mismatched == [], f"(user, asset, locked, open orders' locks): {mismatched}"

"""The ledger invariants of SPEC.md, checked against the database after a scenario."""

from __future__ import annotations

from typing import Any

import psycopg


def assert_ledger_invariants(conn: psycopg.Connection[Any]) -> None:
    """Every asset's accounts sum to zero, every user balance is non-negative, and
    each account's available/locked equals the sum of its ledger entries."""
    unbalanced_assets = conn.execute(
        "SELECT asset, sum(available + locked) FROM balances"
        " GROUP BY asset HAVING sum(available + locked) <> 0").fetchall()
    assert unbalanced_assets == [], f"assets whose accounts do not sum to zero: {unbalanced_assets}"

    unbalanced_ledger = conn.execute(
        "SELECT transaction_id, asset, sum(amount) FROM ledger_entries"
        " GROUP BY transaction_id, asset HAVING sum(amount) <> 0").fetchall()
    assert unbalanced_ledger == [], f"ledger transactions that do not balance: {unbalanced_ledger}"

    negative = conn.execute(
        "SELECT id, user_id, asset, available, locked FROM balances"
        " WHERE account_kind = 'USER' AND (available < 0 OR locked < 0)").fetchall()
    assert negative == [], f"negative user balances: {negative}"

    drifted = conn.execute(
        """
        SELECT b.id, b.available, b.locked, coalesce(e.available, 0), coalesce(e.locked, 0)
        FROM balances b
        LEFT JOIN (
            SELECT balance_id,
                   sum(amount) FILTER (WHERE bucket = 'AVAILABLE') AS available,
                   sum(amount) FILTER (WHERE bucket = 'LOCKED') AS locked
            FROM ledger_entries GROUP BY balance_id
        ) e ON e.balance_id = b.id
        WHERE b.available <> coalesce(e.available, 0) OR b.locked <> coalesce(e.locked, 0)
        """).fetchall()
    assert drifted == [], f"balances that differ from their ledger entries: {drifted}"

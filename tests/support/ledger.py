"""The ledger invariants of SPEC.md, checked against the database after a scenario."""

from __future__ import annotations

from typing import Any

import psycopg


def assert_ledger_invariants(conn: psycopg.Connection[Any]) -> None:
    """Every asset's accounts sum to zero, every user balance is non-negative, each
    account's available/locked equals the sum of its ledger entries, and no ledger entry
    or trade points at a row that is not there (those tables have no foreign keys)."""
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

    orphans = conn.execute(
        "SELECT e.id FROM ledger_entries e"
        " LEFT JOIN balances b ON b.id = e.balance_id"
        " LEFT JOIN ledger_transactions t ON t.id = e.transaction_id"
        " WHERE b.id IS NULL OR t.id IS NULL OR b.asset <> e.asset").fetchall()
    assert orphans == [], f"ledger entries without their balance or transaction: {orphans}"

    orphan_trades = conn.execute(
        "SELECT t.market, t.id FROM trades t"
        " LEFT JOIN orders m ON m.id = t.maker_order_id AND m.market = t.market"
        "  AND m.user_id = t.maker_user_id"
        " LEFT JOIN orders k ON k.id = t.taker_order_id AND k.market = t.market"
        "  AND k.user_id = t.taker_user_id"
        " WHERE m.id IS NULL OR k.id IS NULL").fetchall()
    assert orphan_trades == [], f"trades whose orders are missing: {orphan_trades}"

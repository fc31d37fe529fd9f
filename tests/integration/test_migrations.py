"""Migrations from empty, twice, and the constraints that protect the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from chalicelib.adapters.migrations import (
    MigrationError,
    apply_migrations,
    load_migrations,
)
from chalicelib.settings import Settings
from opscli.stack.config import StackConfig
from tests.support.databases import drop_database
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]


@pytest.fixture
def empty_database_url(stack: StackConfig, test_settings: Settings) -> Iterator[str]:
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(test_settings.migrations_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield stack.database_url(name)
    drop_database(test_settings.migrations_database_url, name)


def test_apply_from_empty_creates_every_table(empty_database_url: str) -> None:
    applied = apply_migrations(empty_database_url)

    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    with psycopg.connect(empty_database_url) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"assets", "markets", "market_sequences", "users", "balances",
            "ledger_transactions", "ledger_entries", "orders", "order_commands",
            "trades", "matcher_offsets", "schema_migrations"} <= tables


def test_apply_twice_is_a_no_op(empty_database_url: str) -> None:
    apply_migrations(empty_database_url)

    assert apply_migrations(empty_database_url) == []


def test_an_edited_migration_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id int);")
    apply_migrations(empty_database_url, tmp_path)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id bigint);")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(empty_database_url, tmp_path)


def test_a_failing_migration_leaves_nothing_half_applied(
    empty_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT no_such_function();")

    with pytest.raises(psycopg.errors.UndefinedFunction):
        apply_migrations(empty_database_url, tmp_path)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)


def seed_user_with_balance(db: Conn, asset: str = "BTC") -> tuple[int, int, int]:
    """A user holding 100 units deposited through the clearing account; returns
    (user id, user balance id, clearing balance id)."""
    db.execute("INSERT INTO assets (symbol, scale) VALUES (%s, 8) ON CONFLICT DO NOTHING",
               (asset,))
    user_id = one(db, "INSERT INTO users (email, password_hash) VALUES (%s, 'x') RETURNING id",
                  (f"{uuid.uuid4().hex[:8]}@example.com",))
    user_balance = one(db, "INSERT INTO balances (account_kind, user_id, asset)"
                           " VALUES ('USER', %s, %s) RETURNING id", (user_id, asset))
    clearing = one(db, "INSERT INTO balances (account_kind, asset)"
                       " VALUES ('DEPOSIT_CLEARING', %s) RETURNING id", (asset,))
    post(db, "DEPOSIT", [(user_balance, asset, "AVAILABLE", 100),
                         (clearing, asset, "AVAILABLE", -100)])
    return user_id, user_balance, clearing


def post(db: Conn, kind: str, entries: list[tuple[int, str, str, int]]) -> None:
    """Post one balanced ledger transaction and apply it to the balances, together."""
    with db.transaction():
        tx_id = one(db, "INSERT INTO ledger_transactions (kind, reference) VALUES (%s, %s)"
                        " RETURNING id", (kind, uuid.uuid4().hex))
        db.execute(
            "INSERT INTO ledger_entries (transaction_id, balance_id, asset, bucket, amount)"
            " SELECT %s, * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::numeric[])",
            (tx_id, [e[0] for e in entries], [e[1] for e in entries],
             [e[2] for e in entries], [e[3] for e in entries]))
        for balance_id, _asset, bucket, amount in entries:
            column = sql.Identifier(bucket.lower())
            db.execute(sql.SQL("UPDATE balances SET {col} = {col} + %s WHERE id = %s")
                       .format(col=column), (amount, balance_id))


def one(db: Conn, query: str, params: tuple[Any, ...]) -> int:
    row = db.execute(query.encode(), params).fetchone()
    assert row is not None
    return int(row[0])


def test_a_balanced_deposit_keeps_the_invariants(db: Conn) -> None:
    _user, user_balance, _clearing = seed_user_with_balance(db)

    assert db.execute("SELECT available, locked FROM balances WHERE id = %s",
                      (user_balance,)).fetchone() == (100, 0)
    assert_ledger_invariants(db)


@pytest.mark.parametrize(("kind", "entries", "refusal"), [
    pytest.param("WITHDRAWAL", [("user", "AVAILABLE", -101), ("clearing", "AVAILABLE", 101)],
                 "balances_available_nonnegative", id="negative available balance"),
    pytest.param("UNLOCK", [("user", "LOCKED", -1), ("user", "AVAILABLE", 1)],
                 "balances_locked_nonnegative", id="negative locked balance"),
    pytest.param("DEPOSIT", [("user", "AVAILABLE", 50), ("clearing", "AVAILABLE", -49)],
                 "does not balance for BTC", id="unbalanced transaction"),
])
def test_a_posting_that_would_break_an_invariant_is_rejected(
        db: Conn, kind: str, entries: list[tuple[str, str, int]], refusal: str) -> None:
    _user, user_balance, clearing = seed_user_with_balance(db)
    accounts = {"user": user_balance, "clearing": clearing}

    with pytest.raises(psycopg.errors.CheckViolation, match=refusal):
        post(db, kind, [(accounts[account], "BTC", bucket, amount)
                        for account, bucket, amount in entries])
    assert_ledger_invariants(db)


def test_ledger_entries_cannot_be_rewritten(db: Conn) -> None:
    seed_user_with_balance(db)

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        db.execute("UPDATE ledger_entries SET amount = amount * 2")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        db.execute("DELETE FROM ledger_entries")
    assert_ledger_invariants(db)


def test_one_account_per_user_kind_and_asset(db: Conn) -> None:
    user_id, _balance, _clearing = seed_user_with_balance(db)

    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO balances (account_kind, user_id, asset) VALUES ('USER', %s, 'BTC')",
                   (user_id,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO balances (account_kind, asset) VALUES ('DEPOSIT_CLEARING', 'BTC')")


def test_a_ledger_reference_moves_money_only_once(db: Conn) -> None:
    db.execute("INSERT INTO ledger_transactions (kind, reference) VALUES ('DEPOSIT', 'tx-1')")

    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO ledger_transactions (kind, reference) VALUES ('DEPOSIT', 'tx-1')")


def seed_market(db: Conn) -> int:
    db.execute("INSERT INTO assets (symbol, scale) VALUES ('BTC', 8), ('USDT', 6)"
               " ON CONFLICT DO NOTHING")
    db.execute("INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size,"
               " min_qty, max_qty) VALUES ('BTCUSDT', 'BTC', 'USDT', 10000, 1000, 1000, 10000000)")
    return one(db, "INSERT INTO users (email, password_hash) VALUES ('t@example.com', 'x')"
                   " RETURNING id", ())


def insert_order(db: Conn, user_id: int, client_order_id: str, status: str = "NEW") -> int:
    locked = 0 if status not in ("NEW", "PARTIALLY_FILLED") else 5
    return one(db, "INSERT INTO orders (user_id, market, client_order_id, side, type,"
                       " time_in_force, price, quantity, locked_amount, status)"
                       " VALUES (%s, 'BTCUSDT', %s, 'BUY', 'LIMIT', 'GTC', 10000, 1000, %s, %s)"
                       " RETURNING id", (user_id, client_order_id, locked, status))


def test_client_order_id_is_unique_among_open_orders_only(db: Conn) -> None:
    user_id = seed_market(db)
    insert_order(db, user_id, "my-order", status="FILLED")
    insert_order(db, user_id, "my-order")

    with pytest.raises(psycopg.errors.UniqueViolation, match="orders_open_client_order_id"):
        insert_order(db, user_id, "my-order")


def test_a_closed_order_cannot_keep_a_lock(db: Conn) -> None:
    user_id = seed_market(db)
    order_id = insert_order(db, user_id, "o-1")

    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("UPDATE orders SET status = 'CANCELED' WHERE id = %s", (order_id,))


def test_a_trade_is_recorded_once(db: Conn) -> None:
    user_id = seed_market(db)
    maker, taker = insert_order(db, user_id, "m"), insert_order(db, user_id, "t")
    trade = ("INSERT INTO trades (market, id, sequence, price, quantity, quote_quantity,"
             " maker_order_id, taker_order_id, maker_user_id, taker_user_id, buyer_is_maker,"
             " maker_fee, maker_fee_asset, taker_fee, taker_fee_asset, executed_at) VALUES"
             " ('BTCUSDT', 1, %s, 10000, 1000, 100, %s, %s, %s, %s, true, 0, 'BTC', 0, 'USDT',"
             " now())")
    db.execute(trade.encode(), (1, maker, taker, user_id, user_id))

    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(trade.encode(), (2, maker, taker, user_id, user_id))


def test_market_filters_must_be_consistent(db: Conn) -> None:
    db.execute("INSERT INTO assets (symbol, scale) VALUES ('BTC', 8), ('USDT', 6)")

    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size,"
                   " min_qty, max_qty) VALUES ('BTCUSDT', 'BTC', 'USDT', 0, 1000, 1000, 2000)")
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size,"
                   " min_qty, max_qty) VALUES ('BTCUSDT', 'BTC', 'USDT', 10, 1000, 1500, 2000)")

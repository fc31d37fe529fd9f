"""Service-layer tests on the real PostgreSQL, and the setup they share."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from chalicelib.adapters.ledger import post_transaction
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, Posting
from chalicelib.service_layer import admin as admin_service

Conn = psycopg.Connection[Any]

BTC, USDT = 10**8, 10**6


def make_user(db: Conn, *, admin: bool = False) -> int:
    row = db.execute(
        "INSERT INTO users (email, password_hash, is_admin) VALUES (%s, 'not-a-hash', %s)"
        " RETURNING id", (f"{uuid.uuid4().hex[:12]}@example.com", admin)).fetchone()
    assert row is not None
    return int(row[0])


def make_assets(db: Conn, *assets: tuple[str, int]) -> None:
    db.execute("INSERT INTO assets (symbol, scale) SELECT * FROM unnest(%s::text[], %s::int[])",
               ([symbol for symbol, _ in assets], [scale for _, scale in assets]))


def account(db: Conn, kind: AccountKind, asset: str, user_id: int | None = None) -> tuple[int, int]:
    """(available, locked) of a ledger account; (0, 0) if it was never used."""
    row = db.execute(
        "SELECT available, locked FROM balances WHERE account_kind = %s"
        " AND user_id IS NOT DISTINCT FROM %s AND asset = %s", (kind, user_id, asset)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def user_account(db: Conn, user_id: int, asset: str) -> tuple[int, int]:
    return account(db, AccountKind.USER, asset, user_id)


def count(db: Conn, table: str) -> int:
    row = db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


def btcusdt_buyer(db: Conn) -> int:
    """Market BTCUSDT (0.1 % fees) and a user holding 20,000 USDT, as an admin sets them up."""
    actor = make_user(db, admin=True)
    admin_service.create_asset(db, actor_id=actor, symbol="BTC", scale=8, name="Bitcoin")
    admin_service.create_asset(db, actor_id=actor, symbol="USDT", scale=6, name="Tether")
    admin_service.create_market(db, actor_id=actor, symbol="BTCUSDT", base="BTC", quote="USDT",
                                tick_size=10_000, lot_size=10_000, min_qty=10_000,
                                max_qty=1000 * BTC, min_notional=5 * USDT, maker_fee_ppm=1_000,
                                taker_fee_ppm=1_000)
    user = make_user(db)
    with db.transaction():
        post_transaction(db, "DEPOSIT", "funding", [
            Posting(AccountRef.system(AccountKind.DEPOSIT_CLEARING, "USDT"), Bucket.AVAILABLE,
                    -20_000 * USDT),
            Posting(AccountRef.user(user, "USDT"), Bucket.AVAILABLE, 20_000 * USDT)])
    return user

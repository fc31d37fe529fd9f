"""SQL behind the /sapi wallet routes beyond the wallet's own (``wallet_repo``): the
assets, the markets' fees, a user's deposit addresses and an API key's restrictions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from chalicelib.domain.admin import Asset

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class KeyRestrictions:
    permissions: list[str]
    ip_allowlist: list[str]
    created_at: datetime


def assets(conn: Conn) -> list[Asset]:
    rows = conn.execute("SELECT symbol, scale, name FROM assets ORDER BY symbol").fetchall()
    return [Asset(symbol, scale, name) for symbol, scale, name in rows]


def market_fees_ppm(conn: Conn, symbol: str | None) -> list[tuple[str, int, int]]:
    """(symbol, maker ppm, taker ppm) of every market, or of ``symbol`` only."""
    rows = conn.execute(
        "SELECT symbol, maker_fee_ppm, taker_fee_ppm FROM markets"
        " WHERE %(symbol)s::text IS NULL OR symbol = %(symbol)s ORDER BY symbol",
        {"symbol": symbol}).fetchall()
    return [(name, int(maker), int(taker)) for name, maker, taker in rows]


def key_restrictions(conn: Conn, key_id: int) -> KeyRestrictions:
    row = conn.execute("SELECT permissions, ip_allowlist, created_at FROM api_keys"
                       " WHERE id = %s", (key_id,)).fetchone()
    if row is None:
        raise RuntimeError("an authenticated API key has no row")
    return KeyRestrictions(list(row[0]), list(row[1]), row[2])


def deposit_addresses(conn: Conn, user_id: int) -> dict[str, str]:
    rows = conn.execute("SELECT asset, address FROM deposit_addresses WHERE user_id = %s",
                        (user_id,)).fetchall()
    return dict(rows)

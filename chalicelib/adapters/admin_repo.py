"""SQL for assets, markets as admins manage them, admins and the audit log.

Each function runs in the caller's transaction; none commits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from chalicelib.domain.admin import Asset, AuditEntry, Market
from chalicelib.domain.orders import MarketFilters

Conn = psycopg.Connection[Any]


def is_active_admin(conn: Conn, user_id: int) -> bool:
    return conn.execute(
        "SELECT 1 FROM users WHERE id = %s AND is_admin AND status = 'ACTIVE'", (user_id,)
    ).fetchone() is not None


def insert_audit(conn: Conn, *, actor_id: int, action: str, target: str,
                 details: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO audit_log (actor_user_id, action, target, details) VALUES (%s, %s, %s, %s)",
        (actor_id, action, target, Jsonb(details)),
    )


def audit_entries(conn: Conn, *, limit: int, before_id: int | None) -> list[AuditEntry]:
    """Up to ``limit`` entries older than ``before_id``, newest first."""
    rows = conn.execute(
        "SELECT id, actor_user_id, action, target, details, created_at FROM audit_log"
        " WHERE %(before)s::bigint IS NULL OR id < %(before)s ORDER BY id DESC LIMIT %(n)s",
        {"before": before_id, "n": limit},
    ).fetchall()
    return [AuditEntry(*row) for row in rows]


def find_asset(conn: Conn, symbol: str, *, for_update: bool = False) -> Asset | None:
    """The asset; with ``for_update``, locked against concurrent changes."""
    lock = sql.SQL(" FOR UPDATE" if for_update else "")
    row = conn.execute(sql.SQL(
        "SELECT scale, name, four_eyes_threshold FROM assets WHERE symbol = %s{}").format(lock),
        (symbol,)).fetchone()
    if row is None:
        return None
    scale, name, threshold = row
    return Asset(symbol, int(scale), str(name), None if threshold is None else int(threshold))


def asset_scales(conn: Conn) -> dict[str, int]:
    return {symbol: int(scale) for symbol, scale in
            conn.execute("SELECT symbol, scale FROM assets").fetchall()}


def insert_asset(conn: Conn, asset: Asset) -> bool:
    """False when an asset with that symbol exists already."""
    return conn.execute(
        "INSERT INTO assets (symbol, scale, name, four_eyes_threshold)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (symbol) DO NOTHING RETURNING symbol",
        (asset.symbol, asset.scale, asset.name, asset.four_eyes_threshold)
    ).fetchone() is not None


def set_four_eyes_threshold(conn: Conn, symbol: str, threshold: int | None) -> None:
    conn.execute("UPDATE assets SET four_eyes_threshold = %s WHERE symbol = %s",
                 (threshold, symbol))


def insert_market(conn: Conn, market: Market) -> bool:
    """A new market with its sequence counters at zero; False when the symbol is taken."""
    created = conn.execute(
        "INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size, min_qty,"
        " max_qty, min_notional, maker_fee_ppm, taker_fee_ppm)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (symbol) DO NOTHING RETURNING symbol",
        (market.symbol, market.base_asset, market.quote_asset,
         *dataclasses.astuple(market.filters)),
    ).fetchone()
    if created is None:
        return False
    conn.execute("INSERT INTO market_sequences (market) VALUES (%s)", (market.symbol,))
    return True


def lock_market(conn: Conn, symbol: str) -> tuple[Market, int] | None:
    """The market, locked against concurrent admin changes, and its base asset's scale."""
    row = conn.execute(
        "SELECT m.symbol, m.base_asset, m.quote_asset, m.status, m.tick_size, m.lot_size,"
        " m.min_qty, m.max_qty, m.min_notional, m.maker_fee_ppm, m.taker_fee_ppm, a.scale"
        " FROM markets m JOIN assets a ON a.symbol = m.base_asset"
        " WHERE m.symbol = %s FOR UPDATE OF m", (symbol,)
    ).fetchone()
    if row is None:
        return None
    symbol, base, quote, status, *numbers, base_scale = row
    filters = MarketFilters(*(int(number) for number in numbers))
    return Market(symbol, base, quote, status, filters), int(base_scale)


def update_market_filters(conn: Conn, symbol: str, filters: MarketFilters) -> None:
    conn.execute(
        "UPDATE markets SET tick_size = %s, lot_size = %s, min_qty = %s, max_qty = %s,"
        " min_notional = %s, maker_fee_ppm = %s, taker_fee_ppm = %s, updated_at = now()"
        " WHERE symbol = %s",
        (*dataclasses.astuple(filters), symbol),
    )


def set_market_status(conn: Conn, symbol: str, status: str) -> None:
    conn.execute("UPDATE markets SET status = %s, updated_at = now() WHERE symbol = %s",
                 (status, symbol))


def market_assets(conn: Conn, symbol: str) -> tuple[str, str] | None:
    """A market's (base, quote) assets."""
    row = conn.execute("SELECT base_asset, quote_asset FROM markets WHERE symbol = %s",
                       (symbol,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def markets_with_scales(conn: Conn, symbols: list[str] | None) -> list[tuple[Any, ...]]:
    """Every market (or those of ``symbols``) by symbol: symbol, status, base asset and
    scale, quote asset and scale, tick size, lot size, min and max qty, min notional."""
    return conn.execute(
        "SELECT m.symbol, m.status, m.base_asset, base.scale, m.quote_asset, quote.scale,"
        " m.tick_size, m.lot_size, m.min_qty, m.max_qty, m.min_notional"
        " FROM markets m"
        " JOIN assets base ON base.symbol = m.base_asset"
        " JOIN assets quote ON quote.symbol = m.quote_asset"
        " WHERE %(symbols)s::text[] IS NULL OR m.symbol = ANY (%(symbols)s)"
        " ORDER BY m.symbol",
        {"symbols": symbols},
    ).fetchall()


def highest_fees_ppm(conn: Conn) -> tuple[int, int]:
    row = conn.execute("SELECT coalesce(max(maker_fee_ppm), 0), coalesce(max(taker_fee_ppm), 0)"
                       " FROM markets").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])

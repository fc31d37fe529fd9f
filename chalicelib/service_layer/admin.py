"""Admin: assets, markets (filters, fees, halts) and the audit log of who changed what.

Every amount is an integer of an asset's smallest unit (see ``chalicelib.domain.money``);
the HTTP layer parses decimal strings before calling in. An asset's
``four_eyes_threshold`` is the largest deposit credit or withdrawal one admin may
execute alone (None: no limit); above it a second admin must approve.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.domain.errors import (
    ApiError,
    ErrorCode,
    bad_request,
    conflict,
    forbidden,
    malformed,
)
from chalicelib.domain.money import MAX_SCALE, MAX_UNITS
from chalicelib.service_layer import Conn, Page, check_limit, paginate

ASSET_SYMBOL = re.compile(r"[A-Z0-9]{1,20}")
MARKET_SYMBOL = re.compile(r"[A-Z0-9]{2,40}")
MAX_NAME_LENGTH = 100
MAX_FEE_PPM = 100_000
"""10 %: the schema's ceiling for a fee rate."""
MARKET_STATUSES = ("TRADING", "HALT", "BREAK")


@dataclass(frozen=True)
class Asset:
    symbol: str
    scale: int
    name: str
    four_eyes_threshold: int | None = None


@dataclass(frozen=True)
class MarketFilters:
    """A market's filters and fees; the keyword arguments ``update_market`` accepts."""

    tick_size: int
    lot_size: int
    min_qty: int
    max_qty: int
    min_notional: int
    maker_fee_ppm: int
    taker_fee_ppm: int


@dataclass(frozen=True)
class Market:
    symbol: str
    base_asset: str
    quote_asset: str
    status: str
    filters: MarketFilters


@dataclass(frozen=True)
class AuditEntry:
    id: int
    actor_user_id: int
    action: str
    target: str
    details: dict[str, Any]
    created_at: datetime


def bad_symbol() -> ApiError:
    return bad_request(ErrorCode.BAD_SYMBOL, "Invalid symbol.")


def require_admin(conn: Conn, actor_id: int) -> None:
    """Defence in depth behind the HTTP layer's role check: only an active admin acts."""
    row = conn.execute(
        "SELECT 1 FROM users WHERE id = %s AND is_admin AND status = 'ACTIVE'", (actor_id,)
    ).fetchone()
    if row is None:
        raise forbidden("Only an administrator can do this.")


def record_audit(
    conn: Conn, *, actor_id: int, action: str, target: str, details: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO audit_log (actor_user_id, action, target, details) VALUES (%s, %s, %s, %s)",
        (actor_id, action, target, Jsonb(details)),
    )


def refusal(conn: Conn, *, actor_id: int, action: str, target: str,
            details: dict[str, Any], msg: str) -> ApiError:
    """Audit a refused admin action (``<action>_REFUSED``) and return its 403; the caller
    leaves its transaction, then raises ``with_audit_kept(conn, error)``."""
    record_audit(conn, actor_id=actor_id, action=f"{action}_REFUSED", target=target,
                 details={**details, "reason": msg})
    return forbidden(msg)


def with_audit_kept(conn: Conn, error: ApiError) -> ApiError:
    """A refusal to raise once its audit entry is committed: raising rolls back whatever
    transaction the caller (an API request) holds open."""
    if not conn.autocommit:
        conn.commit()
    return error


def asset_scale(conn: Conn, symbol: str, *, param: str = "asset") -> int:
    """The asset's scale; a 400 naming ``param`` if there is no such asset."""
    row = conn.execute("SELECT scale FROM assets WHERE symbol = %s", (symbol,)).fetchone()
    if row is None:
        raise malformed(param, f"is not a known asset ({symbol!r})")
    return int(row[0])


def four_eyes_threshold(conn: Conn, symbol: str) -> int | None:
    """The asset's four-eyes threshold; a 400 if there is no such asset."""
    row = conn.execute("SELECT four_eyes_threshold FROM assets WHERE symbol = %s",
                       (symbol,)).fetchone()
    if row is None:
        raise malformed("asset", f"is not a known asset ({symbol!r})")
    return None if row[0] is None else int(row[0])


def create_asset(conn: Conn, *, actor_id: int, symbol: str, scale: int, name: str,
                 four_eyes_threshold: int | None = None) -> Asset:
    if not ASSET_SYMBOL.fullmatch(symbol):
        raise malformed("symbol", "must be 1 to 20 characters A-Z or 0-9")
    if not 0 <= scale <= MAX_SCALE:
        raise malformed("scale", f"must be between 0 and {MAX_SCALE}")
    if len(name) > MAX_NAME_LENGTH:
        raise malformed("name", f"must be at most {MAX_NAME_LENGTH} characters")
    _check_threshold(four_eyes_threshold)
    with conn.transaction():
        require_admin(conn, actor_id)
        created = conn.execute(
            "INSERT INTO assets (symbol, scale, name, four_eyes_threshold)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (symbol) DO NOTHING RETURNING symbol",
            (symbol, scale, name, four_eyes_threshold)
        ).fetchone()
        if created is None:
            raise conflict(f"Asset {symbol} already exists.")
        record_audit(conn, actor_id=actor_id, action="ASSET_CREATE", target=f"asset:{symbol}",
                     details={"scale": scale, "name": name,
                              "four_eyes_threshold": four_eyes_threshold})
    return Asset(symbol, scale, name, four_eyes_threshold)


def set_four_eyes_threshold(conn: Conn, *, actor_id: int, symbol: str,
                            threshold: int | None) -> Asset:
    """Set (None: clear) the amount above which a second admin must approve."""
    _check_threshold(threshold)
    with conn.transaction():
        require_admin(conn, actor_id)
        row = conn.execute(
            "SELECT scale, name, four_eyes_threshold FROM assets WHERE symbol = %s FOR UPDATE",
            (symbol,)).fetchone()
        if row is None:
            raise malformed("symbol", f"is not a known asset ({symbol!r})")
        scale, name, before = int(row[0]), str(row[1]), row[2]
        before = None if before is None else int(before)
        if before != threshold:
            conn.execute("UPDATE assets SET four_eyes_threshold = %s WHERE symbol = %s",
                         (threshold, symbol))
            record_audit(conn, actor_id=actor_id, action="ASSET_UPDATE",
                         target=f"asset:{symbol}",
                         details={"four_eyes_threshold": {"before": before,
                                                          "after": threshold}})
    return Asset(symbol, scale, name, threshold)


def create_market(
    conn: Conn, *, actor_id: int, symbol: str, base: str, quote: str, tick_size: int,
    lot_size: int, min_qty: int, max_qty: int, min_notional: int, maker_fee_ppm: int,
    taker_fee_ppm: int,
) -> Market:
    """A new market, trading at once, with its sequence counters at zero."""
    if not MARKET_SYMBOL.fullmatch(symbol):
        raise malformed("symbol", "must be 2 to 40 characters A-Z or 0-9")
    if base == quote:
        raise malformed("quote", "must differ from the base asset")
    filters = MarketFilters(tick_size, lot_size, min_qty, max_qty, min_notional,
                            maker_fee_ppm, taker_fee_ppm)
    with conn.transaction():
        require_admin(conn, actor_id)
        check_filters(filters, base_scale=asset_scale(conn, base, param="base"))
        asset_scale(conn, quote, param="quote")
        created = conn.execute(
            "INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size, min_qty,"
            " max_qty, min_notional, maker_fee_ppm, taker_fee_ppm)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (symbol) DO NOTHING RETURNING symbol",
            (symbol, base, quote, *dataclasses.astuple(filters)),
        ).fetchone()
        if created is None:
            raise conflict(f"Market {symbol} already exists.")
        conn.execute("INSERT INTO market_sequences (market) VALUES (%s)", (symbol,))
        record_audit(conn, actor_id=actor_id, action="MARKET_CREATE", target=f"market:{symbol}",
                     details={"base": base, "quote": quote, **dataclasses.asdict(filters)})
    return Market(symbol, base, quote, "TRADING", filters)


def update_market(conn: Conn, *, actor_id: int, symbol: str, **changes: int) -> Market:
    """Change some of a market's filters and fees (``MarketFilters`` field names).

    Only the stored market changes: resting orders are neither touched nor re-checked.
    """
    unknown = changes.keys() - {field.name for field in dataclasses.fields(MarketFilters)}
    if unknown:
        raise malformed(sorted(unknown)[0], "is not a market filter or fee")
    with conn.transaction():
        require_admin(conn, actor_id)
        market, base_scale = _lock_market(conn, symbol)
        filters = dataclasses.replace(market.filters, **changes)
        if filters == market.filters:
            return market
        check_filters(filters, base_scale=base_scale)
        conn.execute(
            "UPDATE markets SET tick_size = %s, lot_size = %s, min_qty = %s, max_qty = %s,"
            " min_notional = %s, maker_fee_ppm = %s, taker_fee_ppm = %s, updated_at = now()"
            " WHERE symbol = %s",
            (*dataclasses.astuple(filters), symbol),
        )
        record_audit(conn, actor_id=actor_id, action="MARKET_UPDATE", target=f"market:{symbol}",
                     details={"before": dataclasses.asdict(market.filters), "after": changes})
    return dataclasses.replace(market, filters=filters)


def set_market_status(conn: Conn, *, actor_id: int, symbol: str, status: str) -> Market:
    """Halt ('HALT'), resume ('TRADING') or break ('BREAK') a market."""
    if status not in MARKET_STATUSES:
        raise malformed("status", f"must be one of {', '.join(MARKET_STATUSES)}")
    with conn.transaction():
        require_admin(conn, actor_id)
        market, _ = _lock_market(conn, symbol)
        if market.status == status:
            return market
        conn.execute("UPDATE markets SET status = %s, updated_at = now() WHERE symbol = %s",
                     (status, symbol))
        record_audit(conn, actor_id=actor_id, action="MARKET_STATUS", target=f"market:{symbol}",
                     details={"from": market.status, "to": status})
    return dataclasses.replace(market, status=status)


def audit_log(conn: Conn, *, limit: int = 100, before_id: int | None = None) -> Page[AuditEntry]:
    """The audit log, newest first."""
    check_limit(limit)
    rows = conn.execute(
        "SELECT id, actor_user_id, action, target, details, created_at FROM audit_log"
        " WHERE %(before)s::bigint IS NULL OR id < %(before)s ORDER BY id DESC LIMIT %(n)s",
        {"before": before_id, "n": limit + 1},
    ).fetchall()
    return paginate([AuditEntry(*row) for row in rows], limit, lambda entry: entry.id)


def check_filters(filters: MarketFilters, *, base_scale: int) -> None:
    """Refuse filters the schema or the matching engine could not work with."""
    _check_amount("tick_size", filters.tick_size, minimum=1)
    _check_amount("lot_size", filters.lot_size, minimum=1)
    _check_amount("min_qty", filters.min_qty, minimum=1)
    _check_amount("max_qty", filters.max_qty, minimum=filters.min_qty)
    _check_amount("min_notional", filters.min_notional, minimum=0)
    for name in ("maker_fee_ppm", "taker_fee_ppm"):
        if not 0 <= getattr(filters, name) <= MAX_FEE_PPM:
            raise malformed(name, f"must be between 0 and {MAX_FEE_PPM}")
    for name in ("min_qty", "max_qty"):
        if getattr(filters, name) % filters.lot_size:
            raise malformed(name, "must be a multiple of lot_size")
    # A price is per whole base unit (10**base_scale smallest units), so the notional
    # price * qty / 10**base_scale is an exact integer for every on-grid order only if
    # tick_size * lot_size is a multiple of 10**base_scale (the engine requires it).
    whole_unit = 10**base_scale
    if filters.tick_size * filters.lot_size % whole_unit:
        raise malformed("tick_size", f"times lot_size must be a multiple of {whole_unit}"
                        " (one whole base unit), so that every notional is exact")


def _check_threshold(threshold: int | None) -> None:
    if threshold is not None:
        _check_amount("four_eyes_threshold", threshold, minimum=0)


def _check_amount(name: str, value: int, *, minimum: int) -> None:
    if value < minimum:
        raise malformed(name, f"must be at least {minimum}")
    if value > MAX_UNITS:
        raise malformed(name, "is too large")


def _lock_market(conn: Conn, symbol: str) -> tuple[Market, int]:
    """The market, locked against concurrent admin changes, and its base asset's scale."""
    row = conn.execute(
        "SELECT m.symbol, m.base_asset, m.quote_asset, m.status, m.tick_size, m.lot_size,"
        " m.min_qty, m.max_qty, m.min_notional, m.maker_fee_ppm, m.taker_fee_ppm, a.scale"
        " FROM markets m JOIN assets a ON a.symbol = m.base_asset"
        " WHERE m.symbol = %s FOR UPDATE OF m", (symbol,)
    ).fetchone()
    if row is None:
        raise bad_symbol()
    symbol, base, quote, status, *numbers, base_scale = row
    filters = MarketFilters(*(int(number) for number in numbers))
    return Market(symbol, base, quote, status, filters), int(base_scale)


def asset_scales(conn: Conn) -> dict[str, int]:
    """Every asset's scale, to print amounts of several assets at once."""
    return {symbol: int(scale) for symbol, scale in
            conn.execute("SELECT symbol, scale FROM assets").fetchall()}


def market_assets(conn: Conn, symbol: str) -> tuple[str, str]:
    """A market's (base, quote) assets; BAD_SYMBOL if there is no such market."""
    row = conn.execute("SELECT base_asset, quote_asset FROM markets WHERE symbol = %s",
                       (symbol,)).fetchone()
    if row is None:
        raise bad_symbol()
    return str(row[0]), str(row[1])

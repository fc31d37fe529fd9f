"""Admin: assets, markets (filters, fees, halts) and the audit log of who changed what.

Amounts are integers of an asset's smallest unit (``chalicelib.domain.admin``); the HTTP
layer parses decimal strings before calling in.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from chalicelib.adapters import admin_repo
from chalicelib.domain.admin import Asset, AuditEntry, Market
from chalicelib.domain.errors import (
    ApiError,
    ErrorCode,
    bad_request,
    conflict,
    forbidden,
    malformed,
)
from chalicelib.domain.money import MAX_SCALE
from chalicelib.domain.orders import MarketFilters, amount_problem, filters_problem
from chalicelib.service_layer import Conn, Page, check_limit, paginate

ASSET_SYMBOL = re.compile(r"[A-Z0-9]{1,20}")
MARKET_SYMBOL = re.compile(r"[A-Z0-9]{2,40}")
MAX_NAME_LENGTH = 100
MAX_FEE_PPM = 100_000
"""10 %: the schema's ceiling for a fee rate."""
MARKET_STATUSES = ("TRADING", "HALT", "BREAK")


def bad_symbol() -> ApiError:
    return bad_request(ErrorCode.BAD_SYMBOL, "Invalid symbol.")


def require_admin(conn: Conn, actor_id: int) -> None:
    """Defence in depth behind the HTTP layer's role check: only an active admin acts."""
    if not admin_repo.is_active_admin(conn, actor_id):
        raise forbidden("Only an administrator can do this.")


def record_audit(
    conn: Conn, *, actor_id: int, action: str, target: str, details: dict[str, Any]
) -> None:
    admin_repo.insert_audit(conn, actor_id=actor_id, action=action, target=target,
                            details=details)


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


def known_asset(conn: Conn, symbol: str, *, param: str = "asset",
                for_update: bool = False) -> Asset:
    """The asset; a 400 naming ``param`` if there is no such asset."""
    asset = admin_repo.find_asset(conn, symbol, for_update=for_update)
    if asset is None:
        raise malformed(param, f"is not a known asset ({symbol!r})")
    return asset


def asset_scale(conn: Conn, symbol: str, *, param: str = "asset") -> int:
    """The asset's scale; a 400 naming ``param`` if there is no such asset."""
    return known_asset(conn, symbol, param=param).scale


def four_eyes_threshold(conn: Conn, symbol: str) -> int | None:
    """The asset's four-eyes threshold; a 400 if there is no such asset."""
    return known_asset(conn, symbol).four_eyes_threshold


def create_asset(conn: Conn, *, actor_id: int, symbol: str, scale: int, name: str,
                 four_eyes_threshold: int | None = None) -> Asset:
    if not ASSET_SYMBOL.fullmatch(symbol):
        raise malformed("symbol", "must be 1 to 20 characters A-Z or 0-9")
    if not 0 <= scale <= MAX_SCALE:
        raise malformed("scale", f"must be between 0 and {MAX_SCALE}")
    if len(name) > MAX_NAME_LENGTH:
        raise malformed("name", f"must be at most {MAX_NAME_LENGTH} characters")
    _check_threshold(four_eyes_threshold)
    asset = Asset(symbol, scale, name, four_eyes_threshold)
    with conn.transaction():
        require_admin(conn, actor_id)
        if not admin_repo.insert_asset(conn, asset):
            raise conflict(f"Asset {symbol} already exists.")
        record_audit(conn, actor_id=actor_id, action="ASSET_CREATE", target=f"asset:{symbol}",
                     details={"scale": scale, "name": name,
                              "four_eyes_threshold": four_eyes_threshold})
    return asset


def set_four_eyes_threshold(conn: Conn, *, actor_id: int, symbol: str,
                            threshold: int | None) -> Asset:
    """Set (None: clear) the amount above which a second admin must approve."""
    _check_threshold(threshold)
    with conn.transaction():
        require_admin(conn, actor_id)
        asset = known_asset(conn, symbol, param="symbol", for_update=True)
        before = asset.four_eyes_threshold
        if before != threshold:
            admin_repo.set_four_eyes_threshold(conn, symbol, threshold)
            record_audit(conn, actor_id=actor_id, action="ASSET_UPDATE",
                         target=f"asset:{symbol}",
                         details={"four_eyes_threshold": {"before": before,
                                                          "after": threshold}})
    return dataclasses.replace(asset, four_eyes_threshold=threshold)


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
    market = Market(symbol, base, quote, "TRADING", MarketFilters(
        tick_size, lot_size, min_qty, max_qty, min_notional, maker_fee_ppm, taker_fee_ppm))
    with conn.transaction():
        require_admin(conn, actor_id)
        check_filters(market.filters, base_scale=asset_scale(conn, base, param="base"))
        asset_scale(conn, quote, param="quote")
        if not admin_repo.insert_market(conn, market):
            raise conflict(f"Market {symbol} already exists.")
        record_audit(conn, actor_id=actor_id, action="MARKET_CREATE", target=f"market:{symbol}",
                     details={"base": base, "quote": quote,
                              **dataclasses.asdict(market.filters)})
    return market


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
        admin_repo.update_market_filters(conn, symbol, filters)
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
        admin_repo.set_market_status(conn, symbol, status)
        record_audit(conn, actor_id=actor_id, action="MARKET_STATUS", target=f"market:{symbol}",
                     details={"from": market.status, "to": status})
    return dataclasses.replace(market, status=status)


def audit_log(conn: Conn, *, limit: int = 100, before_id: int | None = None) -> Page[AuditEntry]:
    """The audit log, newest first."""
    check_limit(limit)
    entries = admin_repo.audit_entries(conn, limit=limit + 1, before_id=before_id)
    return paginate(entries, limit, lambda entry: entry.id)


def check_filters(filters: MarketFilters, *, base_scale: int) -> None:
    """Refuse filters the schema or the matching engine could not work with."""
    problem = filters_problem(filters, base_unit=10**base_scale, max_fee_ppm=MAX_FEE_PPM)
    if problem is not None:
        raise malformed(problem.setting, problem.requirement)


def _check_threshold(threshold: int | None) -> None:
    problem = None if threshold is None else amount_problem("four_eyes_threshold", threshold, 0)
    if problem is not None:
        raise malformed(problem.setting, problem.requirement)


def _lock_market(conn: Conn, symbol: str) -> tuple[Market, int]:
    """The market, locked against concurrent admin changes, and its base asset's scale."""
    locked = admin_repo.lock_market(conn, symbol)
    if locked is None:
        raise bad_symbol()
    return locked


def asset_scales(conn: Conn) -> dict[str, int]:
    """Every asset's scale, to print amounts of several assets at once."""
    return admin_repo.asset_scales(conn)


def market_assets(conn: Conn, symbol: str) -> tuple[str, str]:
    """A market's (base, quote) assets; BAD_SYMBOL if there is no such market."""
    assets = admin_repo.market_assets(conn, symbol)
    if assets is None:
        raise bad_symbol()
    return assets

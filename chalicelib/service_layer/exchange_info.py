"""``GET /api/v3/exchangeInfo`` in Binance's exact shape, built from the markets table.

Binance clients (CCXT and the like) read precisions and filters from here, so every
decimal is a string formatted with the scale of the asset it is counted in: prices,
tick sizes and notionals in the quote asset, quantities in the base asset.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.adapters import admin_repo
from chalicelib.domain.capabilities import (
    CAPABILITIES,
    DEFAULT_SELF_TRADE_PREVENTION,
    MARKET_PERMISSIONS,
    PERMISSION_SETS,
)
from chalicelib.domain.money import MAX_UNITS, format_units
from chalicelib.domain.orders import SelfTradePrevention
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import bad_symbol

# (rateLimitType, interval, intervalNum, limit), in Binance's order.
RATE_LIMITS = (
    ("REQUEST_WEIGHT", "MINUTE", 1, 6000),
    ("ORDERS", "SECOND", 10, 100),
    ("ORDERS", "DAY", 1, 200000),
)


def exchange_info(conn: Conn, symbols: list[str] | None, now_ms: int, *,
                  permissions: frozenset[str] | None = None, status: str | None = None,
                  show_permission_sets: bool = True) -> dict[str, Any]:
    """Every market, or only ``symbols`` (BAD_SYMBOL if any is unknown), by symbol; only
    those with one of ``permissions`` (all ours are SPOT) and in ``status`` if given."""
    rows = admin_repo.markets_with_scales(conn, symbols)
    if symbols is not None and len(rows) != len(set(symbols)):
        raise bad_symbol()
    if permissions is not None and not permissions & MARKET_PERMISSIONS:
        rows = []
    permission_sets = [list(s) for s in PERMISSION_SETS] if show_permission_sets else []
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": kind, "interval": interval, "intervalNum": count, "limit": limit}
            for kind, interval, count, limit in RATE_LIMITS
        ],
        "exchangeFilters": [],
        "symbols": [{**_symbol(*row), "permissionSets": permission_sets} for row in rows
                    if status is None or row[1] == status],
    }


def _symbol(
    symbol: str, status: str, base: str, base_scale: int, quote: str, quote_scale: int,
    tick_size: Decimal, lot_size: Decimal, min_qty: Decimal, max_qty: Decimal,
    min_notional: Decimal,
) -> dict[str, Any]:
    def price(units: Decimal | int) -> str:
        return format_units(int(units), quote_scale)

    def qty(units: Decimal) -> str:
        return format_units(int(units), base_scale)

    lot = {"minQty": qty(min_qty), "maxQty": qty(max_qty), "stepSize": qty(lot_size)}
    return {
        "symbol": symbol,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": base_scale,
        "quoteAsset": quote,
        "quotePrecision": quote_scale,
        "quoteAssetPrecision": quote_scale,
        "baseCommissionPrecision": base_scale,
        "quoteCommissionPrecision": quote_scale,
        "orderTypes": list(CAPABILITIES.order_types),
        "icebergAllowed": CAPABILITIES.iceberg_allowed,
        "ocoAllowed": CAPABILITIES.oco_allowed,
        "otoAllowed": CAPABILITIES.oto_allowed,
        "opoAllowed": CAPABILITIES.opo_allowed,
        "quoteOrderQtyMarketAllowed": CAPABILITIES.quote_order_qty_market_allowed,
        "allowTrailingStop": CAPABILITIES.allow_trailing_stop,
        "cancelReplaceAllowed": CAPABILITIES.cancel_replace_allowed,
        "amendAllowed": CAPABILITIES.amend_allowed,
        "pegInstructionsAllowed": CAPABILITIES.peg_instructions_allowed,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            # maxPrice 0 is Binance's "no maximum price".
            {"filterType": "PRICE_FILTER", "minPrice": price(tick_size), "maxPrice": price(0),
             "tickSize": price(tick_size)},
            {"filterType": "LOT_SIZE", **lot},
            {"filterType": "MARKET_LOT_SIZE", **lot},
            # No maximum notional either: the largest amount the database can hold.
            {"filterType": "NOTIONAL", "minNotional": price(min_notional),
             "applyMinToMarket": True, "maxNotional": price(MAX_UNITS),
             "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [],
        "permissionSets": [],
        "defaultSelfTradePreventionMode": DEFAULT_SELF_TRADE_PREVENTION.value,
        "allowedSelfTradePreventionModes": [mode.value for mode in SelfTradePrevention],
    }

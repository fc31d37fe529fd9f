"""Binance's symbol filters, each written once: does an order fit its market?

Each rule is a pure function answering with the ``RejectReason`` of the first filter
the order fails, or None. The API checks them before reserving anything; the matching
engine keeps an inline fast check and asks these rules only for the reason of a
refusal. ``rejection`` turns a reason into the error a Binance client expects.

Amounts are typed ``object`` where the engine may receive anything a command carries:
a value that is not an int fails the rule instead of raising.
"""

from __future__ import annotations

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.money import MAX_UNITS
from chalicelib.domain.orders import MarketSpec, RejectReason


def price_problem(spec: MarketSpec, price: object) -> RejectReason | None:
    """PRICE_FILTER: a positive price on the tick grid."""
    return _on_grid(price, spec.tick_size, RejectReason.INVALID_PRICE,
                    RejectReason.PRICE_OFF_TICK)


def lot_problem(spec: MarketSpec, qty: object) -> RejectReason | None:
    """LOT_SIZE's step: a positive quantity on the lot grid (all an amend checks)."""
    return _on_grid(qty, spec.lot_size, RejectReason.INVALID_QUANTITY,
                    RejectReason.QTY_OFF_LOT)


def _on_grid(value: object, step: int, invalid: RejectReason,
             off_grid: RejectReason) -> RejectReason | None:
    if type(value) is not int or value <= 0:
        return invalid
    return off_grid if value % step else None


def qty_problem(spec: MarketSpec, qty: object) -> RejectReason | None:
    """LOT_SIZE: on the lot grid and within the market's minimum and maximum."""
    reason = lot_problem(spec, qty)
    if reason is not None:
        return reason
    assert isinstance(qty, int)
    if qty < spec.min_qty:
        return RejectReason.QTY_TOO_SMALL
    if qty > spec.max_qty:
        return RejectReason.QTY_TOO_LARGE
    return None


def notional_problem(spec: MarketSpec, notional: int) -> RejectReason | None:
    """NOTIONAL: at least the market's minimum (0 disables it)."""
    return RejectReason.NOTIONAL_TOO_SMALL if notional < spec.min_notional else None


def limit_problem(spec: MarketSpec, price: object, qty: object) -> RejectReason | None:
    """A LIMIT or LIMIT_MAKER order's price, quantity and notional, in that order; the
    notional is also an amount the ledger must be able to lock."""
    reason = price_problem(spec, price) or qty_problem(spec, qty)
    if reason is not None:
        return reason
    assert isinstance(price, int)
    assert isinstance(qty, int)
    notional = spec.notional(price, qty)
    reason = notional_problem(spec, notional)
    if reason is None and notional > MAX_UNITS:
        return RejectReason.NOTIONAL_TOO_LARGE
    return reason


def market_problem(spec: MarketSpec, qty: object, quote_qty: object) -> RejectReason | None:
    """A MARKET order sized by base quantity (``qty``) or else by quote amount."""
    if qty:
        return qty_problem(spec, qty)
    if type(quote_qty) is not int or quote_qty <= 0:
        return RejectReason.INVALID_QUANTITY
    return notional_problem(spec, quote_qty)


def rejection(reason: RejectReason) -> ApiError:
    """The API's 400 for an order refused for ``reason``."""
    return ApiError(400, ErrorCode(reason.binance_code), reason.binance_msg)

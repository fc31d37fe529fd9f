"""Order lists as Binance has them: which order types an OCO's legs may be, the price
relationship of its legs, and a list's status as its orders' statuses make it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from chalicelib.domain.orders import OrderStatus, OrderType, RejectReason, Side

PROFIT_TYPES = frozenset({OrderType.LIMIT_MAKER, OrderType.TAKE_PROFIT,
                          OrderType.TAKE_PROFIT_LIMIT})
LOSS_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT})
# (above, below) leg types per side: a SELL takes profit above and stops its loss
# below; a BUY stops its loss above and takes its profit below.
LEG_TYPES = {Side.SELL: (PROFIT_TYPES, LOSS_TYPES), Side.BUY: (LOSS_TYPES, PROFIT_TYPES)}


class ContingencyType(StrEnum):
    OCO = "OCO"
    OTO = "OTO"  # Binance names an OTOCO's contingency type OTO too


class ListStatusType(StrEnum):
    EXEC_STARTED = "EXEC_STARTED"
    ALL_DONE = "ALL_DONE"


class ListOrderStatus(StrEnum):
    EXECUTING = "EXECUTING"
    ALL_DONE = "ALL_DONE"
    REJECT = "REJECT"


_LIVE = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_NEW})


def list_status(statuses: Iterable[OrderStatus]) -> tuple[ListStatusType, ListOrderStatus]:
    """Executing while any of its orders is open (or pending); all done once none is,
    rejected when every order was."""
    seen = list(statuses)
    if any(status in _LIVE for status in seen):
        return ListStatusType.EXEC_STARTED, ListOrderStatus.EXECUTING
    if seen and all(status is OrderStatus.REJECTED for status in seen):
        return ListStatusType.ALL_DONE, ListOrderStatus.REJECT
    return ListStatusType.ALL_DONE, ListOrderStatus.ALL_DONE


def leg_level(order_type: OrderType, price: int, stop_price: int) -> int:
    """The price an OCO leg waits for: a LIMIT_MAKER's limit, a stop's stop price."""
    return price if order_type is OrderType.LIMIT_MAKER else stop_price


def oco_prices_problem(above_level: int, below_level: int,
                       last_price: int) -> RejectReason | None:
    """Binance's price relationship: above > last trade price > below (the legs' levels
    strictly ordered when nothing has traded yet)."""
    ordered = above_level > last_price > below_level if last_price else above_level > below_level
    return None if ordered else RejectReason.OCO_BAD_PRICES

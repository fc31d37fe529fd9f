"""What makes an OCO order list well formed, apart from each leg's own filters.

Pure rules on the command and the last trade price (``chalicelib.domain.order_lists``
has Binance's leg types and price relationship); the book applies them before accepting
either leg.
"""

from __future__ import annotations

from chalicelib.domain import order_lists
from chalicelib.domain.order_lists import LEG_TYPES
from chalicelib.domain.orders import OrderType, RejectReason

from .commands import PlaceOco, PlaceOrder


def oco_shape_problem(cmd: PlaceOco) -> RejectReason | None:
    """Two distinct orders of one user, same side and quantity, of the leg types the
    side allows above and below."""
    above, below = cmd.above, cmd.below
    if (
        above.user_id != below.user_id or above.side is not below.side
        or above.qty != below.qty or above.order_id == below.order_id
        or above.side not in LEG_TYPES
    ):
        return RejectReason.INVALID_ORDER
    above_types, below_types = LEG_TYPES[above.side]
    if not (_is_type_in(above, above_types) and _is_type_in(below, below_types)):
        return RejectReason.INVALID_ORDER
    return None


def leg_level(leg: PlaceOrder) -> int:
    """The price a leg waits for: a LIMIT_MAKER's limit, a stop's stop price."""
    return order_lists.leg_level(leg.order_type, leg.price, leg.stop_price)


def oco_prices_problem(cmd: PlaceOco, last_price: int) -> RejectReason | None:
    """Binance's price relationship: above > last trade price > below (the legs' levels
    strictly ordered when nothing has traded yet)."""
    return order_lists.oco_prices_problem(leg_level(cmd.above), leg_level(cmd.below),
                                          last_price)


def _is_type_in(leg: PlaceOrder, types: frozenset[OrderType]) -> bool:
    return type(leg.order_type) is OrderType and leg.order_type in types

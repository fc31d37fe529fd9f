"""The book's data: the live order object, one side's price levels, and the enum
aliases the hot path compares by identity.

Names keep their leading underscore: they are private to the engine package (the other
engine modules import them; nothing outside does).

Data structures, chosen for CPython speed:

* each side maps price -> level, a dict order id -> order whose insertion order is the
  queue (time priority); removing any order is O(1) and nothing is left behind.
* each side also keeps a sorted list of *keys* whose last element is the best price
  (bids: key = price, asks: key = -price). Activity near the top of the book touches the
  end of that list, which is cheap.
* ``OrderBook._orders`` (id -> order) also keeps insertion order, which within each level
  *is* queue order; the snapshot lists orders in that order, so ``restore`` rebuilds every
  queue exactly.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.orders import (
    DoneReason,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

from .commands import PlaceOrder
from .snapshot import RestingOrder

# Builds a NamedTuple from a tuple in C, skipping the Python-level __new__ (hot path).
_new: Any = tuple.__new__

# Module-level aliases: identity checks against these avoid enum attribute lookups.
_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_LIMIT_MAKER = OrderType.LIMIT_MAKER
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_STP_NONE = SelfTradePrevention.NONE
_EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER
_EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
_EXPIRE_BOTH = SelfTradePrevention.EXPIRE_BOTH
_FILLED = DoneReason.FILLED
_CANCELED = DoneReason.CANCELED
_EXPIRED_IOC = DoneReason.EXPIRED_IOC
_EXPIRED_FOK = DoneReason.EXPIRED_FOK
_EXPIRED_STP = DoneReason.EXPIRED_STP
_REJECTED_POST_ONLY = DoneReason.REJECTED_POST_ONLY
_EXPIRED_IN_LIST = DoneReason.EXPIRED_IN_LIST
_STOP_TYPES = frozenset(t for t in OrderType if t.is_conditional)

# "No limit" for the base side of a MARKET order sized by quote amount.
_UNLIMITED = 1 << 256


class _Order:
    """A LIMIT / LIMIT_MAKER order, in the book or about to be matched.

    Cancel-replace reuses the cancelled order's object for the new order (one allocation
    fewer on the most frequent command); nothing else keeps a reference to it.
    """

    __slots__ = (
        "filled_quote", "is_buy", "order_id", "order_type", "own", "price", "qty",
        "remaining", "side", "stp", "user_id",
    )

    def __init__(
        self, order_id: int, user_id: int, side: Side, order_type: OrderType,
        stp: SelfTradePrevention, price: int, qty: int, remaining: int, filled_quote: int,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.side = side
        self.is_buy = side is _BUY
        self.order_type = order_type
        self.stp = stp
        self.price = price
        self.qty = qty  # original quantity (lowered by amend)
        self.remaining = remaining  # still open; qty - remaining has traded
        self.filled_quote = filled_quote  # quote amount traded so far
        # The owner's open orders (OrderBook._by_user[user_id]) once resting: saves a lookup.
        self.own: dict[int, _Order] | None = None


class _BookSide:
    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.levels: dict[int, dict[int, _Order]] = {}
        self.keys: list[int] = []  # sorted sign * price; keys[-1] is the best price
        self.sign = sign


def _valid_enums(cmd: PlaceOrder) -> bool:
    """Members only: a plain "BUY" string would compare equal but is not accepted (an
    enum with members cannot be subclassed, so the exact type says it is a member)."""
    return (
        type(cmd.side) is Side and type(cmd.tif) is TimeInForce
        and type(cmd.stp) is SelfTradePrevention
    )


def _resting(o: _Order) -> RestingOrder:
    return RestingOrder(o.order_id, o.user_id, o.side, o.order_type, o.stp, o.price, o.qty,
                        o.remaining, o.filled_quote)

"""What a book holds, how orders go in and out of its levels, and how it writes events.

``BookState`` is the base of ``OrderBook`` and of its parts (``Matching``,
``StopOrders``, ``OrderLists``): all the book's fields are set here, in one place, so
each part sees them typed without declaring them again.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from chalicelib.domain.market_rules import limit_problem, market_problem
from chalicelib.domain.orders import (
    CommandKind,
    DoneReason,
    MarketSpec,
    RejectReason,
    Side,
)

from .commands import PlaceOrder
from .events import Event, OrderDone, Rejected
from .levels import _CANCELED, _UNLIMITED, _BookSide, _new, _Order, _valid_enums
from .snapshot import StopOrder


class BookState:
    """One market's book data; ``OrderBook`` adds the commands."""

    # Trade prices since stops were last checked: none is (_UNLIMITED, 0).
    _low: int
    _high: int

    def __init__(self, spec: MarketSpec, *, next_seq: int = 1, next_trade_id: int = 1) -> None:
        self.spec = spec
        self._tick = spec.tick_size
        self._lot = spec.lot_size
        self._unit = spec.base_unit
        self._min_qty = spec.min_qty
        self._max_qty = spec.max_qty
        # price * qty >= this  <=>  price * qty // base_unit >= min_notional. At least 1, so
        # that with qty >= min_qty > 0 it also proves price > 0 (one check fewer per order).
        self._min_price_qty = max(spec.min_notional * spec.base_unit, 1)
        self._maker_ppm = spec.maker_fee_ppm
        self._taker_ppm = spec.taker_fee_ppm
        self._bids = _BookSide(1)
        self._asks = _BookSide(-1)
        self._orders: dict[int, _Order] = {}
        self._by_user: dict[int, dict[int, _Order]] = {}
        self._stops: dict[int, StopOrder] = {}
        self._siblings: dict[int, int] = {}  # OCO leg -> the other leg
        self._activated: list[int] = []  # OCO legs that traded, worked or ended
        self._pending: dict[int, tuple[PlaceOrder, ...]] = {}  # OTO working id -> pending
        self._pending_of: dict[int, int] = {}  # OTO pending order id -> its working order
        self._last_price = 0
        self._low, self._high = _UNLIMITED, 0
        # Set when a command leaves OCO legs activated or stops to check (one test per
        # command on the hot path).
        self._follow_up = False
        self._seq = next_seq
        self._trade_id = next_trade_id
        self._out: list[Event] = []

    # ------------------------------------------------------------ book upkeep

    def _rest(self, o: _Order) -> None:
        order_id = o.order_id
        price = o.price
        if o.is_buy:
            book = self._bids
            key = price
        else:
            book = self._asks
            key = -price
        levels = book.levels
        level = levels.get(price)
        if level is None:
            levels[price] = {order_id: o}
            keys = book.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        else:
            level[order_id] = o
        self._orders[order_id] = o
        own = o.own  # set if this object is recycled from the same user's cancelled order
        if own is None:
            own = self._own_orders(o.user_id)
            o.own = own
        own[order_id] = o

    def _own_orders(self, user_id: int) -> dict[int, _Order]:
        """The user's open orders index, created on first use."""
        own = self._by_user.get(user_id)
        if own is None:
            if len(self._by_user) > 2 * len(self._orders) + 1024:
                self._sweep_idle_users()
            own = self._by_user[user_id] = {}
        return own

    def _remove(self, o: _Order) -> None:
        """Take a resting order out of the book (its fields stay as they were)."""
        order_id = o.order_id
        price = o.price
        book = self._bids if o.is_buy else self._asks
        level = book.levels[price]
        del level[order_id]
        if not level:
            del book.levels[price]
            key = book.sign * price
            keys = book.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        del self._orders[order_id]
        # A user's (possibly empty) dict is kept: users who cancel and replace their only
        # order would otherwise free and rebuild it every time. Empties are swept lazily,
        # never while an order (even one being recycled) still points at them.
        del o.own[order_id]  # type: ignore[union-attr]

    def _sweep_idle_users(self) -> None:
        """Drop empty per-user indexes; called when they outnumber open orders."""
        self._by_user = {user: own for user, own in self._by_user.items() if own}

    def _cancel_resting(self, o: _Order) -> None:
        self._remove(o)
        self._emit_done(o, _CANCELED)

    # ------------------------------------------------------------------- events

    def _emit(self, kind: type, fields: tuple[object, ...]) -> None:
        seq = self._seq
        self._out.append(_new(kind, (seq, *fields)))
        self._seq = seq + 1

    def _emit_done(self, o: _Order, reason: DoneReason) -> None:
        """``o`` is finished: what it has not traded (``o.remaining``) never will."""
        seq = self._seq
        remaining = o.remaining
        self._out.append(_new(OrderDone, (seq, o.order_id, o.user_id, o.side, reason,
                                          o.qty - remaining, o.filled_quote, remaining)))
        self._seq = seq + 1

    def _emit_done_new(
        self, order_id: int, user_id: int, side: Side, reason: DoneReason, filled: int,
        filled_quote: int, remaining: int,
    ) -> None:
        seq = self._seq
        self._out.append(_new(OrderDone, (seq, order_id, user_id, side, reason, filled,
                                          filled_quote, remaining)))
        self._seq = seq + 1

    def _reject(self, kind: CommandKind, order_id: int, user_id: int,
                reason: RejectReason) -> None:
        seq = self._seq
        self._out.append(_new(Rejected, (seq, kind, order_id, user_id, reason)))
        self._seq = seq + 1

    # ---------------------------------------------------------------- validation

    def _limit_problem(self, price: object, qty: object) -> RejectReason:
        """Why a limit price/quantity pair failed the inline fast check (slow path)."""
        reason = limit_problem(self.spec, price, qty)
        if reason is None:
            raise AssertionError("unreachable: the fast check passed")
        return reason

    def _market_problem(self, cmd: PlaceOrder, stop_price: object = 0) -> RejectReason | None:
        """What is wrong with a MARKET order (``stop_price``: the one it must carry)."""
        qty, quote_qty, cap = cmd.qty, cmd.quote_qty, cmd.spend_cap
        if cmd.order_id in self._orders or cmd.order_id in self._stops:
            return RejectReason.DUPLICATE_ORDER_ID
        if not _valid_enums(cmd):
            return RejectReason.INVALID_ORDER
        if any(type(v) is not int or v < 0 for v in (qty, quote_qty, cap)):
            return RejectReason.INVALID_QUANTITY
        if cmd.price or cmd.stop_price != stop_price or (qty and quote_qty):
            return RejectReason.INVALID_ORDER
        return market_problem(self.spec, qty, quote_qty)

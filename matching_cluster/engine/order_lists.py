"""Order lists: OCO, OTO and OTOCO, their rules and how the book keeps them.

OCO legs are ordinary resting or stop orders linked in ``_siblings`` (each leg's id to
the other's). A maker leg that trades or is expired in matching, or a stop leg that
starts working, *activates* its list: the other leg expires (EXPIRED_IN_LIST) once the
current command's matching is done, before any further stop is set working, or at
once for a stop leg, before it trades. Cancelling a leg cancels the other.

An OTO list's working order is placed at once; its pending order (an OTOCO's pending
OCO pair) waits in ``_pending`` and is placed when the working order fills, or ends
with it otherwise.

The rules on a list's shape and prices (``chalicelib.domain.order_lists`` has Binance's
leg types and price relationship) are checked before either leg is accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain import order_lists
from chalicelib.domain.market_rules import limit_problem
from chalicelib.domain.order_lists import LEG_TYPES
from chalicelib.domain.orders import CommandKind, DoneReason, OrderType, RejectReason, TimeInForce

from .commands import PlaceOco, PlaceOrder, PlaceOto
from .events import OrderDone
from .levels import (
    _BUY,
    _CANCELED,
    _EXPIRED_IN_LIST,
    _FILLED,
    _GTC,
    _LIMIT,
    _LIMIT_MAKER,
    _MARKET,
    _Order,
    _valid_enums,
)
from .snapshot import PendingOrder
from .state import BookState


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


class OrderLists(BookState):
    """Placing OCO and OTO lists, linking and expiring OCO legs, releasing pending orders."""

    if TYPE_CHECKING:  # the book's other parts this one uses
        def best_bid(self) -> int | None: ...

        def best_ask(self) -> int | None: ...

        def _place(self, cmd: PlaceOrder) -> None: ...

        def _submit_limit(self, o: _Order, tif: TimeInForce, *, accept: bool = True) -> None:
            ...

        def _accept_stop(self, cmd: PlaceOrder) -> None: ...

        def _stop_problem(self, cmd: PlaceOrder, *, check_trigger: bool = True
                          ) -> RejectReason | None: ...

    def oco_pairs(self) -> list[tuple[int, int]]:
        """The (lower id, higher id) legs of every OCO list still linked, sorted."""
        return sorted((a, b) for a, b in self._siblings.items() if a < b)

    def _place_oco(self, cmd: PlaceOco) -> None:
        reason = self._oco_problem(cmd)
        if reason is not None:
            for leg in (cmd.above, cmd.below):
                self._reject(CommandKind.PLACE, leg.order_id, leg.user_id, reason)
            return
        for leg in (cmd.above, cmd.below):
            if leg.order_type is _LIMIT_MAKER:
                self._submit_limit(_Order(leg.order_id, leg.user_id, leg.side, _LIMIT_MAKER,
                                          leg.stp, leg.price, leg.qty, leg.qty, 0), _GTC)
            else:
                self._accept_stop(leg)
        above, below = cmd.above.order_id, cmd.below.order_id
        self._siblings[above], self._siblings[below] = below, above

    def _place_oto(self, cmd: PlaceOto) -> None:
        reason = self._oto_problem(cmd)
        if reason is not None:
            for o in (cmd.working, *cmd.pending):
                self._reject(CommandKind.PLACE, o.order_id, o.user_id, reason)
            return
        working = cmd.working.order_id
        self._pending[working] = cmd.pending
        for p in cmd.pending:
            self._pending_of[p.order_id] = working
        self._place(cmd.working)

    def _oto_problem(self, cmd: PlaceOto) -> RejectReason | None:
        """The list's shape, the working order as a LIMIT / LIMIT_MAKER of its own, then
        the pending order (or the pending pair, as an OCO but for its prices) as placed
        later."""
        working, pending = cmd.working, cmd.pending
        ids = [o.order_id for o in (working, *pending)]
        if (
            type(pending) is not tuple or len(pending) not in (1, 2) or len(set(ids)) != len(ids)
            or any(p.user_id != working.user_id for p in pending)
            or type(working.order_type) is not OrderType
            or working.order_type not in (_LIMIT, _LIMIT_MAKER)
        ):
            return RejectReason.INVALID_ORDER
        if any(i in self._orders or i in self._stops or i in self._pending_of for i in ids):
            return RejectReason.DUPLICATE_ORDER_ID
        reason = self._resting_problem(working)
        if len(pending) == 2:
            pair = PlaceOco(*pending)
            reason = reason or oco_shape_problem(pair)
            for leg in pending:
                reason = reason or self._leg_problem(leg)
            return reason
        (single,) = pending
        if reason is not None or type(single.order_type) is not OrderType:
            return reason or RejectReason.INVALID_ORDER
        if single.order_type in (_LIMIT, _LIMIT_MAKER):
            return self._resting_problem(single)
        if single.order_type is _MARKET:
            return RejectReason.INVALID_ORDER if single.quote_qty else self._market_problem(single)
        return self._stop_problem(single, check_trigger=False)

    def _resting_problem(self, o: PlaceOrder) -> RejectReason | None:
        """What is wrong with a LIMIT / LIMIT_MAKER order, as ``_place`` checks it."""
        reason = limit_problem(self.spec, o.price, o.qty)
        if reason is None and (o.quote_qty or o.spend_cap or o.stop_price
                               or not _valid_enums(o)):
            return RejectReason.INVALID_ORDER
        return reason

    def _release_pending(self) -> bool:
        """Place the pending orders of every OTO list whose working order filled, end
        those of lists whose working order ended otherwise; whether there were any."""
        ended = [working for working in self._pending if working not in self._orders]
        for working in ended:
            pending = self._pending.pop(working)
            for p in pending:
                del self._pending_of[p.order_id]
            reason = self._end_reason(working)
            if reason is _FILLED:
                if len(pending) == 1:
                    self._place(pending[0])
                else:
                    self._place_oco(PlaceOco(*pending))
                continue
            end = _CANCELED if reason is _CANCELED else _EXPIRED_IN_LIST
            for p in pending:
                self._emit_done_new(p.order_id, p.user_id, p.side, end, 0, 0, p.qty)
        return bool(ended)

    def _end_reason(self, order_id: int) -> DoneReason:
        """Why an order this command took off the book ended (its latest OrderDone)."""
        for event in reversed(self._out):
            if type(event) is OrderDone and event.order_id == order_id:
                return event.reason
        raise AssertionError(f"order {order_id} left the book without an OrderDone")

    def _oco_problem(self, cmd: PlaceOco) -> RejectReason | None:
        """The list's shape, then each leg as an order of its own (a stop leg is not
        checked against the last price: the price relationship is), then the price
        relationship, then whether a LIMIT_MAKER leg would take."""
        reason = oco_shape_problem(cmd)
        for leg in (cmd.above, cmd.below):
            if reason is None:
                reason = self._leg_problem(leg)
        if reason is None:
            reason = oco_prices_problem(cmd, self._last_price)
        if reason is None and any(self._crosses(leg) for leg in (cmd.above, cmd.below)
                                  if leg.order_type is _LIMIT_MAKER):
            reason = RejectReason.WOULD_MATCH_IMMEDIATELY
        return reason

    def _leg_problem(self, leg: PlaceOrder) -> RejectReason | None:
        if leg.order_type is not _LIMIT_MAKER:
            return self._stop_problem(leg, check_trigger=False)
        reason = limit_problem(self.spec, leg.price, leg.qty)
        if reason is None and (leg.order_id in self._orders or leg.order_id in self._stops):
            return RejectReason.DUPLICATE_ORDER_ID
        if reason is None and (leg.quote_qty or leg.spend_cap or leg.stop_price
                               or not _valid_enums(leg)):
            return RejectReason.INVALID_ORDER
        return reason

    def _crosses(self, leg: PlaceOrder) -> bool:
        """Whether a limit order at the leg's price would meet the opposite best price."""
        if leg.side is _BUY:
            best = self.best_ask()
            return best is not None and best <= leg.price
        best = self.best_bid()
        return best is not None and best >= leg.price

    def _unlink(self, leg: int) -> int | None:
        """Take an OCO leg's link out; the other leg's id (None if not linked)."""
        sibling = self._siblings.pop(leg, None)
        if sibling is not None:
            del self._siblings[sibling]
        return sibling

    def _expire_siblings(self) -> None:
        """Expire the other leg of every OCO list a leg of which was activated."""
        activated, self._activated = self._activated, []
        for leg in activated:
            sibling = self._unlink(leg)
            if sibling is not None:
                self._end_leg(sibling, _EXPIRED_IN_LIST)

    def _end_leg(self, order_id: int, reason: DoneReason) -> None:
        """Take an open order (resting or waiting) out and say why it is done."""
        o = self._orders.get(order_id)
        if o is not None:
            self._remove(o)
            self._emit_done(o, reason)
            return
        stop = self._stops.pop(order_id)
        self._emit_done_new(stop.order_id, stop.user_id, stop.side, reason, 0, 0, stop.qty)


def _pending_of(working_id: int, p: PlaceOrder) -> PendingOrder:
    return PendingOrder(working_id, p.order_id, p.user_id, p.side, p.order_type, p.stp, p.tif,
                        p.price, p.qty, p.quote_qty, p.spend_cap, p.stop_price)

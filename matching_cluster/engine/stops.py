"""Stop orders (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT).

They wait outside the book in ``_stops`` (arrival order). One whose stop price the last
trade price has already reached is rejected (Binance's "Order would trigger
immediately"). After each command, every stop that a price traded since the previous
check has reached (low and high are tracked) starts working, oldest first, one at a
time: its own trades can reach further stops, which work in the same way before the next
command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain.market_rules import limit_problem, lot_problem, price_problem
from chalicelib.domain.orders import (
    CommandKind,
    RejectReason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

from .commands import PlaceOrder
from .events import Accepted, Amended, Triggered
from .levels import _CANCELED, _GTC, _LIMIT, _MARKET, _UNLIMITED, _Order, _valid_enums
from .snapshot import StopOrder
from .state import BookState


class StopOrders(BookState):
    """Placing, amending, cancelling and triggering the book's stop orders."""

    if TYPE_CHECKING:  # the book's other parts this one uses
        def _submit_limit(self, o: _Order, tif: TimeInForce, *, accept: bool = True) -> None:
            ...

        def _work_market(self, order_id: int, user_id: int, side: Side,
                         stp: SelfTradePrevention, qty: int, quote_qty: int, cap: int) -> None:
            ...

        def _expire_siblings(self) -> None: ...

    def stop_orders(self, user_id: int | None = None) -> list[StopOrder]:
        """Stop orders waiting for their stop price (of one user, or all), oldest first."""
        return [s for s in self._stops.values() if user_id is None or s.user_id == user_id]

    def _place_stop(self, cmd: PlaceOrder) -> None:
        reason = self._stop_problem(cmd)
        if reason is not None:
            self._reject(CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        self._accept_stop(cmd)

    def _accept_stop(self, cmd: PlaceOrder) -> None:
        """A validated stop order: accepted, it waits for its stop price."""
        stop = _stop_of(cmd)
        self._emit(Accepted, (stop.order_id, stop.user_id, stop.side, stop.order_type,
                              stop.tif, stop.price, stop.qty, stop.quote_qty))
        self._stops[stop.order_id] = stop

    def _trigger_stops(self) -> None:
        """Set working, oldest first, every stop that the prices traded since the last
        check reached, including those its predecessors' trades reach."""
        stops = self._stops
        while stops:
            low, high = self._low, self._high
            fired = next((s for s in stops.values() if s.reached(low, high)), None)
            if fired is None:
                break
            del stops[fired.order_id]
            self._emit(Triggered, (fired.order_id, fired.user_id, fired.side, fired.order_type,
                                   fired.stop_price, self._last_price))
            if fired.order_id in self._siblings:
                self._activated.append(fired.order_id)
                self._expire_siblings()
            if fired.order_type.working_type is _MARKET:
                self._work_market(fired.order_id, fired.user_id, fired.side, fired.stp,
                                  fired.qty, fired.quote_qty, fired.spend_cap)
            else:
                self._submit_limit(_Order(fired.order_id, fired.user_id, fired.side,
                                          fired.order_type, fired.stp, fired.price, fired.qty,
                                          fired.qty, 0), fired.tif, accept=False)
            if self._activated:
                self._expire_siblings()
        self._low, self._high = _UNLIMITED, 0

    def _cancel_stop(self, stop: StopOrder) -> None:
        del self._stops[stop.order_id]
        self._emit_done_new(stop.order_id, stop.user_id, stop.side, _CANCELED, 0, 0, stop.qty)

    def _amend_stop(self, stop: StopOrder, new_qty: object) -> None:
        """Lower a waiting stop order's quantity; it keeps its place among the stops."""
        if stop.order_id in self._siblings:
            reason = RejectReason.IN_ORDER_LIST
        elif type(new_qty) is int and 0 < new_qty < stop.qty and not new_qty % self._lot:
            self._stops[stop.order_id] = stop._replace(qty=new_qty)
            self._emit(Amended, (stop.order_id, stop.user_id, stop.side, stop.price, stop.qty,
                                 new_qty, new_qty))
            return
        else:
            reason = lot_problem(self.spec, new_qty) or RejectReason.AMEND_NOT_REDUCING
        self._reject(CommandKind.AMEND, stop.order_id, stop.user_id, reason)

    def _stop_problem(self, cmd: PlaceOrder, *, check_trigger: bool = True) -> RejectReason | None:
        """What is wrong with a stop order: as the order it stands for, then its stop
        price (PRICE_FILTER), then (``check_trigger``) whether the last trade price
        already reached it."""
        stop_price = cmd.stop_price
        if cmd.order_type.working_type is _MARKET:
            reason = self._market_problem(cmd, stop_price)
        else:
            reason = limit_problem(self.spec, cmd.price, cmd.qty)
            if reason is None and (cmd.order_id in self._orders or cmd.order_id in self._stops):
                reason = RejectReason.DUPLICATE_ORDER_ID
            elif reason is None and (cmd.quote_qty or cmd.spend_cap or not _valid_enums(cmd)):
                reason = RejectReason.INVALID_ORDER
        if reason is None:
            reason = price_problem(self.spec, stop_price)
        if reason is None and check_trigger and self._last_price and _stop_of(cmd).reached(
                self._last_price, self._last_price):
            reason = RejectReason.WOULD_TRIGGER_IMMEDIATELY
        return reason


def _stop_of(cmd: PlaceOrder) -> StopOrder:
    """The waiting form of a stop order (a MARKET one has no time in force: GTC)."""
    tif = cmd.tif if cmd.order_type.working_type is _LIMIT else _GTC
    return StopOrder(cmd.order_id, cmd.user_id, cmd.side, cmd.order_type, cmd.stp, tif,
                     cmd.price, cmd.qty, cmd.quote_qty, cmd.spend_cap, cmd.stop_price)

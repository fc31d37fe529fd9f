"""Per-market order book with price-time priority: commands in, events out.

Pure and deterministic: no clock, no randomness, no I/O, integers only. The same
command stream always gives the same events, byte for byte (see ``events.encode_events``).

Units (as ``chalicelib.domain.orders``):

* ``qty``: base asset smallest units, a multiple of ``MarketSpec.lot_size``.
* ``price``: quote smallest units per ``MarketSpec.base_unit`` base units, a multiple of
  ``MarketSpec.tick_size``.
* quote amount of a fill: ``price * qty // base_unit`` -- exact, ``MarketSpec`` makes sure.
* fees: ``ceil(amount_received * rate_ppm / 1_000_000)``, rounded up in the exchange's
  favour. As on Binance by default, the buyer pays its fee in base (out of the ``qty``
  it receives) and the seller in quote (out of the ``quote_qty`` it receives); the
  maker rate applies to the resting order, the taker rate to the incoming one.

The book is built from parts, each a base class of ``OrderBook`` in its own module:

* ``levels``: the order object, a side's price levels, the enum aliases;
* ``state``: the book's fields, adding / removing orders, writing events;
* ``matching``: an incoming order against the book (the hot path);
* ``stops``: stop orders waiting for, and set off by, the last trade price;
* ``order_lists``: OCO / OTO / OTOCO lists.

This module has the commands (place with its checks, cancel, amend, cancel-replace),
the queries and the snapshot.
"""


from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.domain.market_rules import lot_problem
from chalicelib.domain.orders import (
    CommandKind,
    MarketSpec,
    OrderType,
    RejectReason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

from .commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
)
from .events import Accepted, Amended, Event, OrderDone
from .levels import (
    _BUY,
    _CANCELED,
    _FILLED,
    _GTC,
    _LIMIT,
    _LIMIT_MAKER,
    _MARKET,
    _STOP_TYPES,
    _BookSide,
    _new,
    _Order,
    _resting,
    _valid_enums,
)
from .matching import Matching
from .order_lists import OrderLists, _pending_of
from .snapshot import BookSnapshot, RestingOrder
from .stops import StopOrders

# Each enum's members by name; a member finds itself too (a StrEnum equals its name).
_SIDE_NAMES: dict[str, Side] = {m.value: m for m in Side}
_TYPE_NAMES: dict[str, OrderType] = {m.value: m for m in OrderType}
_STP_NAMES: dict[str, SelfTradePrevention] = {m.value: m for m in SelfTradePrevention}


class OrderBook(Matching, StopOrders, OrderLists):
    """One market's book. Feed it commands with ``apply``/``apply_batch``."""

    def __init__(self, spec: MarketSpec, *, next_seq: int = 1, next_trade_id: int = 1) -> None:
        super().__init__(spec, next_seq=next_seq, next_trade_id=next_trade_id)
        self._handlers: dict[type, Callable[[Any], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            CancelAll: self._cancel_all,
            AmendOrder: self._amend,
            CancelReplace: self._cancel_replace,
            PlaceOco: self._place_oco,
            PlaceOto: self._place_oto,
        }

    # ----------------------------------------------------------------- entry points

    def apply(self, cmd: Command) -> list[Event]:
        """Apply one command; return the events it caused, in sequence order.

        Bad input gives ``Rejected`` events, never an exception; only an object that is
        not one of the five command classes raises (``TypeError``): a programming error.
        """
        out: list[Event] = []
        self._out = out
        try:
            handler = self._handlers[type(cmd)]
        except KeyError:
            raise TypeError(f"not an engine command: {cmd!r}") from None
        handler(cmd)
        if self._follow_up or self._pending:
            self._follow_up_command()
        return out

    def apply_batch(self, cmds: Iterable[Command]) -> list[Event]:
        """Apply commands in order; return all their events, as ``apply`` would."""
        out: list[Event] = []
        self._out = out
        handlers = self._handlers
        for cmd in cmds:
            try:
                handler = handlers[type(cmd)]
            except KeyError:
                raise TypeError(f"not an engine command: {cmd!r}") from None
            handler(cmd)
            if self._follow_up or self._pending:
                self._follow_up_command()
        return out

    def _follow_up_command(self) -> None:
        """What a command set off: OCO legs expired by their siblings, then stops, then
        the pending orders of OTO lists whose working order ended (placed when it
        filled: their trades may set off more of all three)."""
        while True:
            if self._activated:
                self._expire_siblings()
            if self._high:
                self._trigger_stops()
            if not (self._pending and self._release_pending()):
                break
        self._follow_up = False

    @property
    def next_seq(self) -> int:
        return self._seq

    @property
    def next_trade_id(self) -> int:
        return self._trade_id

    @property
    def last_price(self) -> int:
        """The latest trade's price (0 before the first trade)."""
        return self._last_price

    # ------------------------------------------------------------------- queries

    def __len__(self) -> int:
        return len(self._orders)

    def best_bid(self) -> int | None:
        keys = self._bids.keys
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        keys = self._asks.keys
        return -keys[-1] if keys else None

    def level_counts(self) -> tuple[int, int]:
        """How many price levels each side holds: (bids, asks), without walking them."""
        return len(self._bids.keys), len(self._asks.keys)

    def depth(self, limit: int = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated (price, qty) levels best first: (bids, asks); ``limit`` 0 = all."""
        return self._side_depth(self._bids, limit), self._side_depth(self._asks, limit)

    @staticmethod
    def _side_depth(side: _BookSide, limit: int) -> list[tuple[int, int]]:
        keys = side.keys[::-1][:limit] if limit else side.keys[::-1]
        levels, sign = side.levels, side.sign
        return [(k * sign, sum(o.remaining for o in levels[k * sign].values())) for k in keys]

    def order(self, order_id: int) -> RestingOrder | None:
        o = self._orders.get(order_id)
        return None if o is None else _resting(o)

    def open_orders(self, user_id: int | None = None) -> list[RestingOrder]:
        """Open orders (of one user, or all) in arrival order."""
        if user_id is None:
            return [_resting(o) for o in self._orders.values()]
        return [_resting(o) for o in self._by_user.get(user_id, {}).values()]


    def level_orders(self, side: Side, price: int) -> list[RestingOrder]:
        """The live orders at one price, in queue (priority) order."""
        book = self._bids if side is _BUY else self._asks
        level = book.levels.get(price)
        if level is None:
            return []
        return [_resting(o) for o in level.values()]

    # --------------------------------------------------------------------- state

    def snapshot(self) -> BookSnapshot:
        """Everything needed to rebuild this book exactly (see ``restore``)."""
        return BookSnapshot(
            spec=self.spec,
            next_seq=self._seq,
            next_trade_id=self._trade_id,
            orders=tuple(_resting(o) for o in self._orders.values()),
            stops=tuple(self._stops.values()),
            last_price=self._last_price,
            oco_pairs=tuple(self.oco_pairs()),
            pending=tuple(_pending_of(working, p) for working, pending in self._pending.items()
                          for p in pending),
        )

    @classmethod
    def restore(cls, snapshot: BookSnapshot) -> OrderBook:
        """A book equivalent to the one ``snapshot`` was taken from."""
        book = cls(snapshot.spec, next_seq=snapshot.next_seq,
                   next_trade_id=snapshot.next_trade_id)
        # Members or their plain names to members (the hot path relies on identity): a
        # dict lookup per field is much cheaper than an enum constructor call, which only
        # a name not found (and so refused, as before) still goes through.
        sides, types, stps = _SIDE_NAMES, _TYPE_NAMES, _STP_NAMES
        orders = book._orders
        for r in snapshot.orders:
            if not 0 < r.remaining <= r.qty or r.order_id in orders:
                raise ValueError(f"inconsistent snapshot order {r!r}")
            book._rest(_Order(r.order_id, r.user_id, sides.get(r.side) or Side(r.side),
                              types.get(r.order_type) or OrderType(r.order_type),
                              stps.get(r.stp) or SelfTradePrevention(r.stp), r.price, r.qty,
                              r.remaining, r.filled_quote))
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise ValueError("snapshot book is crossed")
        book._last_price = snapshot.last_price
        for s in snapshot.stops:
            if s.order_id in book._orders or s.order_id in book._stops:
                raise ValueError(f"inconsistent snapshot stop order {s!r}")
            book._stops[s.order_id] = s._replace(
                side=Side(s.side), order_type=OrderType(s.order_type),
                stp=SelfTradePrevention(s.stp), tif=TimeInForce(s.tif))
        for a, b in snapshot.oco_pairs:
            legs_open = all(leg in book._orders or leg in book._stops for leg in (a, b))
            if a == b or not legs_open or a in book._siblings or b in book._siblings:
                raise ValueError(f"inconsistent snapshot OCO legs {(a, b)!r}")
            book._siblings[a], book._siblings[b] = b, a
        for p in snapshot.pending:
            if p.working_id not in book._orders or p.order_id in book._pending_of:
                raise ValueError(f"inconsistent snapshot pending order {p!r}")
            book._pending[p.working_id] = (*book._pending.get(p.working_id, ()), PlaceOrder(
                p.order_id, p.user_id, Side(p.side), OrderType(p.order_type),
                p.price, p.qty, p.quote_qty, TimeInForce(p.tif), SelfTradePrevention(p.stp),
                p.spend_cap, p.stop_price))
            book._pending_of[p.order_id] = p.working_id
        return book

    def state_hash(self) -> str:
        """sha256 hex of the canonical snapshot: equal hashes mean equal books."""
        return hashlib.sha256(self.snapshot().canonical_bytes()).hexdigest()

    # ------------------------------------------------------------------ commands

    def _place(self, cmd: PlaceOrder) -> None:
        otype = cmd.order_type
        if otype is _MARKET:
            self._place_market(cmd)
            return
        if otype is not _LIMIT and otype in _STOP_TYPES and type(otype) is OrderType:
            self._place_stop(cmd)
            return
        price = cmd.price
        qty = cmd.qty
        reason = None
        if not (
            type(price) is int and type(qty) is int
            and not price % self._tick and not qty % self._lot
            and self._min_qty <= qty <= self._max_qty and price * qty >= self._min_price_qty
        ):
            reason = self._limit_problem(price, qty)
        elif cmd.order_id in self._orders or cmd.order_id in self._stops:
            reason = RejectReason.DUPLICATE_ORDER_ID
        elif (
            (otype is not _LIMIT and otype is not _LIMIT_MAKER) or cmd.quote_qty
            or cmd.spend_cap or cmd.stop_price or not _valid_enums(cmd)
        ):
            reason = RejectReason.INVALID_ORDER
        if reason is not None:
            self._reject(CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        o = _Order(cmd.order_id, cmd.user_id, cmd.side, otype, cmd.stp, price, qty, qty, 0)
        self._submit_limit(o, cmd.tif if otype is _LIMIT else _GTC)

    def _cancel(self, cmd: CancelOrder) -> None:
        o = self._orders.get(cmd.order_id)
        if o is not None and o.user_id == cmd.user_id:
            self._cancel_resting(o)
        else:
            stop = self._stops.get(cmd.order_id) if self._stops else None
            if stop is None or stop.user_id != cmd.user_id:
                working = self._pending_of.get(cmd.order_id) if self._pending_of else None
                if working is not None and self._orders[working].user_id == cmd.user_id:
                    self._cancel(CancelOrder(working, cmd.user_id))  # ends its pending ones
                    return
                self._reject(CommandKind.CANCEL, cmd.order_id, cmd.user_id,
                             RejectReason.UNKNOWN_ORDER)
                return
            self._cancel_stop(stop)
        if self._siblings:
            sibling = self._unlink(cmd.order_id)
            if sibling is not None:
                self._end_leg(sibling, _CANCELED)

    def _cancel_all(self, cmd: CancelAll) -> None:
        """The user's resting orders oldest first, then their waiting stops oldest first
        (no events when nothing is open: the adapter acknowledges by offset). An OCO
        leg's sibling is cancelled with it."""
        own = self._by_user.get(cmd.user_id)
        if own:
            for o in list(own.values()):
                if o.order_id in self._orders:  # not cancelled already as a sibling
                    self._cancel(CancelOrder(o.order_id, o.user_id))
        if self._stops:
            for stop in self.stop_orders(cmd.user_id):
                if stop.order_id in self._stops:
                    self._cancel(CancelOrder(stop.order_id, stop.user_id))

    def _amend(self, cmd: AmendOrder) -> None:
        o = self._orders.get(cmd.order_id)
        new_qty = cmd.new_qty
        if o is None or o.user_id != cmd.user_id:
            stop = self._stops.get(cmd.order_id) if o is None and self._stops else None
            if stop is not None and stop.user_id == cmd.user_id:
                self._amend_stop(stop, new_qty)
                return
            reason = RejectReason.UNKNOWN_ORDER
        elif cmd.order_id in self._siblings or cmd.order_id in self._pending:
            reason = RejectReason.IN_ORDER_LIST
        elif type(new_qty) is int and 0 < new_qty < o.qty and not new_qty % self._lot:
            self._amend_down(o, new_qty)
            return
        else:
            reason = lot_problem(self.spec, new_qty) or RejectReason.AMEND_NOT_REDUCING
        self._reject(CommandKind.AMEND, cmd.order_id, cmd.user_id, reason)

    def _amend_down(self, o: _Order, new_qty: int) -> None:
        """Lower the order's total quantity in place: its queue position does not change."""
        old_qty = o.qty
        filled = old_qty - o.remaining
        if new_qty <= filled:
            # Nothing left to trade: the order is complete with what it already got.
            self._remove(o)
            o.qty = filled
            o.remaining = 0
            self._emit(Amended, (o.order_id, o.user_id, o.side, o.price, old_qty, filled, 0))
            self._emit_done(o, _FILLED)
            return
        o.qty = new_qty
        o.remaining -= old_qty - new_qty
        self._emit(Amended, (o.order_id, o.user_id, o.side, o.price, old_qty, new_qty,
                             o.remaining))

    def _cancel_replace(self, cmd: CancelReplace) -> None:
        """The most frequent command, so kept flat: ``_remove``, the ``OrderDone``, the
        ``Accepted`` and, when the new price does not cross, ``_rest`` are written out
        inline; a crossing one goes through ``_submit_limit`` to match."""
        orders = self._orders
        old_id = cmd.order_id
        o = orders.get(old_id)
        price = cmd.price
        qty = cmd.qty
        new_id = cmd.new_order_id
        if (
            o is None or o.user_id != cmd.user_id or new_id in orders
            or (self._stops and new_id in self._stops)
            or (self._siblings and old_id in self._siblings)
            or (self._pending and old_id in self._pending) or not (
                type(price) is int and type(qty) is int
                and not price % self._tick and not qty % self._lot
                and self._min_qty <= qty <= self._max_qty and price * qty >= self._min_price_qty
            )
        ):
            self._reject_replace(cmd, o)
            return
        if o.is_buy:
            own_side, opp = self._bids, self._asks
            key = price
        else:
            own_side, opp = self._asks, self._bids
            key = -price
        # Out of its level (as _remove).
        levels = own_side.levels
        old_price = o.price
        level = levels[old_price]
        del level[old_id]
        if not level:
            del levels[old_price]
            old_key = own_side.sign * old_price
            keys = own_side.keys
            if keys[-1] == old_key:
                keys.pop()
            else:
                del keys[bisect_left(keys, old_key)]
        del orders[old_id]
        own = o.own
        del own[old_id]  # type: ignore[union-attr]
        user_id, side, remaining = o.user_id, o.side, o.remaining
        seq = self._seq
        out = self._out
        out.append(_new(OrderDone, (seq, old_id, user_id, side, _CANCELED, o.qty - remaining,
                                    o.filled_quote, remaining)))
        out.append(_new(Accepted, (seq + 1, new_id, user_id, side, o.order_type, _GTC, price,
                                   qty, 0)))
        self._seq = seq + 2
        # The cancelled order's object is free now: recycle it for its replacement.
        o.order_id = new_id
        o.price = price
        o.qty = o.remaining = qty
        o.filled_quote = 0
        opp_keys = opp.keys
        if opp_keys and opp_keys[-1] >= -key:
            self._submit_limit(o, _GTC, accept=False)
            return
        self._rest(o)

    def _reject_replace(self, cmd: CancelReplace, o: _Order | None) -> None:
        if o is None or o.user_id != cmd.user_id:
            reason = RejectReason.UNKNOWN_ORDER
        elif cmd.new_order_id in self._orders or cmd.new_order_id in self._stops:
            reason = RejectReason.DUPLICATE_ORDER_ID
        elif cmd.order_id in self._siblings or cmd.order_id in self._pending:
            reason = RejectReason.IN_ORDER_LIST
        else:
            reason = self._limit_problem(cmd.price, cmd.qty)
        self._reject(CommandKind.CANCEL_REPLACE, cmd.new_order_id, cmd.user_id, reason)

    def _place_market(self, cmd: PlaceOrder) -> None:
        reason = self._market_problem(cmd)
        order_id, user_id, side, stp = cmd.order_id, cmd.user_id, cmd.side, cmd.stp
        if reason is not None:
            self._reject(CommandKind.PLACE, order_id, user_id, reason)
            return
        qty, quote_qty, cap = cmd.qty, cmd.quote_qty, cmd.spend_cap
        self._emit(Accepted, (order_id, user_id, side, _MARKET, cmd.tif, 0, qty, quote_qty))
        self._work_market(order_id, user_id, side, stp, qty, quote_qty, cap)

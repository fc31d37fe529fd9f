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

Data structures, chosen for CPython speed:

* each side maps price -> level, a dict order id -> order whose insertion order is the
  queue (time priority); removing any order is O(1) and nothing is left behind.
* each side also keeps a sorted list of *keys* whose last element is the best price
  (bids: key = price, asks: key = -price). Activity near the top of the book touches the
  end of that list, which is cheap.
* ``_orders`` (id -> order) also keeps insertion order, which within each level *is*
  queue order; the snapshot lists orders in that order, so ``restore`` rebuilds every
  queue exactly.

Stop orders (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT) wait outside the
book in ``_stops`` (arrival order). One whose stop price the last trade price has
already reached is rejected (Binance's "Order would trigger immediately"). After each
command, every stop that a price traded since the previous check has reached (low and
high are tracked) starts working, oldest first, one at a time: its own trades can
reach further stops, which work in the same way before the next command.

OCO legs are ordinary resting or stop orders linked in ``_siblings`` (each leg's id to
the other's). A maker leg that trades or is expired in matching, or a stop leg that
starts working, *activates* its list: the other leg expires (EXPIRED_IN_LIST) once the
current command's matching is done, before any further stop is set working, or at
once for a stop leg, before it trades. Cancelling a leg cancels the other.
"""


from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.domain.market_rules import (
    limit_problem,
    lot_problem,
    market_problem,
    price_problem,
)
from chalicelib.domain.orders import (
    FEE_RATE_SCALE,
    CommandKind,
    DoneReason,
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
from .events import (
    Accepted,
    Amended,
    Event,
    OrderDone,
    PreventedMatch,
    Rejected,
    Trade,
    Triggered,
)
from .order_lists import oco_prices_problem, oco_shape_problem
from .snapshot import BookSnapshot, PendingOrder, RestingOrder, StopOrder

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
_SIDES = (_BUY, _SELL)
_TIFS = (_GTC, _IOC, _FOK)
_STPS = (_STP_NONE, _EXPIRE_TAKER, _EXPIRE_MAKER, _EXPIRE_BOTH)

# Why matching stopped.
_STOP_BOOK = 0  # taker filled, or no crossing liquidity left
_STOP_STP = 1  # self-trade prevention expired the taker
_STOP_QUOTE = 2  # the quote budget cannot buy one more lot at the current price

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


class OrderBook:
    """One market's book. Feed it commands with ``apply``/``apply_batch``."""

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

    def oco_pairs(self) -> list[tuple[int, int]]:
        """The (lower id, higher id) legs of every OCO list still linked, sorted."""
        return sorted((a, b) for a, b in self._siblings.items() if a < b)

    def stop_orders(self, user_id: int | None = None) -> list[StopOrder]:
        """Stop orders waiting for their stop price (of one user, or all), oldest first."""
        return [s for s in self._stops.values() if user_id is None or s.user_id == user_id]

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
        for r in snapshot.orders:
            if not 0 < r.remaining <= r.qty or r.order_id in book._orders:
                raise ValueError(f"inconsistent snapshot order {r!r}")
            # Enum constructors accept plain names too; the hot path relies on identity.
            book._rest(_Order(r.order_id, r.user_id, Side(r.side), OrderType(r.order_type),
                              SelfTradePrevention(r.stp), r.price, r.qty, r.remaining,
                              r.filled_quote))
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
        orders = self._orders
        o = orders.get(cmd.order_id)
        price = cmd.price
        qty = cmd.qty
        if (
            o is None or o.user_id != cmd.user_id or cmd.new_order_id in orders
            or cmd.new_order_id in self._stops or cmd.order_id in self._siblings
            or cmd.order_id in self._pending or not (
                type(price) is int and type(qty) is int
                and not price % self._tick and not qty % self._lot
                and self._min_qty <= qty <= self._max_qty and price * qty >= self._min_price_qty
            )
        ):
            self._reject_replace(cmd, o)
            return
        self._remove(o)
        remaining = o.remaining
        seq = self._seq
        self._out.append(_new(OrderDone, (seq, o.order_id, o.user_id, o.side, _CANCELED,
                                          o.qty - remaining, o.filled_quote, remaining)))
        self._seq = seq + 1
        # The cancelled order's object is free now: recycle it for its replacement.
        o.order_id = cmd.new_order_id
        o.price = price
        o.qty = o.remaining = qty
        o.filled_quote = 0
        self._submit_limit(o, _GTC)

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

    # ------------------------------------------------------------------ matching

    def _submit_limit(self, o: _Order, tif: TimeInForce, *, accept: bool = True) -> None:
        """A validated LIMIT / LIMIT_MAKER order: accept (unless it was accepted before,
        as a stop order), match, then rest or finish."""
        if accept:
            seq = self._seq
            self._out.append(_new(Accepted, (seq, o.order_id, o.user_id, o.side, o.order_type,
                                             tif, o.price, o.qty, 0)))
            self._seq = seq + 1
        if o.is_buy:
            opp = self._asks
            limit_key = -o.price
        else:
            opp = self._bids
            limit_key = o.price
        keys = opp.keys
        if keys and keys[-1] >= limit_key:  # crosses the opposite best price
            if o.order_type is _LIMIT_MAKER:
                self._emit_done(o, _REJECTED_POST_ONLY)
                return
            if tif is _FOK and not self._fok_fillable(opp, limit_key, o.qty, o.user_id, o.stp):
                self._emit_done(o, _EXPIRED_FOK)
                return
            o.remaining, o.filled_quote, stop = self._match(
                opp, limit_key, o.order_id, o.user_id, o.is_buy, o.stp, o.qty, -1)
            if not o.remaining:
                self._emit_done(o, _FILLED)
                return
            if stop == _STOP_STP:
                self._emit_done(o, _EXPIRED_STP)
                return
        if tif is _GTC:
            self._rest(o)
        else:
            self._emit_done(o, _EXPIRED_IOC if tif is _IOC else _EXPIRED_FOK)

    def _place_market(self, cmd: PlaceOrder) -> None:
        reason = self._market_problem(cmd)
        order_id, user_id, side, stp = cmd.order_id, cmd.user_id, cmd.side, cmd.stp
        if reason is not None:
            self._reject(CommandKind.PLACE, order_id, user_id, reason)
            return
        qty, quote_qty, cap = cmd.qty, cmd.quote_qty, cmd.spend_cap
        self._emit(Accepted, (order_id, user_id, side, _MARKET, cmd.tif, 0, qty, quote_qty))
        self._work_market(order_id, user_id, side, stp, qty, quote_qty, cap)

    def _work_market(self, order_id: int, user_id: int, side: Side, stp: SelfTradePrevention,
                     qty: int, quote_qty: int, cap: int) -> None:
        """Match an accepted MARKET order as far as it goes, then finish it."""
        is_buy = side is _BUY
        if qty:  # by base quantity; a buy may be capped in quote
            base = qty
            quote_cap = cap if is_buy and cap else -1
        else:  # by quote amount; a sell may be capped in base
            base = cap if cap and not is_buy else _UNLIMITED
            quote_cap = quote_qty
        opp = self._asks if is_buy else self._bids
        left, filled_quote, stop = base, 0, _STOP_BOOK
        if opp.keys:
            left, filled_quote, stop = self._match(
                opp, opp.keys[0], order_id, user_id, is_buy, stp, base, quote_cap)
        filled = base - left
        if qty:
            done = _FILLED if not left else _EXPIRED_STP if stop == _STOP_STP else _EXPIRED_IOC
        elif filled and (stop == _STOP_QUOTE or filled_quote == quote_qty):
            done = _FILLED
        else:
            done = _EXPIRED_STP if stop == _STOP_STP else _EXPIRED_IOC
        self._emit_done_new(order_id, user_id, side, done, filled, filled_quote,
                            left if qty else 0)

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

    def _fok_fillable(
        self, opp: _BookSide, limit_key: int, qty: int, user_id: int, stp: SelfTradePrevention,
    ) -> bool:
        """Would matching fill ``qty`` completely? Mirrors ``_match``'s STP handling."""
        need = qty
        levels, sign = opp.levels, opp.sign
        for key in reversed(opp.keys):
            if key < limit_key:
                return False
            for o in levels[key * sign].values():
                if o.user_id == user_id and stp is not _STP_NONE:
                    if stp is _EXPIRE_MAKER:
                        continue  # that maker would expire; matching goes on behind it
                    return False  # the taker would expire first
                need -= o.remaining
                if need <= 0:
                    return True
        return False

    def _match(
        self, opp: _BookSide, limit_key: int, taker_id: int, taker_user: int, taker_is_buy: bool,
        stp: SelfTradePrevention, base_left: int, quote_cap: int,
    ) -> tuple[int, int, int]:
        """Trade the taker against ``opp`` while prices cross ``limit_key``.

        ``quote_cap`` < 0 means no quote budget. Returns (base left, quote traded, why
        it stopped). Kept as one flat loop with locals: it is the hot path.
        """
        out = self._out
        orders_by_id = self._orders
        levels, keys, sign = opp.levels, opp.keys, opp.sign
        unit, lot = self._unit, self._lot
        maker_ppm, taker_ppm = self._maker_ppm, self._taker_ppm
        seq, trade_id = self._seq, self._trade_id
        buyer_is_maker = not taker_is_buy
        check_self = stp is not _STP_NONE
        capped = quote_cap >= 0
        filled_quote = 0
        stop = _STOP_BOOK
        first_price = last_price = 0
        linked = self._siblings
        activated = self._activated
        while keys:
            key = keys[-1]
            if key < limit_key:
                break
            price = key * sign
            level = levels[price]
            gone: list[int] = []  # makers at the front of the queue that are done
            for maker in level.values():
                maker_id = maker.order_id
                maker_user = maker.user_id
                mrem = maker.remaining
                if check_self and maker_user == taker_user:
                    out.append(_new(PreventedMatch, (
                        seq, taker_id, maker_id, taker_user, stp, price, mrem)))
                    seq += 1
                    if stp is _EXPIRE_TAKER:
                        stop = _STOP_STP
                        break
                    # EXPIRE_MAKER / EXPIRE_BOTH: the resting order goes.
                    gone.append(maker_id)
                    if linked and maker_id in linked:
                        activated.append(maker_id)
                    out.append(_new(OrderDone, (
                        seq, maker_id, maker_user, maker.side, _EXPIRED_STP, maker.qty - mrem,
                        maker.filled_quote, mrem)))
                    seq += 1
                    if stp is _EXPIRE_BOTH:
                        stop = _STOP_STP
                        break
                    continue
                q = base_left if base_left < mrem else mrem
                if capped:
                    affordable = (quote_cap - filled_quote) * unit // price // lot * lot
                    if affordable < q:
                        q = affordable
                        if not q:
                            stop = _STOP_QUOTE
                            break
                quote = price * q // unit
                if taker_is_buy:
                    taker_fee = -(-q * taker_ppm // FEE_RATE_SCALE)
                    maker_fee = -(-quote * maker_ppm // FEE_RATE_SCALE)
                else:
                    taker_fee = -(-quote * taker_ppm // FEE_RATE_SCALE)
                    maker_fee = -(-q * maker_ppm // FEE_RATE_SCALE)
                out.append(_new(Trade, (
                    seq, trade_id, maker_id, maker_user, taker_id, taker_user, buyer_is_maker,
                    price, q, quote, maker_fee, taker_fee)))
                seq += 1
                trade_id += 1
                if not first_price:
                    first_price = price
                last_price = price
                if linked and maker_id in linked:
                    activated.append(maker_id)
                filled_quote += quote
                base_left -= q
                maker.filled_quote += quote
                if q == mrem:
                    gone.append(maker_id)
                    out.append(_new(OrderDone, (
                        seq, maker_id, maker_user, maker.side, _FILLED, maker.qty,
                        maker.filled_quote, 0)))
                    seq += 1
                else:
                    maker.remaining = mrem - q
                    if base_left:
                        stop = _STOP_QUOTE  # the budget ran out part way through this maker
                    break
                if not base_left:
                    break
            # Drop finished makers only now: a dict must not change size while iterated.
            if len(gone) == len(level):
                del levels[price]
                keys.pop()
            else:
                for maker_id in gone:
                    del level[maker_id]
            for maker_id in gone:
                del orders_by_id.pop(maker_id).own[maker_id]  # type: ignore[union-attr]
            if stop != _STOP_BOOK or not base_left:
                break
        self._seq = seq
        self._trade_id = trade_id
        if last_price:
            self._last_price = last_price
            if self._stops:
                self._note_traded(first_price, last_price)
        if activated:
            self._follow_up = True
        return base_left, filled_quote, stop

    def _note_traded(self, first_price: int, last_price: int) -> None:
        """Note one match's trade prices for the stops (monotonic within a match, so its
        first and last bound them)."""
        low, high = sorted((first_price, last_price))
        if low < self._low:
            self._low = low
        if high > self._high:
            self._high = high
        self._follow_up = True

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


def _valid_enums(cmd: PlaceOrder) -> bool:
    """Identity checks: a plain "BUY" string would compare equal but is not accepted."""
    return (
        any(cmd.side is v for v in _SIDES) and any(cmd.tif is v for v in _TIFS)
        and any(cmd.stp is v for v in _STPS)
    )


def _stop_of(cmd: PlaceOrder) -> StopOrder:
    """The waiting form of a stop order (a MARKET one has no time in force: GTC)."""
    tif = cmd.tif if cmd.order_type.working_type is _LIMIT else _GTC
    return StopOrder(cmd.order_id, cmd.user_id, cmd.side, cmd.order_type, cmd.stp, tif,
                     cmd.price, cmd.qty, cmd.quote_qty, cmd.spend_cap, cmd.stop_price)


def _resting(o: _Order) -> RestingOrder:
    return RestingOrder(o.order_id, o.user_id, o.side, o.order_type, o.stp, o.price, o.qty,
                        o.remaining, o.filled_quote)


def _pending_of(working_id: int, p: PlaceOrder) -> PendingOrder:
    return PendingOrder(working_id, p.order_id, p.user_id, p.side, p.order_type, p.stp, p.tif,
                        p.price, p.qty, p.quote_qty, p.spend_cap, p.stop_price)

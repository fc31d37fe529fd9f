"""A deliberately simple order book: the oracle for the stateful test.

An independent model, not a copy of the engine: the book is one list of immutable
``RestingOrder`` values in arrival order, searched from scratch for the best maker before
every fill (the first of the best price is the oldest); a fill replaces the maker's value.
Slow and obviously right about priority. It shares only the specification with the
engine (the domain's vocabulary and the engine's command, event and order value types)
and must produce exactly the engine's events: same types, fields and sequence numbers.

Stop orders wait in a second list in arrival order. Every trade's price is written
down; after each command, as long as one of the prices written down reaches a waiting
stop, the oldest such stop works (and its trades are written down too).

OCO lists are pairs of leg ids. After each command (and after each stop that works) the
events it caused are read again: a Trade whose maker is a leg, or a leg expired by
self-trade prevention, expires the other leg; a stop leg that works expires the other
leg before it trades; a cancelled leg takes the other with it.

OTO lists are (working id, pending orders) pairs. Once the command's OCO expiries and
stops are done, every list whose working order is no longer in the book is looked up
in the events: filled, its pending order is placed (a pending pair as an OCO list) and
all of that is looked at again; ended otherwise, its pending orders end with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import orders as domain
from matching_cluster import engine

Reject = domain.RejectReason
Done = domain.DoneReason
FEE_SCALE = 1_000_000  # fee rates are in parts per million


@dataclass
class Taker:
    """What an incoming order may still take, and what it has taken."""

    order_id: int
    user_id: int
    side: domain.Side
    stp: domain.SelfTradePrevention
    limit: int | None  # None: MARKET
    base_left: int | None  # None: no base limit (MARKET by quote without cap)
    quote_cap: int | None  # None: no quote limit
    filled_qty: int = 0
    filled_quote: int = 0

    @property
    def buys(self) -> bool:
        return self.side is domain.Side.BUY

    def accepts(self, price: int) -> bool:
        """Whether the taker's limit allows trading at ``price``."""
        if self.limit is None:
            return True
        return price <= self.limit if self.buys else price >= self.limit


def fee(amount: int, rate_ppm: int) -> int:
    """The fee on ``amount`` received, rounded up (the exchange's favour)."""
    return -(-amount * rate_ppm // FEE_SCALE)


def is_count(value: object) -> bool:
    """A positive int (bool excluded)."""
    return type(value) is int and value > 0


class ReferenceBook:
    def __init__(self, spec: domain.MarketSpec) -> None:
        self.spec = spec
        self.book: list[engine.RestingOrder] = []  # arrival order
        self.stops: list[engine.StopOrder] = []  # arrival order
        self.last_price = 0
        self.prices: list[int] = []  # traded since stops were last looked at
        self.pairs: list[tuple[int, int]] = []  # OCO legs (above, below)
        self.lists: list[tuple[int, tuple[engine.PlaceOrder, ...]]] = []  # OTO lists
        self.seq = 1
        self.trade_id = 1
        self.out: list[engine.Event] = []

    # ------------------------------------------------------------------ queries

    def open_orders(self) -> list[engine.RestingOrder]:
        return list(self.book)

    def find(self, order_id: int) -> engine.RestingOrder | None:
        return next((o for o in self.book if o.order_id == order_id), None)

    def taken(self, order_id: int) -> bool:
        """Whether an open order (resting or waiting) has this id."""
        return self.find(order_id) is not None or any(
            s.order_id == order_id for s in self.stops)

    def owned(self, order_id: int, user_id: int) -> engine.RestingOrder | None:
        """The order, if it rests and ``user_id`` owns it (else it is unknown to them)."""
        o = self.find(order_id)
        return o if o is not None and o.user_id == user_id else None

    def best_maker(self, taker: Taker) -> engine.RestingOrder | None:
        makers = [o for o in self.book if o.side is not taker.side]
        return min(makers, key=lambda o: o.price if taker.buys else -o.price, default=None)

    # ------------------------------------------------------------------ events

    def emit(self, event_type: type, *fields: object) -> None:
        self.out.append(event_type(self.seq, *fields))
        self.seq += 1

    def refuse(self, kind: domain.CommandKind, order_id: int, user_id: int,
               reason: domain.RejectReason) -> None:
        self.emit(engine.Rejected, kind, order_id, user_id, reason)

    def finish(self, o: engine.RestingOrder, reason: domain.DoneReason) -> None:
        """Take ``o`` out of the book (if it rests) and say why it is done."""
        if o in self.book:
            self.book.remove(o)
        self.emit(engine.OrderDone, o.order_id, o.user_id, o.side, reason, o.filled_qty,
                  o.filled_quote, o.remaining)

    # ------------------------------------------------------------------ filters

    def qty_problem(self, qty: object) -> domain.RejectReason | None:
        spec = self.spec
        if not is_count(qty):
            return Reject.INVALID_QUANTITY
        assert isinstance(qty, int)
        for broken, reason in ((qty % spec.lot_size != 0, Reject.QTY_OFF_LOT),
                               (qty < spec.min_qty, Reject.QTY_TOO_SMALL),
                               (qty > spec.max_qty, Reject.QTY_TOO_LARGE)):
            if broken:
                return reason
        return None

    def limit_problem(self, price: object, qty: object) -> domain.RejectReason | None:
        if not is_count(price):
            return Reject.INVALID_PRICE
        assert isinstance(price, int)
        if price % self.spec.tick_size:
            return Reject.PRICE_OFF_TICK
        problem = self.qty_problem(qty)
        if problem is not None:
            return problem
        assert isinstance(qty, int)
        if self.spec.notional(price, qty) < self.spec.min_notional:
            return Reject.NOTIONAL_TOO_SMALL
        return None

    def market_problem(self, cmd: engine.PlaceOrder,
                       stop_price: int = 0) -> domain.RejectReason | None:
        if self.taken(cmd.order_id):
            return Reject.DUPLICATE_ORDER_ID
        if not known_enums(cmd):
            return Reject.INVALID_ORDER
        if any(type(v) is not int or v < 0 for v in (cmd.qty, cmd.quote_qty, cmd.spend_cap)):
            return Reject.INVALID_QUANTITY
        if cmd.price or cmd.stop_price != stop_price or (cmd.qty and cmd.quote_qty):
            return Reject.INVALID_ORDER
        if cmd.qty:
            return self.qty_problem(cmd.qty)
        if not cmd.quote_qty:
            return Reject.INVALID_QUANTITY
        if cmd.quote_qty < self.spec.min_notional:
            return Reject.NOTIONAL_TOO_SMALL
        return None

    def amend_problem(self, o: engine.RestingOrder | None,
                      new_qty: object) -> domain.RejectReason | None:
        if o is None:
            return Reject.UNKNOWN_ORDER
        if self.sibling(o.order_id) is not None or self.is_working(o.order_id):
            return Reject.IN_ORDER_LIST
        if not is_count(new_qty):
            return Reject.INVALID_QUANTITY
        assert isinstance(new_qty, int)
        if new_qty % self.spec.lot_size:
            return Reject.QTY_OFF_LOT
        return Reject.AMEND_NOT_REDUCING if new_qty >= o.qty else None

    def replace_problem(self, o: engine.RestingOrder | None,
                        cmd: engine.CancelReplace) -> domain.RejectReason | None:
        if o is None:
            return Reject.UNKNOWN_ORDER
        if self.taken(cmd.new_order_id):
            return Reject.DUPLICATE_ORDER_ID
        if self.sibling(o.order_id) is not None or self.is_working(o.order_id):
            return Reject.IN_ORDER_LIST
        return self.limit_problem(cmd.price, cmd.qty)

    def stop_problem(self, cmd: engine.PlaceOrder,
                     against_last_price: bool = True) -> domain.RejectReason | None:
        """As the order it stands for, then the stop price, then the last price."""
        if cmd.order_type in (domain.OrderType.STOP_LOSS, domain.OrderType.TAKE_PROFIT):
            reason = self.market_problem(cmd, cmd.stop_price)
        else:
            reason = self.limit_problem(cmd.price, cmd.qty)
            if reason is None and self.taken(cmd.order_id):
                reason = Reject.DUPLICATE_ORDER_ID
            if reason is None and (cmd.quote_qty or cmd.spend_cap or not known_enums(cmd)):
                reason = Reject.INVALID_ORDER
        if reason is None and not is_count(cmd.stop_price):
            reason = Reject.INVALID_PRICE
        if reason is None and cmd.stop_price % self.spec.tick_size:
            reason = Reject.PRICE_OFF_TICK
        if (reason is None and against_last_price and self.last_price
                and reaches(cmd, self.last_price)):
            reason = Reject.WOULD_TRIGGER_IMMEDIATELY
        return reason

    def oco_problem(self, cmd: engine.PlaceOco) -> domain.RejectReason | None:
        reason = self.oco_legs_problem(cmd)
        if reason is not None:
            return reason
        high, low = level(cmd.above), level(cmd.below)
        if not (high > low and (not self.last_price or high > self.last_price > low)):
            return Reject.OCO_BAD_PRICES
        for leg in (cmd.above, cmd.below):
            if leg.order_type is domain.OrderType.LIMIT_MAKER:
                taker = Taker(leg.order_id, leg.user_id, leg.side, leg.stp, leg.price, leg.qty,
                              None)
                best = self.best_maker(taker)
                if best is not None and taker.accepts(best.price):
                    return Reject.WOULD_MATCH_IMMEDIATELY
        return None

    def oco_legs_problem(self, cmd: engine.PlaceOco) -> domain.RejectReason | None:
        """The pair's shape, then each leg as an order of its own."""
        above, below = cmd.above, cmd.below
        side = above.side
        wanted = {domain.Side.SELL: (PROFIT_LEGS, LOSS_LEGS),
                  domain.Side.BUY: (LOSS_LEGS, PROFIT_LEGS)}.get(side)
        if (wanted is None or below.side is not side or above.user_id != below.user_id
                or above.qty != below.qty or above.order_id == below.order_id
                or above.order_type not in wanted[0] or below.order_type not in wanted[1]):
            return Reject.INVALID_ORDER
        for leg in (above, below):
            if leg.order_type is not domain.OrderType.LIMIT_MAKER:
                reason = self.stop_problem(leg, against_last_price=False)
            else:
                reason = self.limit_problem(leg.price, leg.qty)
                if reason is None and self.taken(leg.order_id):
                    reason = Reject.DUPLICATE_ORDER_ID
                if reason is None and (leg.quote_qty or leg.spend_cap or leg.stop_price
                                       or not known_enums(leg)):
                    reason = Reject.INVALID_ORDER
            if reason is not None:
                return reason
        return None

    def resting_problem(self, cmd: engine.PlaceOrder) -> domain.RejectReason | None:
        """A LIMIT / LIMIT_MAKER order's own problem (its id aside)."""
        reason = self.limit_problem(cmd.price, cmd.qty)
        if reason is None and (cmd.quote_qty or cmd.spend_cap or cmd.stop_price
                               or not known_enums(cmd)):
            return Reject.INVALID_ORDER
        return reason

    def oto_problem(self, cmd: engine.PlaceOto) -> domain.RejectReason | None:
        working, pending = cmd.working, cmd.pending
        ids = [o.order_id for o in (working, *pending)]
        if (len(pending) not in (1, 2) or len(set(ids)) != len(ids)
                or any(p.user_id != working.user_id for p in pending)
                or working.order_type not in (domain.OrderType.LIMIT,
                                              domain.OrderType.LIMIT_MAKER)):
            return Reject.INVALID_ORDER
        if any(self.taken(i) or self.working_of(i) is not None for i in ids):
            return Reject.DUPLICATE_ORDER_ID
        reason = self.resting_problem(working)
        if reason is not None:
            return reason
        if len(pending) == 2:
            return self.oco_legs_problem(engine.PlaceOco(*pending))
        (single,) = pending
        if single.order_type in (domain.OrderType.LIMIT, domain.OrderType.LIMIT_MAKER):
            return self.resting_problem(single)
        if single.order_type is domain.OrderType.MARKET:
            return Reject.INVALID_ORDER if single.quote_qty else self.market_problem(single)
        if single.order_type in STOP_TYPES:
            return self.stop_problem(single, against_last_price=False)
        return Reject.INVALID_ORDER

    def working_of(self, pending_id: int) -> int | None:
        """The working order of the OTO list ``pending_id`` waits in."""
        return next((working for working, pending in self.lists
                     if any(p.order_id == pending_id for p in pending)), None)

    def is_working(self, order_id: int) -> bool:
        """Whether the order is an OTO list's working order, its pending ones waiting."""
        return any(working == order_id for working, _ in self.lists)

    # ------------------------------------------------------------------ OCO links

    def sibling(self, order_id: int) -> int | None:
        for a, b in self.pairs:
            if order_id in (a, b):
                return b if order_id == a else a
        return None

    def unlink(self, order_id: int) -> int | None:
        other = self.sibling(order_id)
        self.pairs = [p for p in self.pairs if order_id not in p]
        return other

    def end(self, order_id: int, reason: domain.DoneReason) -> None:
        """End an open order, resting or waiting."""
        o = self.find(order_id)
        if o is not None:
            self.finish(o, reason)
            return
        stop = next(s for s in self.stops if s.order_id == order_id)
        self.stops.remove(stop)
        self.emit(engine.OrderDone, stop.order_id, stop.user_id, stop.side, reason, 0, 0,
                  stop.qty)

    def expire_activated(self, since: int) -> None:
        """Expire the other leg of every list whose leg traded as a maker, or was
        expired by self-trade prevention, in the events from ``since`` on."""
        activated = []
        for e in self.out[since:]:
            if isinstance(e, engine.Trade):
                activated.append(e.maker_order_id)
            elif isinstance(e, engine.OrderDone) and e.reason is Done.EXPIRED_STP:
                activated.append(e.order_id)
        for leg in activated:
            other = self.unlink(leg)
            if other is not None:
                self.end(other, Done.EXPIRED_IN_LIST)

    # ----------------------------------------------------------------- commands

    def apply(self, cmd: engine.Command) -> list[engine.Event]:
        self.out = []
        match cmd:
            case engine.PlaceOrder() if cmd.order_type is domain.OrderType.MARKET:
                self.place_market(cmd)
            case engine.PlaceOrder() if cmd.order_type in STOP_TYPES:
                self.place_stop(cmd)
            case engine.PlaceOrder():
                self.place_limit(cmd)
            case engine.CancelOrder():
                self.cancel(cmd)
            case engine.CancelAll():
                for o in [o for o in self.book if o.user_id == cmd.user_id]:
                    if self.find(o.order_id) is not None:
                        self.cancel(engine.CancelOrder(o.order_id, o.user_id))
                for stop in [s for s in self.stops if s.user_id == cmd.user_id]:
                    if stop in self.stops:
                        self.cancel(engine.CancelOrder(stop.order_id, stop.user_id))
            case engine.AmendOrder():
                self.amend(cmd)
            case engine.CancelReplace():
                self.cancel_replace(cmd)
            case engine.PlaceOco():
                self.place_oco(cmd)
            case engine.PlaceOto():
                self.place_oto(cmd)
        since = 0
        while True:
            self.expire_activated(since)
            self.work_reached_stops()
            since = len(self.out)
            if not self.release_lists():
                break
        return self.out

    def place_oto(self, cmd: engine.PlaceOto) -> None:
        reason = self.oto_problem(cmd)
        if reason is not None:
            for o in (cmd.working, *cmd.pending):
                self.refuse(domain.CommandKind.PLACE, o.order_id, o.user_id, reason)
            return
        self.lists.append((cmd.working.order_id, cmd.pending))
        self.place_limit(cmd.working)

    def release_lists(self) -> bool:
        """Place or end the pending orders of the lists whose working order is gone."""
        ended = [(w, pending) for w, pending in self.lists if self.find(w) is None]
        self.lists = [entry for entry in self.lists if entry not in ended]
        for working, pending in ended:
            done = next(e for e in reversed(self.out)
                        if isinstance(e, engine.OrderDone) and e.order_id == working)
            if done.reason is Done.FILLED and len(pending) == 2:
                self.place_oco(engine.PlaceOco(*pending))
            elif done.reason is Done.FILLED:
                self.place(pending[0])
            else:
                reason = Done.CANCELED if done.reason is Done.CANCELED else Done.EXPIRED_IN_LIST
                for p in pending:
                    self.emit(engine.OrderDone, p.order_id, p.user_id, p.side, reason, 0, 0,
                              p.qty)
        return bool(ended)

    def place(self, cmd: engine.PlaceOrder) -> None:
        if cmd.order_type is domain.OrderType.MARKET:
            self.place_market(cmd)
        elif cmd.order_type in STOP_TYPES:
            self.place_stop(cmd)
        else:
            self.place_limit(cmd)

    def place_oco(self, cmd: engine.PlaceOco) -> None:
        reason = self.oco_problem(cmd)
        if reason is not None:
            for leg in (cmd.above, cmd.below):
                self.refuse(domain.CommandKind.PLACE, leg.order_id, leg.user_id, reason)
            return
        for leg in (cmd.above, cmd.below):
            if leg.order_type is domain.OrderType.LIMIT_MAKER:
                self.submit(engine.RestingOrder(leg.order_id, leg.user_id, leg.side,
                                                leg.order_type, leg.stp, leg.price, leg.qty,
                                                leg.qty, 0), domain.TimeInForce.GTC)
            else:
                self.accept_stop(leg)
        self.pairs.append((cmd.above.order_id, cmd.below.order_id))

    def place_stop(self, cmd: engine.PlaceOrder) -> None:
        reason = self.stop_problem(cmd)
        if reason is not None:
            self.refuse(domain.CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        self.accept_stop(cmd)

    def accept_stop(self, cmd: engine.PlaceOrder) -> None:
        limit_type = cmd.order_type in (domain.OrderType.STOP_LOSS_LIMIT,
                                        domain.OrderType.TAKE_PROFIT_LIMIT)
        stop = engine.StopOrder(
            cmd.order_id, cmd.user_id, cmd.side, cmd.order_type, cmd.stp,
            cmd.tif if limit_type else domain.TimeInForce.GTC, cmd.price, cmd.qty,
            cmd.quote_qty, cmd.spend_cap, cmd.stop_price)
        self.emit(engine.Accepted, stop.order_id, stop.user_id, stop.side, stop.order_type,
                  stop.tif, stop.price, stop.qty, stop.quote_qty)
        self.stops.append(stop)

    def work_reached_stops(self) -> None:
        while True:
            stop = next((s for s in self.stops if any(reaches(s, p) for p in self.prices)),
                        None)
            if stop is None:
                break
            self.stops.remove(stop)
            self.emit(engine.Triggered, stop.order_id, stop.user_id, stop.side,
                      stop.order_type, stop.stop_price, self.last_price)
            other = self.unlink(stop.order_id)
            if other is not None:
                self.end(other, Done.EXPIRED_IN_LIST)
            since = len(self.out)
            if stop.order_type in (domain.OrderType.STOP_LOSS, domain.OrderType.TAKE_PROFIT):
                self.work_market(stop)
            else:
                self.work_limit(engine.RestingOrder(
                    stop.order_id, stop.user_id, stop.side, stop.order_type, stop.stp,
                    stop.price, stop.qty, stop.qty, 0), stop.tif)
            self.expire_activated(since)
        self.prices = []

    def cancel_stop(self, stop: engine.StopOrder) -> None:
        self.stops.remove(stop)
        self.emit(engine.OrderDone, stop.order_id, stop.user_id, stop.side, Done.CANCELED, 0,
                  0, stop.qty)

    def place_limit(self, cmd: engine.PlaceOrder) -> None:
        reason = self.limit_problem(cmd.price, cmd.qty)
        if reason is None and self.taken(cmd.order_id):
            reason = Reject.DUPLICATE_ORDER_ID
        if reason is None and (
            cmd.order_type not in (domain.OrderType.LIMIT, domain.OrderType.LIMIT_MAKER)
            or cmd.quote_qty or cmd.spend_cap or cmd.stop_price or not known_enums(cmd)
        ):
            reason = Reject.INVALID_ORDER
        if reason is not None:
            self.refuse(domain.CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        tif = cmd.tif if cmd.order_type is domain.OrderType.LIMIT else domain.TimeInForce.GTC
        self.submit(engine.RestingOrder(cmd.order_id, cmd.user_id, cmd.side, cmd.order_type,
                                        cmd.stp, cmd.price, cmd.qty, cmd.qty, 0), tif)

    def submit(self, order: engine.RestingOrder, tif: domain.TimeInForce) -> None:
        """Accept a valid limit order, match what crosses, rest or expire the rest."""
        self.emit(engine.Accepted, order.order_id, order.user_id, order.side, order.order_type,
                  tif, order.price, order.qty, 0)
        self.work_limit(order, tif)

    def work_limit(self, order: engine.RestingOrder, tif: domain.TimeInForce) -> None:
        taker = Taker(order.order_id, order.user_id, order.side, order.stp, order.price,
                      order.qty, None)
        best = self.best_maker(taker)
        if best is not None and taker.accepts(best.price):
            if order.order_type is domain.OrderType.LIMIT_MAKER:
                self.finish(order, Done.REJECTED_POST_ONLY)
                return
            if tif is domain.TimeInForce.FOK and not self.fok_fillable(taker):
                self.finish(order, Done.EXPIRED_FOK)
                return
            stopped_by = self.match(taker)
            order = order._replace(remaining=order.qty - taker.filled_qty,
                                   filled_quote=taker.filled_quote)
            if not order.remaining:
                self.finish(order, Done.FILLED)
                return
            if stopped_by == "stp":
                self.finish(order, Done.EXPIRED_STP)
                return
        if tif is domain.TimeInForce.GTC:
            self.book.append(order)
        elif tif is domain.TimeInForce.IOC:
            self.finish(order, Done.EXPIRED_IOC)
        else:
            self.finish(order, Done.EXPIRED_FOK)

    def fok_fillable(self, taker: Taker) -> bool:
        """Whether the makers the taker would meet, in priority order, hold its size."""
        makers = sorted((o for o in self.book
                         if o.side is not taker.side and taker.accepts(o.price)),
                        key=lambda o: o.price if taker.buys else -o.price)
        available = 0
        for o in makers:
            if o.user_id == taker.user_id and taker.stp is not domain.SelfTradePrevention.NONE:
                if taker.stp is domain.SelfTradePrevention.EXPIRE_MAKER:
                    continue
                break
            available += o.remaining
        assert taker.base_left is not None
        return available >= taker.base_left

    def match(self, taker: Taker) -> str:
        """Fill ``taker`` maker by maker; say why it stopped: book, stp or quote."""
        stp = domain.SelfTradePrevention
        while taker.base_left is None or taker.base_left > 0:
            maker = self.best_maker(taker)
            if maker is None or not taker.accepts(maker.price):
                return "book"
            if maker.user_id == taker.user_id and taker.stp is not stp.NONE:
                self.emit(engine.PreventedMatch, taker.order_id, maker.order_id, taker.user_id,
                          taker.stp, maker.price, maker.remaining)
                if taker.stp is stp.EXPIRE_TAKER:
                    return "stp"
                self.finish(maker, Done.EXPIRED_STP)
                if taker.stp is stp.EXPIRE_BOTH:
                    return "stp"
                continue
            qty = self.fill_size(taker, maker)
            if qty == 0:
                return "quote"
            self.trade(taker, maker, qty)
        return "book"

    def fill_size(self, taker: Taker, maker: engine.RestingOrder) -> int:
        """How much the taker takes from ``maker``: what either has left, in whole lots
        of what its quote budget still buys."""
        sizes = [maker.remaining]
        if taker.base_left is not None:
            sizes.append(taker.base_left)
        if taker.quote_cap is not None:
            affordable = (taker.quote_cap - taker.filled_quote) * self.spec.base_unit // maker.price
            sizes.append(affordable - affordable % self.spec.lot_size)
        return min(sizes)

    def trade(self, taker: Taker, maker: engine.RestingOrder, qty: int) -> None:
        spec = self.spec
        quote = spec.notional(maker.price, qty)
        # Buyers receive base, sellers quote: each pays its fee in what it receives.
        taker_fee = fee(qty if taker.buys else quote, spec.taker_fee_ppm)
        maker_fee = fee(quote if taker.buys else qty, spec.maker_fee_ppm)
        self.emit(engine.Trade, self.trade_id, maker.order_id, maker.user_id, taker.order_id,
                  taker.user_id, not taker.buys, maker.price, qty, quote, maker_fee, taker_fee)
        self.trade_id += 1
        self.last_price = maker.price
        self.prices.append(maker.price)
        taker.filled_qty += qty
        taker.filled_quote += quote
        if taker.base_left is not None:
            taker.base_left -= qty
        filled = maker._replace(remaining=maker.remaining - qty,
                                filled_quote=maker.filled_quote + quote)
        self.book[self.book.index(maker)] = filled
        if not filled.remaining:
            self.finish(filled, Done.FILLED)

    def place_market(self, cmd: engine.PlaceOrder) -> None:
        reason = self.market_problem(cmd)
        if reason is not None:
            self.refuse(domain.CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        self.emit(engine.Accepted, cmd.order_id, cmd.user_id, cmd.side, domain.OrderType.MARKET,
                  cmd.tif, 0, cmd.qty, cmd.quote_qty)
        self.work_market(cmd)

    def work_market(self, cmd: engine.PlaceOrder | engine.StopOrder) -> None:
        buys = cmd.side is domain.Side.BUY
        cap = cmd.spend_cap or None  # bounds the side the order's own size does not
        if cmd.qty:
            taker = Taker(cmd.order_id, cmd.user_id, cmd.side, cmd.stp, None, cmd.qty,
                          cap if buys else None)
        else:
            taker = Taker(cmd.order_id, cmd.user_id, cmd.side, cmd.stp, None,
                          None if buys else cap, cmd.quote_qty)
        stopped_by = self.match(taker)
        if cmd.qty:
            reached = taker.filled_qty == cmd.qty
        else:
            reached = taker.filled_qty > 0 and (
                stopped_by == "quote" or taker.filled_quote == cmd.quote_qty)
        if reached:
            reason_done = Done.FILLED
        elif stopped_by == "stp":
            reason_done = Done.EXPIRED_STP
        else:
            reason_done = Done.EXPIRED_IOC
        self.emit(engine.OrderDone, cmd.order_id, cmd.user_id, cmd.side, reason_done,
                  taker.filled_qty, taker.filled_quote,
                  cmd.qty - taker.filled_qty if cmd.qty else 0)

    def cancel(self, cmd: engine.CancelOrder) -> None:
        o = self.owned(cmd.order_id, cmd.user_id)
        stop = next((s for s in self.stops
                     if s.order_id == cmd.order_id and s.user_id == cmd.user_id), None)
        if o is not None:
            self.finish(o, Done.CANCELED)
        elif stop is not None:
            self.cancel_stop(stop)
        else:
            working = self.working_of(cmd.order_id)
            if working is not None and self.owned(working, cmd.user_id) is not None:
                self.cancel(engine.CancelOrder(working, cmd.user_id))  # ends the list
                return
            self.refuse(domain.CommandKind.CANCEL, cmd.order_id, cmd.user_id,
                        Reject.UNKNOWN_ORDER)
            return
        other = self.unlink(cmd.order_id)
        if other is not None:
            self.end(other, Done.CANCELED)

    def amend(self, cmd: engine.AmendOrder) -> None:
        o = self.owned(cmd.order_id, cmd.user_id)
        stop = next((s for s in self.stops
                     if s.order_id == cmd.order_id and s.user_id == cmd.user_id), None)
        if o is None and stop is not None:
            self.amend_stop(stop, cmd.new_qty)
            return
        reason = self.amend_problem(o, cmd.new_qty)
        if o is None or reason is not None:
            self.refuse(domain.CommandKind.AMEND, cmd.order_id, cmd.user_id,
                        reason or Reject.UNKNOWN_ORDER)
            return
        # Never below what has traded: an order amended down to it is filled.
        new_qty = max(cmd.new_qty, o.filled_qty)
        amended = o._replace(qty=new_qty, remaining=new_qty - o.filled_qty)
        self.book[self.book.index(o)] = amended
        self.emit(engine.Amended, o.order_id, o.user_id, o.side, o.price, o.qty, new_qty,
                  amended.remaining)
        if not amended.remaining:
            self.finish(amended, Done.FILLED)

    def amend_stop(self, stop: engine.StopOrder, new_qty: int) -> None:
        """A waiting stop's size goes down in place (nothing of it has traded)."""
        reason = None
        if self.sibling(stop.order_id) is not None:
            reason = Reject.IN_ORDER_LIST
        elif not is_count(new_qty):
            reason = Reject.INVALID_QUANTITY
        elif new_qty % self.spec.lot_size:
            reason = Reject.QTY_OFF_LOT
        elif new_qty >= stop.qty:
            reason = Reject.AMEND_NOT_REDUCING
        if reason is not None:
            self.refuse(domain.CommandKind.AMEND, stop.order_id, stop.user_id, reason)
            return
        self.stops[self.stops.index(stop)] = stop._replace(qty=new_qty)
        self.emit(engine.Amended, stop.order_id, stop.user_id, stop.side, stop.price, stop.qty,
                  new_qty, new_qty)

    def cancel_replace(self, cmd: engine.CancelReplace) -> None:
        o = self.owned(cmd.order_id, cmd.user_id)
        reason = self.replace_problem(o, cmd)
        if o is None or reason is not None:
            self.refuse(domain.CommandKind.CANCEL_REPLACE, cmd.new_order_id, cmd.user_id,
                        reason or Reject.UNKNOWN_ORDER)
            return
        self.finish(o, Done.CANCELED)
        self.submit(engine.RestingOrder(cmd.new_order_id, o.user_id, o.side, o.order_type,
                                        o.stp, cmd.price, cmd.qty, cmd.qty, 0),
                    domain.TimeInForce.GTC)


STOP_TYPES = (domain.OrderType.STOP_LOSS, domain.OrderType.STOP_LOSS_LIMIT,
              domain.OrderType.TAKE_PROFIT, domain.OrderType.TAKE_PROFIT_LIMIT)
PROFIT_LEGS = (domain.OrderType.LIMIT_MAKER, domain.OrderType.TAKE_PROFIT,
               domain.OrderType.TAKE_PROFIT_LIMIT)
LOSS_LEGS = (domain.OrderType.STOP_LOSS, domain.OrderType.STOP_LOSS_LIMIT)


def level(leg: engine.PlaceOrder) -> int:
    """What an OCO leg waits for: a LIMIT_MAKER's price, a stop's stop price."""
    return leg.price if leg.order_type is domain.OrderType.LIMIT_MAKER else leg.stop_price


def reaches(stop: engine.PlaceOrder | engine.StopOrder, price: int) -> bool:
    """Binance's rule: a STOP_LOSS BUY or a TAKE_PROFIT SELL works at or above its stop
    price, a STOP_LOSS SELL or a TAKE_PROFIT BUY at or below it."""
    stop_loss = stop.order_type in (domain.OrderType.STOP_LOSS,
                                    domain.OrderType.STOP_LOSS_LIMIT)
    if stop_loss == (stop.side is domain.Side.BUY):
        return price >= stop.stop_price
    return price <= stop.stop_price


def known_enums(cmd: engine.PlaceOrder) -> bool:
    """Whether the command's side, time in force and STP mode are the domain's values."""
    return all(any(value is member for member in enum) for value, enum in (
        (cmd.side, domain.Side), (cmd.tif, domain.TimeInForce),
        (cmd.stp, domain.SelfTradePrevention)))

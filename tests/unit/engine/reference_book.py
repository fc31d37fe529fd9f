"""A deliberately simple order book: the oracle for the stateful test.

One flat list of resting orders, searched from scratch for the best maker before every
fill. Slow and obviously right about priority; it must produce exactly the engine's
events (same types, fields and sequence numbers), so its rules follow the engine's
documented semantics one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.orders import (
    CommandKind,
    DoneReason,
    MarketSpec,
    OrderType,
    RejectReason,
    SelfTradePrevention,
    Side,
    TimeInForce,
    ceil_fee,
)
from matching_cluster.engine import (
    Accepted,
    Amended,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    Event,
    OrderDone,
    PlaceOrder,
    Rejected,
    RestingOrder,
    Trade,
)

STP = SelfTradePrevention


@dataclass
class RefOrder:
    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    stp: SelfTradePrevention
    price: int
    qty: int
    remaining: int
    filled_quote: int
    arrival: int

    def as_resting(self) -> RestingOrder:
        return RestingOrder(self.order_id, self.user_id, self.side, self.order_type, self.stp,
                            self.price, self.qty, self.remaining, self.filled_quote)


@dataclass
class Taker:
    order_id: int
    user_id: int
    side: Side
    stp: SelfTradePrevention
    limit: int | None  # None: MARKET
    base_left: int | None  # None: no base limit (MARKET by quote without cap)
    quote_cap: int | None  # None: no quote limit
    filled_qty: int = 0
    filled_quote: int = 0


class ReferenceBook:
    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.resting: list[RefOrder] = []
        self.seq = 1
        self.trade_id = 1
        self.arrivals = 0
        self.out: list[Event] = []

    # ------------------------------------------------------------------ helpers

    def emit(self, event_type: type, *fields: object) -> None:
        self.out.append(event_type(self.seq, *fields))
        self.seq += 1

    def find(self, order_id: int) -> RefOrder | None:
        return next((o for o in self.resting if o.order_id == order_id), None)

    def open_orders(self) -> list[RestingOrder]:
        return [o.as_resting() for o in sorted(self.resting, key=lambda o: o.arrival)]

    def best_maker(self, taker_side: Side) -> RefOrder | None:
        makers = [o for o in self.resting if o.side is not taker_side]
        if not makers:
            return None
        if taker_side is Side.BUY:
            return min(makers, key=lambda o: (o.price, o.arrival))
        return min(makers, key=lambda o: (-o.price, o.arrival))

    def crosses(self, taker_side: Side, limit: int | None, price: int) -> bool:
        if limit is None:
            return True
        return price <= limit if taker_side is Side.BUY else price >= limit

    def limit_problem(self, price: object, qty: object) -> RejectReason | None:
        spec = self.spec
        if type(price) is not int or price <= 0:
            return RejectReason.INVALID_PRICE
        if price % spec.tick_size:
            return RejectReason.PRICE_OFF_TICK
        problem = self.qty_problem(qty)
        if problem is not None:
            return problem
        assert isinstance(qty, int)
        if spec.notional(price, qty) < spec.min_notional:
            return RejectReason.NOTIONAL_TOO_SMALL
        return None

    def qty_problem(self, qty: object) -> RejectReason | None:
        spec = self.spec
        if type(qty) is not int or qty <= 0:
            return RejectReason.INVALID_QUANTITY
        if qty % spec.lot_size:
            return RejectReason.QTY_OFF_LOT
        if qty < spec.min_qty:
            return RejectReason.QTY_TOO_SMALL
        if qty > spec.max_qty:
            return RejectReason.QTY_TOO_LARGE
        return None

    def done(self, o: RefOrder, reason: DoneReason) -> None:
        self.emit(OrderDone, o.order_id, o.user_id, o.side, reason, o.qty - o.remaining,
                  o.filled_quote, o.remaining)

    # ----------------------------------------------------------------- commands

    def apply(self, cmd: Command) -> list[Event]:
        self.out = []
        if isinstance(cmd, PlaceOrder):
            self.place(cmd)
        elif isinstance(cmd, CancelOrder):
            self.cancel(cmd)
        elif isinstance(cmd, CancelAll):
            for o in sorted((o for o in self.resting if o.user_id == cmd.user_id),
                            key=lambda o: o.arrival):
                self.resting.remove(o)
                self.done(o, DoneReason.CANCELED)
        elif isinstance(cmd, AmendOrder):
            self.amend(cmd)
        else:
            self.cancel_replace(cmd)
        return self.out

    def place(self, cmd: PlaceOrder) -> None:
        if cmd.order_type is OrderType.MARKET:
            self.place_market(cmd)
            return
        reason = self.limit_problem(cmd.price, cmd.qty)
        if reason is None and self.find(cmd.order_id) is not None:
            reason = RejectReason.DUPLICATE_ORDER_ID
        if reason is None and (
            cmd.order_type not in (OrderType.LIMIT, OrderType.LIMIT_MAKER)
            or cmd.quote_qty or cmd.spend_cap or not valid_enums(cmd)
        ):
            reason = RejectReason.INVALID_ORDER
        if reason is not None:
            self.emit(Rejected, CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        tif = cmd.tif if cmd.order_type is OrderType.LIMIT else TimeInForce.GTC
        self.submit_limit(cmd.order_id, cmd.user_id, cmd.side, cmd.order_type, tif, cmd.stp,
                          cmd.price, cmd.qty)

    def submit_limit(self, order_id: int, user_id: int, side: Side, order_type: OrderType,
                     tif: TimeInForce, stp: SelfTradePrevention, price: int, qty: int) -> None:
        self.emit(Accepted, order_id, user_id, side, order_type, tif, price, qty, 0)
        order = RefOrder(order_id, user_id, side, order_type, stp, price, qty, qty, 0, 0)
        best = self.best_maker(side)
        if best is not None and self.crosses(side, price, best.price):
            if order_type is OrderType.LIMIT_MAKER:
                self.done(order, DoneReason.REJECTED_POST_ONLY)
                return
            if tif is TimeInForce.FOK and not self.fok_fillable(side, user_id, stp, price, qty):
                self.done(order, DoneReason.EXPIRED_FOK)
                return
            taker = Taker(order_id, user_id, side, stp, price, qty, None)
            stopped_by = self.match(taker)
            order.remaining = qty - taker.filled_qty
            order.filled_quote = taker.filled_quote
            if not order.remaining:
                self.done(order, DoneReason.FILLED)
                return
            if stopped_by == "stp":
                self.done(order, DoneReason.EXPIRED_STP)
                return
        if tif is TimeInForce.GTC:
            self.arrivals += 1
            order.arrival = self.arrivals
            self.resting.append(order)
        else:
            self.done(order, DoneReason.EXPIRED_IOC if tif is TimeInForce.IOC
                      else DoneReason.EXPIRED_FOK)

    def fok_fillable(self, side: Side, user_id: int, stp: SelfTradePrevention, price: int,
                     qty: int) -> bool:
        makers = sorted(
            (o for o in self.resting if o.side is not side and self.crosses(side, price, o.price)),
            key=lambda o: (o.price if side is Side.BUY else -o.price, o.arrival),
        )
        available = 0
        for o in makers:
            if o.user_id == user_id and stp is not STP.NONE:
                if stp is STP.EXPIRE_MAKER:
                    continue
                break
            available += o.remaining
        return available >= qty

    def match(self, taker: Taker) -> str:
        """Fill ``taker`` maker by maker; say why it stopped: book, stp or quote."""
        spec = self.spec
        while taker.base_left is None or taker.base_left > 0:
            maker = self.best_maker(taker.side)
            if maker is None or not self.crosses(taker.side, taker.limit, maker.price):
                return "book"
            if maker.user_id == taker.user_id and taker.stp is not STP.NONE:
                if taker.stp is STP.EXPIRE_TAKER:
                    return "stp"
                self.resting.remove(maker)
                self.done(maker, DoneReason.EXPIRED_STP)
                if taker.stp is STP.EXPIRE_BOTH:
                    return "stp"
                continue
            qty = maker.remaining
            if taker.base_left is not None:
                qty = min(qty, taker.base_left)
            if taker.quote_cap is not None:
                budget = taker.quote_cap - taker.filled_quote
                affordable = budget * spec.base_unit // maker.price
                affordable -= affordable % spec.lot_size
                qty = min(qty, affordable)
                if qty == 0:
                    return "quote"
            self.trade(taker, maker, qty)
        return "book"

    def trade(self, taker: Taker, maker: RefOrder, qty: int) -> None:
        spec = self.spec
        quote = spec.notional(maker.price, qty)
        taker_buys = taker.side is Side.BUY
        # buyers pay fees in base, sellers in quote
        taker_fee = ceil_fee(qty if taker_buys else quote, spec.taker_fee_ppm)
        maker_fee = ceil_fee(quote if taker_buys else qty, spec.maker_fee_ppm)
        self.emit(Trade, self.trade_id, maker.order_id, maker.user_id, taker.order_id,
                  taker.user_id, not taker_buys, maker.price, qty, quote, maker_fee, taker_fee)
        self.trade_id += 1
        maker.remaining -= qty
        maker.filled_quote += quote
        taker.filled_qty += qty
        taker.filled_quote += quote
        if taker.base_left is not None:
            taker.base_left -= qty
        if not maker.remaining:
            self.resting.remove(maker)
            self.done(maker, DoneReason.FILLED)

    def place_market(self, cmd: PlaceOrder) -> None:
        reason = self.market_problem(cmd)
        if reason is not None:
            self.emit(Rejected, CommandKind.PLACE, cmd.order_id, cmd.user_id, reason)
            return
        self.emit(Accepted, cmd.order_id, cmd.user_id, cmd.side, OrderType.MARKET, cmd.tif, 0,
                  cmd.qty, cmd.quote_qty)
        buys = cmd.side is Side.BUY
        if cmd.qty:
            taker = Taker(cmd.order_id, cmd.user_id, cmd.side, cmd.stp, None, cmd.qty,
                          cmd.spend_cap if buys and cmd.spend_cap else None)
        else:
            taker = Taker(cmd.order_id, cmd.user_id, cmd.side, cmd.stp, None,
                          cmd.spend_cap if cmd.spend_cap and not buys else None, cmd.quote_qty)
        stopped_by = self.match(taker)
        if cmd.qty:
            reached = taker.filled_qty == cmd.qty
        else:
            reached = taker.filled_qty > 0 and (
                stopped_by == "quote" or taker.filled_quote == cmd.quote_qty)
        if reached:
            reason_done = DoneReason.FILLED
        elif stopped_by == "stp":
            reason_done = DoneReason.EXPIRED_STP
        else:
            reason_done = DoneReason.EXPIRED_IOC
        self.emit(OrderDone, cmd.order_id, cmd.user_id, cmd.side, reason_done, taker.filled_qty,
                  taker.filled_quote, cmd.qty - taker.filled_qty if cmd.qty else 0)

    def market_problem(self, cmd: PlaceOrder) -> RejectReason | None:
        if self.find(cmd.order_id) is not None:
            return RejectReason.DUPLICATE_ORDER_ID
        if not valid_enums(cmd):
            return RejectReason.INVALID_ORDER
        if any(type(v) is not int or v < 0 for v in (cmd.qty, cmd.quote_qty, cmd.spend_cap)):
            return RejectReason.INVALID_QUANTITY
        if cmd.price or (cmd.qty and cmd.quote_qty):
            return RejectReason.INVALID_ORDER
        if cmd.qty:
            return self.qty_problem(cmd.qty)
        if not cmd.quote_qty:
            return RejectReason.INVALID_QUANTITY
        if cmd.quote_qty < self.spec.min_notional:
            return RejectReason.NOTIONAL_TOO_SMALL
        return None

    def cancel(self, cmd: CancelOrder) -> None:
        o = self.find(cmd.order_id)
        if o is None or o.user_id != cmd.user_id:
            self.emit(Rejected, CommandKind.CANCEL, cmd.order_id, cmd.user_id,
                      RejectReason.UNKNOWN_ORDER)
            return
        self.resting.remove(o)
        self.done(o, DoneReason.CANCELED)

    def amend(self, cmd: AmendOrder) -> None:
        o = self.find(cmd.order_id)
        if o is None or o.user_id != cmd.user_id:
            reason: RejectReason | None = RejectReason.UNKNOWN_ORDER
        elif type(cmd.new_qty) is not int or cmd.new_qty <= 0:
            reason = RejectReason.INVALID_QUANTITY
        elif cmd.new_qty % self.spec.lot_size:
            reason = RejectReason.QTY_OFF_LOT
        elif cmd.new_qty >= o.qty:
            reason = RejectReason.AMEND_NOT_REDUCING
        else:
            reason = None
        if o is None or reason is not None:
            self.emit(Rejected, CommandKind.AMEND, cmd.order_id, cmd.user_id,
                      reason or RejectReason.UNKNOWN_ORDER)
            return
        filled = o.qty - o.remaining
        old_qty = o.qty
        new_qty = max(cmd.new_qty, filled)
        o.qty = new_qty
        o.remaining = new_qty - filled
        self.emit(Amended, o.order_id, o.user_id, o.side, o.price, old_qty, new_qty,
                  o.remaining)
        if not o.remaining:
            self.resting.remove(o)
            self.done(o, DoneReason.FILLED)

    def cancel_replace(self, cmd: CancelReplace) -> None:
        o = self.find(cmd.order_id)
        if o is None or o.user_id != cmd.user_id:
            reason: RejectReason | None = RejectReason.UNKNOWN_ORDER
        elif self.find(cmd.new_order_id) is not None:
            reason = RejectReason.DUPLICATE_ORDER_ID
        else:
            reason = self.limit_problem(cmd.price, cmd.qty)
        if o is None or reason is not None:
            self.emit(Rejected, CommandKind.CANCEL_REPLACE, cmd.new_order_id, cmd.user_id,
                      reason or RejectReason.UNKNOWN_ORDER)
            return
        self.resting.remove(o)
        self.done(o, DoneReason.CANCELED)
        self.submit_limit(cmd.new_order_id, o.user_id, o.side, o.order_type, TimeInForce.GTC,
                          o.stp, cmd.price, cmd.qty)


def valid_enums(cmd: PlaceOrder) -> bool:
    return (
        any(cmd.side is v for v in Side) and any(cmd.tif is v for v in TimeInForce)
        and any(cmd.stp is v for v in SelfTradePrevention)
    )

"""Hypothesis stateful test: the engine against the reference book, step by step.

Stop orders (all four types, sized every way) are placed around the prices the book
trades at, so that they are refused as already reached, wait, and set off one another;
OCO lists (every leg type, now and then a wrong one) link a LIMIT_MAKER or stop leg
above the price to one below it.

Both books get the same commands and must emit the same events (hence the same trades)
and hold the same resting orders in the same priority. After every step the engine's
book is also checked on its own: never crossed, queues in arrival order, no quantity
created or lost, no order filled beyond its size.
"""

from __future__ import annotations

from collections import defaultdict
from typing import cast

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chalicelib.domain.order_lists import LEG_TYPES
from chalicelib.domain.orders import MarketSpec, OrderType, SelfTradePrevention, Side, TimeInForce
from matching_cluster.engine import (
    Accepted,
    Amended,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    Event,
    OrderBook,
    OrderDone,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
    PreventedMatch,
    Trade,
    Triggered,
    encode_events,
)

from .reference_book import ReferenceBook

pytestmark = pytest.mark.unit

# Big fee rates so that rounding shows up on small fills; min_qty above one lot and a
# minimum notional so that those filters are exercised too.
SPEC = MarketSpec(
    symbol="PROP", base_unit=10, tick_size=5, lot_size=10, min_qty=10, max_qty=80,
    min_notional=60, maker_fee_ppm=30_000, taker_fee_ppm=70_000,
)
USERS = st.integers(1, 3)  # few users: self-trades are frequent
# Mostly valid values around 100, so that books build up and cross often; now and then
# one that breaks a filter (zero, off tick, below the minimum notional, off lot, too big).
PRICES = st.sampled_from([85, 90, 95, 100, 105, 110, 115] * 3 + [0, 5, 101])
QTYS = st.sampled_from([10, 20, 30, 40, 50, 60, 70, 80] * 3 + [0, 15, 90])
SIDES = st.sampled_from(list(Side))
STPS = st.sampled_from(list(SelfTradePrevention))
PICK = st.integers(0, 10_000)
STOP_TYPES = [t for t in OrderType if t.is_conditional]


class EngineVersusReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = OrderBook(SPEC)
        self.reference = ReferenceBook(SPEC)
        self.next_id = 1
        self.used_ids: list[int] = []
        self.arrival: dict[int, int] = {}  # order id -> when it was accepted
        self.size: dict[int, int] = {}  # order id -> its quantity (after amends)
        self.traded: dict[int, int] = defaultdict(int)  # order id -> base traded
        self.traded_quote: dict[int, int] = defaultdict(int)

    # ---------------------------------------------------------------- helpers

    def fresh_id(self, pick: int) -> int:
        """Mostly a new id; now and then one seen before (duplicate or reuse)."""
        if self.used_ids and pick % 10 == 0:
            return self.used_ids[pick % len(self.used_ids)]
        self.next_id += 1
        self.used_ids.append(self.next_id)
        return self.next_id

    def known_id(self, pick: int) -> int:
        """Mostly an open order (resting or waiting); sometimes any id seen so far."""
        open_ids = [o.order_id for o in self.engine.open_orders()]
        open_ids += [s.order_id for s in self.engine.stop_orders()]
        open_ids += [p.order_id for p in self.engine.snapshot().pending]
        if open_ids and pick % 5:
            return open_ids[pick % len(open_ids)]
        return self.used_ids[pick % len(self.used_ids)] if self.used_ids else 1

    def owner(self, order_id: int, user: int, pick: int) -> int:
        """The real owner of an open order most of the time, else ``user``."""
        order = self.engine.order(order_id) or next(
            (s for s in self.engine.stop_orders() if s.order_id == order_id), None)
        return order.user_id if order is not None and pick % 5 else user

    def run(self, cmd: Command) -> None:
        got = self.engine.apply(cmd)
        want = self.reference.apply(cmd)
        assert encode_events(got) == encode_events(want), (cmd, got, want)
        self.account(got)

    def account(self, events: list[Event]) -> None:
        for e in events:
            if isinstance(e, Accepted):
                self.arrival[e.order_id] = e.seq
                self.size[e.order_id] = e.qty
                self.traded.pop(e.order_id, None)
                self.traded_quote.pop(e.order_id, None)
            elif isinstance(e, Trade):
                for order_id in (e.maker_order_id, e.taker_order_id):
                    self.traded[order_id] += e.qty
                    self.traded_quote[order_id] += e.quote_qty
            elif isinstance(e, Triggered):
                self.arrival[e.order_id] = e.seq  # a stop joins its queue when it works
            elif isinstance(e, Amended):
                self.size[e.order_id] = e.new_qty
            elif isinstance(e, PreventedMatch):  # the maker still rests, as it was
                maker = self.engine.order(e.maker_order_id)
                assert e.mode is not SelfTradePrevention.NONE
                assert e.taker_order_id in self.arrival
                assert self.arrival[e.maker_order_id] < self.arrival[e.taker_order_id]
                assert e.maker_prevented_qty == (
                    self.size[e.maker_order_id] - self.traded[e.maker_order_id])
                assert maker is None or maker.user_id == e.user_id
            elif isinstance(e, OrderDone):
                assert e.filled_qty == self.traded[e.order_id]
                assert e.filled_quote == self.traded_quote[e.order_id]
                if self.size[e.order_id]:  # sized in base (not MARKET by quote)
                    assert e.filled_qty + e.remaining_qty == self.size[e.order_id]

    # ------------------------------------------------------------------ rules

    @rule(pick=PICK, user=USERS, side=SIDES, price=PRICES, qty=QTYS, stp=STPS,
          tif=st.sampled_from(list(TimeInForce)), maker=st.booleans())
    def place_limit(self, pick: int, user: int, side: Side, price: int, qty: int,
                    stp: SelfTradePrevention, tif: TimeInForce, maker: bool) -> None:
        order_type = OrderType.LIMIT_MAKER if maker and pick % 3 == 0 else OrderType.LIMIT
        self.run(PlaceOrder(self.fresh_id(pick), user, side, order_type, price=price, qty=qty,
                            tif=tif, stp=stp))

    @rule(pick=PICK, user=USERS, side=SIDES, price=PRICES, qty=QTYS)
    def place_resting(self, pick: int, user: int, side: Side, price: int, qty: int) -> None:
        """Plain GTC orders (a second rule for them so that books fill up)."""
        self.run(PlaceOrder(self.fresh_id(pick), user, side, price=price, qty=qty))

    @rule(pick=PICK, user=USERS, side=SIDES, qty=QTYS, stp=STPS, by_quote=st.booleans(),
          quote=st.integers(0, 600), cap=st.sampled_from([0, 0, 20, 40, 150, 300]))
    def place_market(self, pick: int, user: int, side: Side, qty: int,
                     stp: SelfTradePrevention, by_quote: bool, quote: int, cap: int) -> None:
        self.run(PlaceOrder(self.fresh_id(pick), user, side, OrderType.MARKET,
                            qty=0 if by_quote else qty, quote_qty=quote if by_quote else 0,
                            stp=stp, spend_cap=cap))

    @rule(pick=PICK, user=USERS, side=SIDES, stop_type=st.sampled_from(STOP_TYPES),
          stop_price=PRICES, price=PRICES, qty=QTYS, stp=STPS,
          tif=st.sampled_from(list(TimeInForce)), by_quote=st.booleans(),
          quote=st.integers(0, 600), cap=st.sampled_from([0, 0, 40, 300]))
    def place_stop(self, pick: int, user: int, side: Side, stop_type: OrderType,
                   stop_price: int, price: int, qty: int, stp: SelfTradePrevention,
                   tif: TimeInForce, by_quote: bool, quote: int, cap: int) -> None:
        if stop_type.working_type is OrderType.LIMIT:
            sizes = {"price": price, "qty": qty, "tif": tif}
        else:
            sizes = {"qty": 0 if by_quote else qty, "quote_qty": quote if by_quote else 0,
                     "spend_cap": cap}
        self.run(PlaceOrder(self.fresh_id(pick), user, side, stop_type, stp=stp,
                            stop_price=stop_price, **sizes))  # type: ignore[arg-type]

    @rule(pick=PICK, user=USERS, side=SIDES, above=st.integers(0, 2),
          below=st.integers(0, 2), above_level=PRICES, below_level=PRICES,
          above_price=PRICES, below_price=PRICES, qty=QTYS, stp=STPS)
    def place_oco(self, pick: int, user: int, side: Side, above: int, below: int,
                  above_level: int, below_level: int, above_price: int, below_price: int,
                  qty: int, stp: SelfTradePrevention) -> None:
        above_types, below_types = LEG_TYPES[side]
        if pick % 10 == 0:  # now and then legs the side does not allow
            above_types, below_types = below_types, above_types
        if pick % 4:  # mostly levels in the right order around the price
            above_level, below_level = max(above_level, below_level), min(above_level,
                                                                           below_level)

        def leg(types: frozenset[OrderType], pick_type: int, level: int,
                price: int) -> PlaceOrder:
            order_type = sorted(types)[pick_type % len(types)]
            order_id = self.fresh_id(pick + pick_type)
            if order_type is OrderType.LIMIT_MAKER:
                return PlaceOrder(order_id, user, side, order_type, price=level, qty=qty,
                                  stp=stp)
            return PlaceOrder(order_id, user, side, order_type, stp=stp, qty=qty,
                              stop_price=level,
                              price=price if order_type.working_type is OrderType.LIMIT else 0)

        self.run(PlaceOco(leg(above_types, above, above_level, above_price),
                          leg(below_types, below, below_level, below_price)))

    @rule(pick=PICK, user=USERS, side=SIDES, price=PRICES, qty=QTYS, stp=STPS,
          tif=st.sampled_from(list(TimeInForce)), maker=st.booleans(),
          pending_kind=st.integers(0, 4), pending_price=PRICES, level=PRICES,
          other_level=PRICES, pending_qty=QTYS)
    def place_oto(self, pick: int, user: int, side: Side, price: int, qty: int,
                  stp: SelfTradePrevention, tif: TimeInForce, maker: bool, pending_kind: int,
                  pending_price: int, level: int, other_level: int, pending_qty: int) -> None:
        """A working LIMIT / LIMIT_MAKER order and, mostly on the other side, a pending
        LIMIT, LIMIT_MAKER, stop, MARKET order or OCO pair (an OTOCO)."""
        working = PlaceOrder(self.fresh_id(pick), user, side,
                             OrderType.LIMIT_MAKER if maker else OrderType.LIMIT,
                             price=price, qty=qty, tif=tif, stp=stp)
        then = side if pick % 7 == 0 else (Side.SELL if side is Side.BUY else Side.BUY)
        above_types, below_types = LEG_TYPES[then]

        def pending(order_type: OrderType, level: int) -> PlaceOrder:
            # Always a new id, never reused by other rules: the harness's sizes and
            # fills are by id, and the API never reuses one.
            self.next_id += 1
            order_id = self.next_id
            if order_type is OrderType.MARKET:
                return PlaceOrder(order_id, user, then, order_type, qty=pending_qty, stp=stp)
            if order_type.is_conditional:
                limit_price = pending_price if order_type.working_type is OrderType.LIMIT else 0
                return PlaceOrder(order_id, user, then, order_type, price=limit_price,
                                  qty=pending_qty, stop_price=level, stp=stp)
            return PlaceOrder(order_id, user, then, order_type, price=level, qty=pending_qty,
                              stp=stp)

        orders: tuple[PlaceOrder, ...]
        if pending_kind == 4:
            high, low = max(level, other_level), min(level, other_level)
            orders = (pending(sorted(above_types)[pick % len(above_types)], high),
                      pending(sorted(below_types)[pick % len(below_types)], low))
        else:
            order_type = (OrderType.LIMIT, OrderType.LIMIT_MAKER, STOP_TYPES[pick % 4],
                          OrderType.MARKET)[pending_kind]
            orders = (pending(order_type, level),)
        for p in orders:  # what a pending order that ends unplaced is checked against
            self.size[p.order_id] = p.qty
            self.traded.pop(p.order_id, None)
            self.traded_quote.pop(p.order_id, None)
        self.run(PlaceOto(working, orders))

    @rule(pick=PICK, user=USERS)
    def cancel(self, pick: int, user: int) -> None:
        order_id = self.known_id(pick)
        self.run(CancelOrder(order_id, self.owner(order_id, user, pick)))

    @rule(user=USERS)
    def cancel_all(self, user: int) -> None:
        self.run(CancelAll(user))

    @rule(pick=PICK, user=USERS, new_qty=st.sampled_from([0, 10, 20, 30, 40, 15, 70]))
    def amend(self, pick: int, user: int, new_qty: int) -> None:
        order_id = self.known_id(pick)
        self.run(AmendOrder(order_id, self.owner(order_id, user, pick), new_qty))

    @rule(pick=PICK, user=USERS, price=PRICES, qty=QTYS)
    def cancel_replace(self, pick: int, user: int, price: int, qty: int) -> None:
        order_id = self.known_id(pick)
        owner = self.owner(order_id, user, pick)
        self.run(CancelReplace(order_id, owner, self.fresh_id(pick // 7), price, qty))

    # ------------------------------------------------------------- invariants

    @invariant()
    def same_resting_book(self) -> None:
        assert self.engine.open_orders() == self.reference.open_orders()
        assert self.engine.stop_orders() == self.reference.stops
        assert self.engine.oco_pairs() == sorted(tuple(sorted(p)) for p in self.reference.pairs)
        assert [(p.working_id, p.order_id) for p in self.engine.snapshot().pending] == [
            (working, p.order_id) for working, pending in self.reference.lists
            for p in pending]
        assert self.engine.last_price == self.reference.last_price
        assert self.engine.next_seq == self.reference.seq
        assert self.engine.next_trade_id == self.reference.trade_id

    @invariant()
    def waiting_stops_not_yet_reached(self) -> None:
        """Between commands, no waiting stop is reached by the last trade price."""
        last = self.engine.last_price
        for stop in self.engine.stop_orders():
            assert not last or not stop.reached(last, last)

    @invariant()
    def never_crossed(self) -> None:
        bid, ask = self.engine.best_bid(), self.engine.best_ask()
        assert bid is None or ask is None or bid < ask

    @invariant()
    def queues_in_arrival_order(self) -> None:
        bids, asks = self.engine.depth()
        for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
            assert [p for p, _ in levels] == sorted((p for p, _ in levels),
                                                    reverse=side is Side.BUY)
            for price, total in levels:
                queue = self.engine.level_orders(side, price)
                assert queue, "empty level left in the book"
                arrivals = [self.arrival[o.order_id] for o in queue]
                assert arrivals == sorted(arrivals)
                assert total == sum(o.remaining for o in queue)

    @invariant()
    def no_quantity_created_or_lost(self) -> None:
        for o in self.engine.open_orders():
            assert 0 < o.remaining <= o.qty == self.size[o.order_id]
            assert o.qty - o.remaining == self.traded[o.order_id]  # fills never exceed size
            assert o.filled_quote == self.traded_quote[o.order_id]


EngineVersusReference.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngineVersusReference = EngineVersusReference.TestCase


class CompiledVersusReference(EngineVersusReference):
    """The same machine on the compiled book (matching_cluster/engine_rs)."""

    def __init__(self) -> None:
        super().__init__()
        from matching_cluster_engine_rs import OrderBook as CompiledBook

        # Not a subclass, but the same interface (its stub says so).
        self.engine = cast(OrderBook, CompiledBook(SPEC))


CompiledVersusReference.TestCase.settings = EngineVersusReference.TestCase.settings
TestCompiledVersusReference = CompiledVersusReference.TestCase

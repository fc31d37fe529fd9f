"""Settlement of stop orders: the trigger moves no money, a stop MARKET order's fills are
settled as a MARKET order's (by what they cost, from its spend-capped lock), an amended
waiting stop frees what its new size no longer needs, and an OCO's lock moves to the leg
that starts working when the leg holding it expires."""

from __future__ import annotations

from chalicelib.domain.ledger import Bucket
from chalicelib.domain.orders import DoneReason, MarketSpec, OrderStatus, OrderType, Side
from matching_cluster.engine import Amended, Event, OrderDone, Trade, Triggered
from matching_cluster.service.settlement import MarketInfo, OrderState, settle

UNIT = 10**8
SPEC = MarketSpec(symbol="BTCUSDT", base_unit=UNIT, tick_size=100, lot_size=10**6,
                  min_qty=10**6, max_qty=1000 * UNIT, maker_fee_ppm=0, taker_fee_ppm=0)
MARKET = MarketInfo(SPEC, "BTC", "USDT", "TRADING")
BUYER, SELLER = 1, 2
PRICE = 5_000_000  # 50,000.00 USDT


def waiting(order_id: int, user_id: int, side: Side, order_type: OrderType, *, price: int,
            qty: int, locked: int) -> OrderState:
    return OrderState(order_id, user_id, side, order_type, price, qty, 0, 0, locked,
                      OrderStatus.NEW, accepted_seq=1)


def test_a_trigger_marks_the_order_working_and_moves_no_money() -> None:
    stop = waiting(10, SELLER, Side.SELL, OrderType.STOP_LOSS_LIMIT, price=PRICE, qty=UNIT,
                   locked=UNIT)
    out = settle(MARKET, [Triggered(7, 10, SELLER, Side.SELL, OrderType.STOP_LOSS_LIMIT,
                                    PRICE, PRICE)], {10: stop})
    assert (stop.working_seq, stop.status, stop.locked_amount) == (7, OrderStatus.NEW, UNIT)
    assert out.ledger_transaction("BTCUSDT:commands:1-1") is None
    assert out.changed_orders == {10: stop}


def test_a_stop_market_buy_pays_what_its_fills_cost_and_frees_the_rest_of_its_cap() -> None:
    cap = 10_000 * 100  # it locked all its 10,000 USDT, as a MARKET buy by quantity does
    stop = waiting(10, BUYER, Side.BUY, OrderType.STOP_LOSS, price=0, qty=UNIT // 10,
                   locked=cap)
    seller = waiting(11, SELLER, Side.SELL, OrderType.LIMIT, price=PRICE, qty=UNIT,
                     locked=UNIT)
    quote = SPEC.notional(PRICE, UNIT // 10)
    events: list[Event] = [
        Triggered(7, 10, BUYER, Side.BUY, OrderType.STOP_LOSS, PRICE, PRICE),
        Trade(8, 1, 11, SELLER, 10, BUYER, False, PRICE, UNIT // 10, quote, 0, 0),
        OrderDone(9, 10, BUYER, Side.BUY, DoneReason.FILLED, UNIT // 10, quote, 0),
    ]
    out = settle(MARKET, events, {10: stop, 11: seller})

    net = {(p.account.user_id, p.account.asset, p.bucket): p.amount
           for p in out.ledger_transaction("r").postings}  # type: ignore[union-attr]
    assert net[BUYER, "USDT", Bucket.LOCKED] == -cap
    assert net[BUYER, "USDT", Bucket.AVAILABLE] == cap - quote
    assert (stop.status, stop.locked_amount, stop.cumulative_quote_qty) == (
        OrderStatus.FILLED, 0, quote)


def test_an_oco_leg_holding_the_lists_lock_hands_it_to_the_leg_that_started_working() -> None:
    # The list's lock is on the LIMIT_MAKER leg (10); its stop leg (11) holds none.
    holder = waiting(10, SELLER, Side.SELL, OrderType.LIMIT_MAKER, price=2 * PRICE, qty=UNIT,
                     locked=UNIT)
    holder.oco_sibling = 11
    stop = waiting(11, SELLER, Side.SELL, OrderType.STOP_LOSS_LIMIT, price=PRICE, qty=UNIT,
                   locked=0)
    stop.oco_sibling = 10
    out = settle(MARKET, [
        Triggered(5, 11, SELLER, Side.SELL, OrderType.STOP_LOSS_LIMIT, PRICE, PRICE),
        OrderDone(6, 10, SELLER, Side.SELL, DoneReason.EXPIRED_IN_LIST, 0, 0, UNIT),
    ], {10: holder, 11: stop})
    assert out.ledger_transaction("r") is None  # the money stays locked
    assert (holder.status, holder.done_reason, holder.locked_amount) == (
        OrderStatus.EXPIRED, "EXPIRED_IN_LIST", 0)
    assert (stop.locked_amount, stop.working_seq) == (UNIT, 5)
    assert set(out.changed_orders) == {10, 11}


def test_an_oco_leg_without_the_lock_expires_and_moves_no_money() -> None:
    leg = waiting(11, SELLER, Side.SELL, OrderType.STOP_LOSS_LIMIT, price=PRICE, qty=UNIT,
                  locked=0)
    leg.oco_sibling = 10
    out = settle(MARKET, [OrderDone(5, 11, SELLER, Side.SELL, DoneReason.EXPIRED_IN_LIST, 0,
                                    0, UNIT)], {11: leg})
    assert out.ledger_transaction("r") is None
    assert (leg.status, leg.done_reason) == (OrderStatus.EXPIRED, "EXPIRED_IN_LIST")


def test_an_amended_stop_limit_frees_the_lock_its_new_size_no_longer_needs() -> None:
    stop = waiting(10, BUYER, Side.BUY, OrderType.TAKE_PROFIT_LIMIT, price=PRICE, qty=UNIT,
                   locked=SPEC.notional(PRICE, UNIT))
    out = settle(MARKET, [Amended(5, 10, BUYER, Side.BUY, PRICE, UNIT, UNIT // 4, UNIT // 4)],
                 {10: stop})
    freed = SPEC.notional(PRICE, UNIT) - SPEC.notional(PRICE, UNIT // 4)
    assert (stop.quantity, stop.locked_amount) == (UNIT // 4, SPEC.notional(PRICE, UNIT // 4))
    assert {(p.account.user_id, p.bucket): p.amount
            for p in out.ledger_transaction("r").postings} == {  # type: ignore[union-attr]
        (BUYER, Bucket.LOCKED): -freed, (BUYER, Bucket.AVAILABLE): freed}


def test_an_amended_stop_market_buy_keeps_its_spend_cap() -> None:
    cap = 10_000 * 100
    stop = waiting(10, BUYER, Side.BUY, OrderType.STOP_LOSS, price=0, qty=UNIT, locked=cap)
    out = settle(MARKET, [Amended(5, 10, BUYER, Side.BUY, 0, UNIT, UNIT // 4, UNIT // 4)],
                 {10: stop})
    assert (stop.quantity, stop.locked_amount) == (UNIT // 4, cap)
    assert out.ledger_transaction("r") is None

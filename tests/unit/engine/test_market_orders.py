"""MARKET orders by base quantity and by quote amount (Binance quoteOrderQty)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain.orders import CommandKind, DoneReason, OrderType, RejectReason
from matching_cluster.engine import Accepted, OrderDone, PlaceOrder, Rejected

from .support import BUY, GTC, SELL, dones, fills, kinds, limit, market, new_book, trades

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]


def asks_100_and_105() -> list[PlaceOrder]:
    return [limit(1, 1, SELL, 100, 20), limit(2, 2, SELL, 105, 50)]


@pytest.mark.parametrize("order", [
    pytest.param(market(9, 9, BUY, qty=40), id="by quantity"),
    # 20 @ 100 = 200, then 300 left buys 20 @ 105 = 210; 90 left cannot pay 105 for a lot
    pytest.param(market(9, 9, BUY, quote_qty=500), id="by quote, while a lot is affordable"),
])
def test_market_buy_sweeps_levels(order: PlaceOrder) -> None:
    book = new_book(*asks_100_and_105())
    events = book.apply(order)
    assert events[0] == Accepted(3, 9, 9, BUY, OrderType.MARKET, GTC, 0, order.qty,
                                 order.quote_qty)
    assert fills(events) == [(1, 9, 100, 20), (2, 9, 105, 20)]
    assert [t.quote_qty for t in trades(events)] == [200, 210]
    assert dones(events)[-1] == OrderDone(events[-1].seq, 9, 9, BUY, DoneReason.FILLED,
                                          40, 410, 0)
    assert book.depth() == ([], [(105, 30)])


def test_market_by_quantity_without_enough_liquidity_expires_the_rest() -> None:
    book = new_book(limit(1, 1, BUY, 100, 20))
    events = book.apply(market(9, 9, SELL, qty=50))
    assert fills(events) == [(1, 9, 100, 20)]
    assert dones(events)[-1] == OrderDone(events[-1].seq, 9, 9, SELL, DoneReason.EXPIRED_IOC,
                                          20, 200, 30)
    assert len(book) == 0


def test_market_into_an_empty_book_expires() -> None:
    book = new_book()
    events = book.apply(market(9, 9, BUY, qty=10))
    assert kinds(events) == ["Accepted", "OrderDone"]
    assert dones(events)[0] == OrderDone(2, 9, 9, BUY, DoneReason.EXPIRED_IOC, 0, 0, 10)


def test_market_buy_by_quote_spending_everything_partially_fills_the_maker() -> None:
    book = new_book(limit(1, 1, SELL, 100, 30))
    events = book.apply(market(9, 9, BUY, quote_qty=200))
    assert fills(events) == [(1, 9, 100, 20)]
    assert dones(events) == [OrderDone(events[-1].seq, 9, 9, BUY, DoneReason.FILLED, 20, 200, 0)]
    assert book.depth() == ([], [(100, 10)])


def test_market_by_quote_without_enough_liquidity_expires() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20))
    events = book.apply(market(9, 9, BUY, quote_qty=1_000))
    assert dones(events)[-1] == OrderDone(events[-1].seq, 9, 9, BUY, DoneReason.EXPIRED_IOC,
                                          20, 200, 0)


def test_market_by_quote_too_small_for_one_lot_expires_without_trading() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20))
    events = book.apply(market(9, 9, BUY, quote_qty=60))
    assert kinds(events) == ["Accepted", "OrderDone"]
    assert dones(events)[0].reason is DoneReason.EXPIRED_IOC


def test_market_sell_by_quote_receives_at_most_the_amount() -> None:
    book = new_book(limit(1, 1, BUY, 100, 20), limit(2, 2, BUY, 95, 30))
    events = book.apply(market(9, 9, SELL, quote_qty=300))
    # 20 @ 100 = 200; 100 left: 10 @ 95 = 95; 5 left cannot sell another lot
    assert fills(events) == [(1, 9, 100, 20), (2, 9, 95, 10)]
    assert dones(events)[-1] == OrderDone(events[-1].seq, 9, 9, SELL, DoneReason.FILLED,
                                          30, 295, 0)
    assert book.depth() == ([(95, 20)], [])


@pytest.mark.parametrize(("resting", "order", "outcome"), [
    # 20 @ 100 = 200 leaves 100, less than 110 for one more lot
    pytest.param([limit(1, 1, SELL, 100, 20), limit(2, 2, SELL, 110, 20)],
                 market(9, 9, BUY, qty=40, spend_cap=300),
                 ([(1, 9, 100, 20)], DoneReason.EXPIRED_IOC, 20, 200, 20),
                 id="buy by quantity, across levels"),
    pytest.param([limit(1, 1, SELL, 100, 50)], market(9, 9, BUY, qty=50, spend_cap=330),
                 ([(1, 9, 100, 30)], DoneReason.EXPIRED_IOC, 30, 300, 20),
                 id="buy by quantity, within a level"),
    pytest.param([limit(1, 1, BUY, 100, 50)], market(9, 9, SELL, quote_qty=1_000, spend_cap=30),
                 ([(1, 9, 100, 30)], DoneReason.EXPIRED_IOC, 30, 300, 0),
                 id="sell by quote"),
    pytest.param([limit(1, 1, BUY, 100, 50)], market(9, 9, SELL, qty=40, spend_cap=10),
                 ([(1, 9, 100, 40)], DoneReason.FILLED, 40, 400, 0),
                 id="sell by quantity: its size bounds it, the cap is ignored"),
])
def test_a_spend_cap_bounds_what_the_orders_own_size_does_not(
        resting: list[PlaceOrder], order: PlaceOrder,
        outcome: tuple[list[tuple[int, int, int, int]], DoneReason, int, int, int]) -> None:
    events = new_book(*resting).apply(order)
    done = dones(events)[-1]
    assert (fills(events), done.reason, done.filled_qty, done.filled_quote,
            done.remaining_qty) == outcome


@pytest.mark.parametrize(
    ("qty", "quote_qty", "spend_cap", "reason"),
    [
        (10, 100, 0, RejectReason.INVALID_ORDER),
        (0, 0, 0, RejectReason.INVALID_QUANTITY),
        (-10, 0, 0, RejectReason.INVALID_QUANTITY),
        (15, 0, 0, RejectReason.QTY_OFF_LOT),
        (2_000, 0, 0, RejectReason.QTY_TOO_LARGE),
        (0, 49, 0, RejectReason.NOTIONAL_TOO_SMALL),
        (0, 100, -1, RejectReason.INVALID_QUANTITY),
    ],
)
def test_market_validation(qty: int, quote_qty: int, spend_cap: int,
                           reason: RejectReason) -> None:
    book = new_book()
    events = book.apply(market(9, 9, BUY, qty=qty, quote_qty=quote_qty, spend_cap=spend_cap))
    assert events == [Rejected(1, CommandKind.PLACE, 9, 9, reason)]


def test_market_with_a_price_is_invalid() -> None:
    book = new_book()
    events = book.apply(replace(market(9, 9, BUY, qty=10), price=100))
    assert events == [Rejected(1, CommandKind.PLACE, 9, 9, RejectReason.INVALID_ORDER)]

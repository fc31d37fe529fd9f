"""Stop orders: STOP_LOSS(_LIMIT) and TAKE_PROFIT(_LIMIT) wait for the last trade price.

Binance's rules: a STOP_LOSS BUY and a TAKE_PROFIT SELL work once the last price is at
or above the stop price; a STOP_LOSS SELL and a TAKE_PROFIT BUY at or below it. An order
whose stop price is already reached is refused ("Order would trigger immediately").
"""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import CommandKind, DoneReason, OrderType, RejectReason, Side
from matching_cluster.engine import (
    Accepted,
    Amended,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Event,
    OrderBook,
    OrderDone,
    PlaceOrder,
    Rejected,
    StopOrder,
    Triggered,
)

from .support import (
    BUY,
    GTC,
    SELL,
    STP,
    dones,
    fills,
    kinds,
    limit,
    market,
    new_book,
    seed,
    stop,
)

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]

SL, SLL = OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT
TP, TPL = OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT


def traded_at(price: int) -> OrderBook:
    """A book whose last trade was at ``price``, with depth around it (users 1 and 2)."""
    book = new_book(limit(1, 1, SELL, price, 10), limit(2, 1, SELL, price + 20, 100),
                    limit(3, 1, BUY, price - 20, 100))
    assert kinds(book.apply(limit(4, 2, BUY, price, 10)))[1] == "Trade"
    assert book.last_price == price
    return book


def trade_at(book: OrderBook, price: int, order_id: int) -> list[Event]:
    """User 8 rests at ``price`` and user 9 takes it: one trade at ``price``."""
    seed(book, limit(order_id, 8, SELL, price, 10))
    return book.apply(limit(order_id + 1, 9, BUY, price, 10))


@pytest.mark.parametrize(("order_type", "side", "stop_price", "reached_at", "not_at"), [
    (SLL, SELL, 95, 95, 100),  # sells when the price falls to the stop
    (SLL, BUY, 105, 105, 100),  # buys when it rises to it
    (TPL, SELL, 105, 105, 100),  # takes profit on a rise
    (TPL, BUY, 95, 95, 100),  # buys the dip
])
def test_a_stop_limit_waits_then_works_as_a_limit_order(
    order_type: OrderType, side: Side, stop_price: int, reached_at: int, not_at: int,
) -> None:
    book = traded_at(100)
    limit_price = 90 if side is SELL else 110
    events = book.apply(stop(10, 5, side, order_type, stop_price, price=limit_price, qty=10))
    assert events == [Accepted(events[0].seq, 10, 5, side, order_type, GTC, limit_price,
                               10, 0)]
    assert book.stop_orders() == [StopOrder(10, 5, side, order_type, STP.NONE, GTC,
                                            limit_price, 10, 0, 0, stop_price)]
    assert book.order(10) is None  # not in the book while it waits

    assert not any(isinstance(e, Triggered) for e in trade_at(book, not_at, 20))
    events = trade_at(book, reached_at, 30)
    triggered = [e for e in events if isinstance(e, Triggered)]
    assert [(t.order_id, t.order_type, t.stop_price, t.last_price) for t in triggered] == [
        (10, order_type, stop_price, reached_at)]
    assert book.stop_orders() == []
    # Now a limit order: the resting side at ``limit_price`` - 0 or + 20 is beyond it.
    assert book.order(10) is not None


@pytest.mark.parametrize(("order_type", "side", "stop_price"), [
    (SL, SELL, 100), (SL, SELL, 105), (SL, BUY, 100), (SL, BUY, 95),
    (TP, SELL, 100), (TP, SELL, 95), (TP, BUY, 100), (TP, BUY, 105),
])
def test_a_stop_already_reached_is_refused(order_type: OrderType, side: Side,
                                           stop_price: int) -> None:
    book = traded_at(100)
    events = book.apply(stop(10, 5, side, order_type, stop_price, qty=10))
    assert [(e.order_id, e.reason) for e in events if isinstance(e, Rejected)] == [
        (10, RejectReason.WOULD_TRIGGER_IMMEDIATELY)]
    assert book.stop_orders() == []


def test_before_the_first_trade_every_stop_waits() -> None:
    book = new_book()
    for n, (order_type, side) in enumerate([(SL, SELL), (SL, BUY), (TP, SELL), (TP, BUY)]):
        assert kinds(book.apply(stop(10 + n, 5, side, order_type, 100, qty=10))) == [
            "Accepted"]
    assert len(book.stop_orders()) == 4


def test_a_stop_market_order_sweeps_the_book_when_it_works() -> None:
    book = traded_at(100)  # asks: 120 x100; bids: 80 x100
    seed(book, stop(10, 5, SELL, SL, 90, qty=30))
    events = book.apply(market(20, 9, SELL, qty=10))  # trades at 80: reaches 90
    assert fills(events) == [(3, 20, 80, 10), (3, 10, 80, 30)]
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (20, DoneReason.FILLED), (10, DoneReason.FILLED)]


def test_stop_market_by_quote_amount_with_its_cap() -> None:
    book = traded_at(100)
    seed(book, stop(10, 5, BUY, SL, 110, quote_qty=600))
    events = book.apply(limit(20, 9, BUY, 120, 10))  # trades at 120
    assert fills(events) == [(2, 20, 120, 10), (2, 10, 120, 50)]
    assert dones(events)[-1] == OrderDone(events[-1].seq, 10, 5, BUY, DoneReason.FILLED, 50,
                                          600, 0)


def test_prices_traded_within_a_command_count_not_only_the_last() -> None:
    book = traded_at(100)  # bids 80 x100
    seed(book, limit(10, 6, BUY, 95, 10), stop(11, 5, SELL, SLL, 95, price=80, qty=10))
    # One sell sweeps 95 then 80: the stop at 95 is reached although the last price is 80.
    events = book.apply(limit(20, 9, SELL, 80, 20))
    assert [e.order_id for e in events if isinstance(e, Triggered)] == [11]


def test_one_stop_sets_off_the_next_oldest_first() -> None:
    book = traded_at(100)  # bids 80 x100, asks 120 x100
    seed(book,
         stop(10, 5, SELL, SL, 80, qty=100),  # reached only by a trade at 80 or below
         limit(11, 6, BUY, 95, 10),
         stop(12, 5, SELL, SL, 95, qty=10),
         stop(13, 7, SELL, SL, 95, qty=10))
    events = book.apply(limit(20, 9, SELL, 95, 10))  # trades at 95
    order = [e.order_id for e in events if isinstance(e, Triggered)]
    # 95 reaches 12 and 13; 12 works first and trades at 80, which reaches 10 too: of
    # the two waiting, 10 is older.
    assert order == [12, 10, 13]
    assert book.stop_orders() == []


def test_a_triggered_stop_limit_joins_the_queue_when_it_works() -> None:
    book = traded_at(100)
    seed(book, stop(10, 5, SELL, SLL, 95, price=115, qty=10),
         limit(11, 6, SELL, 115, 10))
    trade_at(book, 95, 20)
    assert [o.order_id for o in book.level_orders(SELL, 115)] == [11, 10]
    triggered = book.order(10)
    assert triggered is not None
    assert triggered.order_type is SLL


def test_a_waiting_stop_is_cancelled_like_any_open_order() -> None:
    book = traded_at(100)
    seed(book, stop(10, 5, SELL, SLL, 95, price=90, qty=30), limit(11, 5, SELL, 130, 10),
         stop(12, 5, BUY, TP, 95, quote_qty=300))
    assert book.apply(CancelOrder(10, 6))[0].reason is RejectReason.UNKNOWN_ORDER  # type: ignore[union-attr]
    events = book.apply(CancelOrder(10, 5))
    assert events == [OrderDone(events[0].seq, 10, 5, SELL, DoneReason.CANCELED, 0, 0, 30)]
    events = book.apply(CancelAll(5))  # resting first, then stops, oldest first
    assert [(d.order_id, d.remaining_qty) for d in dones(events)] == [(11, 10), (12, 0)]
    assert book.stop_orders() == []
    assert book.open_orders(5) == []


def test_a_waiting_stop_is_amended_down_in_its_place_and_keeps_its_id() -> None:
    book = traded_at(100)
    seed(book, stop(10, 5, SELL, SLL, 95, price=90, qty=30), stop(11, 6, SELL, SL, 95, qty=10))
    seq = book.next_seq
    assert book.apply(AmendOrder(10, 5, 10)) == [Amended(seq, 10, 5, SELL, 90, 30, 10, 10)]
    assert [(s.order_id, s.qty) for s in book.stop_orders()] == [(10, 10), (11, 10)]
    assert book.apply(AmendOrder(10, 5, 10))[0].reason is (  # type: ignore[union-attr]
        RejectReason.AMEND_NOT_REDUCING)
    assert book.apply(AmendOrder(10, 6, 5))[0].reason is RejectReason.UNKNOWN_ORDER  # type: ignore[union-attr]
    assert book.apply(limit(10, 5, BUY, 90, 10))[0].reason is (  # type: ignore[union-attr]
        RejectReason.DUPLICATE_ORDER_ID)


@pytest.mark.parametrize(("order", "reason"), [
    (stop(10, 5, SELL, SLL, 0, price=90, qty=10), RejectReason.INVALID_PRICE),
    (stop(10, 5, SELL, SLL, 93, price=90, qty=10), RejectReason.PRICE_OFF_TICK),
    (stop(10, 5, SELL, SL, 92, qty=10), RejectReason.PRICE_OFF_TICK),
    (stop(10, 5, SELL, SLL, 95, price=91, qty=10), RejectReason.PRICE_OFF_TICK),
    (stop(10, 5, SELL, SLL, 95, price=90, qty=15), RejectReason.QTY_OFF_LOT),
    (stop(10, 5, SELL, SL, 95, price=90, qty=10), RejectReason.INVALID_ORDER),
    (stop(10, 5, SELL, SL, 95, qty=10, quote_qty=100), RejectReason.INVALID_ORDER),
    (stop(10, 5, SELL, SLL, 95, price=90, qty=10, quote_qty=100),
     RejectReason.INVALID_ORDER),
    (stop(10, 5, SELL, OrderType.LIMIT, 95, price=90, qty=10), RejectReason.INVALID_ORDER),
    (stop(10, 5, SELL, OrderType.MARKET, 95, qty=10), RejectReason.INVALID_ORDER),
])
def test_stop_orders_are_validated_like_the_orders_they_become(
    order: PlaceOrder, reason: RejectReason,
) -> None:
    book = traded_at(100)
    seq = book.next_seq
    assert book.apply(order) == [Rejected(seq, CommandKind.PLACE, 10, 5, reason)]

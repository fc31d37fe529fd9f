"""OCO order lists in the engine: two legs accepted together or refused together, the
first leg that trades or starts working expires the other, cancelling a leg cancels
both, and the legs' prices must lie on both sides of the last trade price."""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import CommandKind, DoneReason, OrderType, RejectReason
from matching_cluster.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    OrderBook,
    OrderDone,
    PlaceOco,
    PlaceOrder,
    Rejected,
    Trade,
    Triggered,
)

from .support import BUY, SELL, dones, kinds, limit, new_book, seed, stop

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]

LM, SL, SLL = OrderType.LIMIT_MAKER, OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT
TP, TPL = OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT


def traded_at_100() -> OrderBook:
    """Last trade at 100; user 1 bids 80 x100 and asks 120 x100."""
    book = new_book(limit(1, 1, SELL, 100, 10), limit(2, 1, SELL, 120, 100),
                    limit(3, 1, BUY, 80, 100))
    book.apply(limit(4, 2, BUY, 100, 10))
    assert book.last_price == 100
    return book


def sell_oco(above_id: int = 10, below_id: int = 11, *, take_at: int = 110,
             stop_at: int = 90, qty: int = 20) -> PlaceOco:
    """User 5 sells ``qty``: take profit at ``take_at`` or stop the loss at ``stop_at``."""
    return PlaceOco(PlaceOrder(above_id, 5, SELL, LM, price=take_at, qty=qty),
                    stop(below_id, 5, SELL, SLL, stop_at, price=stop_at - 5, qty=qty))


def test_both_legs_are_accepted_together_and_linked() -> None:
    book = traded_at_100()
    events = book.apply(sell_oco())
    assert [(type(e).__name__, e.order_id) for e in events] == [  # type: ignore[union-attr]
        ("Accepted", 10), ("Accepted", 11)]
    assert [o.order_id for o in book.level_orders(SELL, 110)] == [10]
    assert [s.order_id for s in book.stop_orders()] == [11]
    assert book.oco_pairs() == [(10, 11)]


def test_the_limit_leg_trading_expires_the_stop_leg() -> None:
    book = traded_at_100()
    seed(book, sell_oco())
    events = book.apply(limit(20, 6, BUY, 110, 5 * 2))  # takes half of the LIMIT_MAKER
    assert [(t.maker_order_id, t.qty) for t in events if isinstance(t, Trade)] == [(10, 10)]
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (20, DoneReason.FILLED), (11, DoneReason.EXPIRED_IN_LIST)]
    assert book.stop_orders() == []
    assert book.oco_pairs() == []
    assert book.order(10) is not None  # the rest of the LIMIT_MAKER stays, on its own


def test_the_stop_leg_working_expires_the_limit_leg_before_it_trades() -> None:
    book = traded_at_100()
    seed(book, sell_oco(), limit(20, 6, BUY, 90, 10))
    events = book.apply(limit(21, 7, SELL, 90, 10))  # trades at 90: the stop works
    names = kinds(events)
    triggered = names.index("Triggered")
    assert events[triggered + 1] == OrderDone(events[triggered + 1].seq, 10, 5, SELL,
                                              DoneReason.EXPIRED_IN_LIST, 0, 0, 20)
    # Its limit, 85, is above the best bid (80): it rests, alone.
    assert not any(isinstance(t, Trade) for t in events[triggered:])
    worked = book.order(11)
    assert worked is not None
    assert (worked.price, worked.order_type) == (85, SLL)
    assert book.order(10) is None
    assert book.oco_pairs() == []


def test_a_buy_oco_of_two_stops_works_one_and_expires_the_other() -> None:
    book = traded_at_100()
    seed(book, PlaceOco(stop(10, 5, BUY, SL, 110, qty=10), stop(11, 5, BUY, TP, 90, qty=10)))
    seed(book, limit(20, 6, SELL, 110, 10))
    events = book.apply(limit(21, 7, BUY, 110, 10))  # trades at 110: the STOP_LOSS works
    assert [e.order_id for e in events if isinstance(e, Triggered)] == [10]
    assert (11, DoneReason.EXPIRED_IN_LIST) in [(d.order_id, d.reason) for d in dones(events)]
    assert book.stop_orders() == []


@pytest.mark.parametrize("cancelled", [10, 11])
def test_cancelling_either_leg_cancels_both(cancelled: int) -> None:
    book = traded_at_100()
    seed(book, sell_oco())
    events = book.apply(CancelOrder(cancelled, 5))
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (cancelled, DoneReason.CANCELED), (21 - cancelled, DoneReason.CANCELED)]
    assert book.order(10) is None
    assert book.stop_orders() == []
    assert book.oco_pairs() == []


def test_cancel_all_cancels_each_list_once() -> None:
    book = traded_at_100()
    seed(book, sell_oco(), sell_oco(12, 13, take_at=115, stop_at=85), limit(14, 5, BUY, 70, 10))
    events = book.apply(CancelAll(5))
    assert [d.order_id for d in dones(events)] == [10, 11, 12, 13, 14]
    assert len(book) == 2  # user 1's orders only


@pytest.mark.parametrize(("oco", "reason"), [
    (sell_oco(take_at=100), RejectReason.OCO_BAD_PRICES),  # not above the last price
    (sell_oco(stop_at=100), RejectReason.OCO_BAD_PRICES),  # not below it
    (sell_oco(take_at=90, stop_at=110), RejectReason.OCO_BAD_PRICES),  # swapped
    (PlaceOco(stop(10, 5, SELL, SLL, 90, price=85, qty=20),
              PlaceOrder(11, 5, SELL, LM, price=110, qty=20)), RejectReason.INVALID_ORDER),
    (PlaceOco(PlaceOrder(10, 5, SELL, LM, price=110, qty=20),
              stop(11, 5, SELL, SLL, 90, price=85, qty=30)), RejectReason.INVALID_ORDER),
    (PlaceOco(PlaceOrder(10, 5, SELL, LM, price=110, qty=20),
              stop(11, 6, SELL, SLL, 90, price=85, qty=20)), RejectReason.INVALID_ORDER),
    (sell_oco(below_id=10), RejectReason.INVALID_ORDER),
    (sell_oco(above_id=2), RejectReason.DUPLICATE_ORDER_ID),  # user 1's ask at 120
    (sell_oco(stop_at=93), RejectReason.PRICE_OFF_TICK),
    (sell_oco(qty=15), RejectReason.QTY_OFF_LOT),
])
def test_a_bad_list_is_refused_whole(oco: PlaceOco, reason: RejectReason) -> None:
    book = traded_at_100()
    seq = book.next_seq
    assert book.apply(oco) == [
        Rejected(seq, CommandKind.PLACE, oco.above.order_id, 5, reason),
        Rejected(seq + 1, CommandKind.PLACE, oco.below.order_id, oco.below.user_id, reason)]
    assert book.stop_orders() == []
    assert book.oco_pairs() == []


def test_a_limit_maker_leg_that_would_take_refuses_the_list() -> None:
    book = traded_at_100()
    seed(book, limit(20, 6, BUY, 105, 10))  # a bid above the last price
    events = book.apply(sell_oco(take_at=105))
    assert {e.reason for e in events if isinstance(e, Rejected)} == {
        RejectReason.WOULD_MATCH_IMMEDIATELY}


def test_a_leg_is_neither_amended_nor_replaced() -> None:
    book = traded_at_100()
    seed(book, sell_oco())
    assert book.apply(AmendOrder(10, 5, 10))[0].reason is RejectReason.IN_ORDER_LIST  # type: ignore[union-attr]
    assert book.apply(CancelReplace(10, 5, 30, 115, 20))[0].reason is (  # type: ignore[union-attr]
        RejectReason.IN_ORDER_LIST)
    assert book.oco_pairs() == [(10, 11)]

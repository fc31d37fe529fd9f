"""OTO and OTOCO order lists in the engine: the working order goes on the book, its
pending order (or OCO pair) is placed once it fully fills, ends with it when it ends
otherwise, and the list is accepted or refused whole."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.orders import DoneReason, OrderType, RejectReason
from matching_cluster.engine import (
    Accepted,
    AmendOrder,
    BookSnapshot,
    CancelAll,
    CancelOrder,
    OrderDone,
    PlaceOrder,
    PlaceOto,
    Rejected,
)

from .support import BUY, IOC, SELL, book_class, dones, kinds, limit, new_book, seed, stop

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]

LM, SLL = OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT


def buy_then_sell(qty: int = 20) -> PlaceOto:
    """User 5 bids 100 for ``qty``; once filled, offers it at 120."""
    return PlaceOto(limit(10, 5, BUY, 100, qty), (PlaceOrder(11, 5, SELL, LM, price=120,
                                                             qty=qty),))


def buy_then_bracket(qty: int = 20) -> PlaceOto:
    """User 5 bids 100; once filled, takes profit at 120 or stops the loss at 90."""
    return PlaceOto(limit(10, 5, BUY, 100, qty), (
        PlaceOrder(11, 5, SELL, LM, price=120, qty=qty),
        stop(12, 5, SELL, SLL, 90, price=85, qty=qty)))


def test_only_the_working_order_goes_on_the_book() -> None:
    book = new_book()
    events = book.apply(buy_then_sell())
    assert [(type(e).__name__, e.order_id) for e in events] == [  # type: ignore[union-attr]
        ("Accepted", 10)]
    assert [o.order_id for o in book.open_orders()] == [10]


def test_the_pending_order_is_placed_when_the_working_order_fills() -> None:
    book = new_book()
    seed(book, buy_then_sell())
    partly = book.apply(limit(20, 6, SELL, 100, 10))
    assert "Accepted" not in kinds(partly)[1:]  # half filled: the pending order waits
    events = book.apply(limit(21, 6, SELL, 100, 10))
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (10, DoneReason.FILLED), (21, DoneReason.FILLED)]
    assert (kinds(events)[-1], events[-1].order_id) == (  # type: ignore[union-attr]
        "Accepted", 11)
    assert [o.order_id for o in book.level_orders(SELL, 120)] == [11]


def test_a_pending_pair_is_placed_as_an_oco_when_the_working_order_fills() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20))
    events = book.apply(buy_then_bracket())  # fills at once, as a taker
    assert [(type(e).__name__, e.order_id) for e in events
            if isinstance(e, Accepted | OrderDone)][-3:] == [
        ("OrderDone", 10), ("Accepted", 11), ("Accepted", 12)]
    assert book.oco_pairs() == [(11, 12)]
    assert [s.order_id for s in book.stop_orders()] == [12]


@pytest.mark.parametrize(("ending", "reason"), [
    (CancelOrder(10, 5), DoneReason.CANCELED),
    (CancelOrder(11, 5), DoneReason.CANCELED),  # cancelling a pending order ends the list
    (CancelAll(5), DoneReason.CANCELED),
])
def test_cancelling_the_list_ends_the_pending_orders_too(ending: CancelOrder | CancelAll,
                                                         reason: DoneReason) -> None:
    book = new_book()
    seed(book, buy_then_bracket())
    events = book.apply(ending)
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (10, reason), (11, reason), (12, reason)]
    assert book.open_orders() == []
    assert book.snapshot().pending == ()


def test_a_working_order_that_expires_expires_its_pending_order() -> None:
    book = new_book()
    events = book.apply(PlaceOto(limit(10, 5, BUY, 100, 20, tif=IOC), (
        PlaceOrder(11, 5, SELL, LM, price=120, qty=20),)))
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (10, DoneReason.EXPIRED_IOC), (11, DoneReason.EXPIRED_IN_LIST)]


def test_the_working_order_cannot_be_amended_and_someone_else_cannot_cancel_it() -> None:
    book = new_book()
    seed(book, buy_then_sell())
    amended = book.apply(AmendOrder(10, 5, 10))
    assert [(e.order_id, e.reason) for e in amended if isinstance(e, Rejected)] == [
        (10, RejectReason.IN_ORDER_LIST)]
    stranger = book.apply(CancelOrder(11, 6))
    assert [(e.order_id, e.reason) for e in stranger if isinstance(e, Rejected)] == [
        (11, RejectReason.UNKNOWN_ORDER)]


@pytest.mark.parametrize("bad", [
    PlaceOto(limit(10, 5, BUY, 100, 20), ()),
    PlaceOto(limit(10, 5, BUY, 100, 20), (PlaceOrder(11, 6, SELL, LM, price=120, qty=20),)),
    PlaceOto(PlaceOrder(10, 5, BUY, OrderType.MARKET, qty=20),
             (PlaceOrder(11, 5, SELL, LM, price=120, qty=20),)),
    PlaceOto(limit(10, 5, BUY, 100, 20), (PlaceOrder(11, 5, SELL, LM, price=121, qty=20),)),
    PlaceOto(limit(10, 5, BUY, 100, 20), (PlaceOrder(11, 5, SELL, OrderType.MARKET,
                                                     quote_qty=500),)),
    PlaceOto(limit(10, 5, BUY, 100, 20), (  # not an OCO pair: two LIMIT_MAKERs
        PlaceOrder(11, 5, SELL, LM, price=120, qty=20),
        PlaceOrder(12, 5, SELL, LM, price=90, qty=20))),
])
def test_a_bad_list_is_refused_whole(bad: PlaceOto) -> None:
    book = new_book()
    events = book.apply(bad)
    assert kinds(events) == ["Rejected"] * (1 + len(bad.pending))
    assert book.open_orders() == []
    assert book.snapshot().pending == ()


def test_pending_orders_survive_a_snapshot() -> None:
    book = new_book()
    seed(book, buy_then_bracket())
    data = json.loads(json.dumps(book.snapshot().to_dict()))
    restored = book_class().restore(BookSnapshot.from_dict(data))
    assert restored.state_hash() == book.state_hash()
    fill = limit(20, 6, SELL, 100, 20)
    assert restored.apply(fill) == book.apply(fill)
    assert restored.oco_pairs() == [(11, 12)]


"""Cancel, cancel-all, amend down (keeps priority) and cancel-replace (loses it)."""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import CommandKind, DoneReason, OrderType, RejectReason
from matching_cluster.engine.commands import AmendOrder, CancelAll, CancelOrder, CancelReplace
from matching_cluster.engine.events import Accepted, Amended, OrderDone, Rejected

from .support import BUY, GTC, SELL, STP, dones, fills, kinds, limit, maker_only, new_book, seed

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]


def test_cancel_a_resting_order() -> None:
    book = new_book(limit(1, 7, BUY, 100, 30))
    assert book.apply(CancelOrder(1, 7)) == [
        OrderDone(2, 1, 7, BUY, DoneReason.CANCELED, 0, 0, 30)
    ]
    assert len(book) == 0
    assert book.depth() == ([], [])


def test_cancel_a_partially_filled_order_reports_what_traded() -> None:
    book = new_book(limit(1, 7, SELL, 100, 30))
    book.apply(limit(2, 8, BUY, 100, 10))
    (done,) = book.apply(CancelOrder(1, 7))
    assert done == OrderDone(done.seq, 1, 7, SELL, DoneReason.CANCELED, 10, 100, 20)


def test_cancel_unknown_or_finished_order_is_rejected() -> None:
    book = new_book(limit(1, 7, BUY, 100, 30))
    book.apply(CancelOrder(1, 7))
    assert book.apply(CancelOrder(1, 7)) == [
        Rejected(3, CommandKind.CANCEL, 1, 7, RejectReason.UNKNOWN_ORDER)
    ]
    assert book.apply(CancelOrder(99, 7))[0].reason is RejectReason.UNKNOWN_ORDER  # type: ignore[union-attr]


def test_nobody_cancels_someone_elses_order() -> None:
    book = new_book(limit(1, 7, BUY, 100, 30))
    assert book.apply(CancelOrder(1, 8)) == [
        Rejected(2, CommandKind.CANCEL, 1, 8, RejectReason.UNKNOWN_ORDER)
    ]
    assert book.order(1) is not None


def test_cancel_all_cancels_one_users_orders_oldest_first() -> None:
    book = new_book(limit(1, 7, BUY, 95, 10), limit(2, 8, BUY, 95, 10),
                    limit(3, 7, SELL, 110, 10), limit(4, 7, BUY, 100, 10))
    events = book.apply(CancelAll(7))
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (1, DoneReason.CANCELED), (3, DoneReason.CANCELED), (4, DoneReason.CANCELED),
    ]
    assert kinds(events) == ["OrderDone"] * 3
    assert [o.order_id for o in book.open_orders()] == [2]
    assert book.open_orders(7) == []


def test_cancel_all_without_open_orders_emits_nothing() -> None:
    book = new_book()
    assert book.apply(CancelAll(7)) == []
    seed(book, limit(1, 7, BUY, 95, 10))
    book.apply(CancelAll(7))
    assert book.apply(CancelAll(7)) == []


def test_amend_down_keeps_queue_priority() -> None:
    book = new_book(limit(1, 7, SELL, 100, 30), limit(2, 8, SELL, 100, 10))
    assert book.apply(AmendOrder(1, 7, 20)) == [Amended(3, 1, 7, SELL, 100, 30, 20, 20)]
    events = book.apply(limit(3, 9, BUY, 100, 20))
    assert fills(events) == [(1, 3, 100, 20)]
    assert book.depth() == ([], [(100, 10)])


def test_amend_after_a_partial_fill_reduces_what_is_left() -> None:
    book = new_book(limit(1, 7, SELL, 100, 50))
    book.apply(limit(2, 8, BUY, 100, 20))
    (amended,) = book.apply(AmendOrder(1, 7, 40))
    assert amended == Amended(amended.seq, 1, 7, SELL, 100, 50, 40, 20)
    order = book.order(1)
    assert order is not None
    assert (order.qty, order.remaining, order.filled_qty) == (40, 20, 20)


@pytest.mark.parametrize("new_qty", [20, 10])
def test_amend_to_or_below_what_traded_fills_the_order(new_qty: int) -> None:
    book = new_book(limit(1, 7, SELL, 100, 50))
    book.apply(limit(2, 8, BUY, 100, 20))
    events = book.apply(AmendOrder(1, 7, new_qty))
    seq = events[0].seq
    assert events == [
        Amended(seq, 1, 7, SELL, 100, 50, 20, 0),
        OrderDone(seq + 1, 1, 7, SELL, DoneReason.FILLED, 20, 200, 0),
    ]
    assert len(book) == 0


@pytest.mark.parametrize(
    ("order_id", "user_id", "new_qty", "reason"),
    [
        (1, 7, 30, RejectReason.AMEND_NOT_REDUCING),
        (1, 7, 40, RejectReason.AMEND_NOT_REDUCING),
        (1, 7, 0, RejectReason.INVALID_QUANTITY),
        (1, 7, 15, RejectReason.QTY_OFF_LOT),
        (1, 8, 10, RejectReason.UNKNOWN_ORDER),
        (2, 7, 10, RejectReason.UNKNOWN_ORDER),
    ],
)
def test_amend_rejections(order_id: int, user_id: int, new_qty: int,
                          reason: RejectReason) -> None:
    book = new_book(limit(1, 7, SELL, 100, 30))
    before = book.snapshot().orders
    assert book.apply(AmendOrder(order_id, user_id, new_qty)) == [
        Rejected(2, CommandKind.AMEND, order_id, user_id, reason)
    ]
    assert book.snapshot().orders == before


def test_cancel_replace_loses_priority() -> None:
    book = new_book(limit(1, 7, SELL, 100, 10), limit(2, 8, SELL, 100, 10))
    events = book.apply(CancelReplace(1, 7, 3, 100, 10))
    assert events == [
        OrderDone(3, 1, 7, SELL, DoneReason.CANCELED, 0, 0, 10),
        Accepted(4, 3, 7, SELL, OrderType.LIMIT, GTC, 100, 10, 0),
    ]
    assert fills(book.apply(limit(4, 9, BUY, 100, 10))) == [(2, 4, 100, 10)]


def test_cancel_replace_to_a_crossing_price_trades() -> None:
    book = new_book(limit(1, 7, BUY, 95, 20), limit(2, 8, SELL, 100, 10))
    events = book.apply(CancelReplace(1, 7, 3, 100, 20))
    assert kinds(events) == ["OrderDone", "Accepted", "Trade", "OrderDone"]
    assert fills(events) == [(2, 3, 100, 10)]
    assert book.depth() == ([(100, 10)], [])


def test_cancel_replace_of_a_partially_filled_order() -> None:
    book = new_book(limit(1, 7, BUY, 100, 30))
    book.apply(limit(2, 8, SELL, 100, 10))
    events = book.apply(CancelReplace(1, 7, 3, 95, 40))
    assert dones(events)[0] == OrderDone(events[0].seq, 1, 7, BUY, DoneReason.CANCELED,
                                         10, 100, 20)
    new = book.order(3)
    assert new is not None
    assert (new.price, new.qty, new.remaining, new.filled_quote) == (95, 40, 40, 0)


def test_cancel_replace_keeps_type_and_stp_mode() -> None:
    book = new_book(
        limit(1, 7, SELL, 100, 10),
        limit(2, 7, BUY, 90, 10, stp=STP.EXPIRE_TAKER),
        maker_only(3, 8, BUY, 90, 10),
    )
    events = book.apply(CancelReplace(2, 7, 4, 100, 10))
    assert dones(events)[-1] == OrderDone(events[-1].seq, 4, 7, BUY, DoneReason.EXPIRED_STP,
                                          0, 0, 10)
    events = book.apply(CancelReplace(3, 8, 5, 100, 10))
    assert events[1] == Accepted(events[1].seq, 5, 8, BUY, OrderType.LIMIT_MAKER, GTC, 100, 10,
                                 0)
    assert dones(events)[-1].reason is DoneReason.REJECTED_POST_ONLY


@pytest.mark.parametrize(
    ("cmd", "reason"),
    [
        (CancelReplace(9, 7, 3, 100, 10), RejectReason.UNKNOWN_ORDER),
        (CancelReplace(1, 8, 3, 100, 10), RejectReason.UNKNOWN_ORDER),
        (CancelReplace(1, 7, 2, 100, 10), RejectReason.DUPLICATE_ORDER_ID),
        (CancelReplace(1, 7, 1, 100, 10), RejectReason.DUPLICATE_ORDER_ID),
        (CancelReplace(1, 7, 3, 101, 10), RejectReason.PRICE_OFF_TICK),
        (CancelReplace(1, 7, 3, 100, 0), RejectReason.INVALID_QUANTITY),
    ],
)
def test_cancel_replace_rejections_leave_the_old_order(cmd: CancelReplace,
                                                       reason: RejectReason) -> None:
    book = new_book(limit(1, 7, SELL, 100, 10), limit(2, 8, SELL, 105, 10))
    before = book.snapshot().orders
    assert book.apply(cmd) == [
        Rejected(3, CommandKind.CANCEL_REPLACE, cmd.new_order_id, cmd.user_id, reason)
    ]
    assert book.snapshot().orders == before

"""Self-trade prevention: the taker's mode decides (Binance semantics)."""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import DoneReason, OrderStatus
from matching_cluster.engine import Event, OrderBook, OrderDone, PreventedMatch, Trade

from .support import BUY, FOK, SELL, STP, dones, fills, kinds, limit, market, new_book

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]

ME, OTHER = 1, 2


def prevented(events: list[Event]) -> list[PreventedMatch]:
    return [e for e in events if isinstance(e, PreventedMatch)]


def book_with_own_order_first() -> OrderBook:
    return new_book(
        limit(1, ME, SELL, 100, 10),
        limit(2, OTHER, SELL, 100, 10),
        limit(3, ME, SELL, 105, 10),
    )


def test_none_lets_a_user_trade_with_himself() -> None:
    book = book_with_own_order_first()
    events = book.apply(limit(9, ME, BUY, 105, 30, stp=STP.NONE))
    assert fills(events) == [(1, 9, 100, 10), (2, 9, 100, 10), (3, 9, 105, 10)]
    first = next(e for e in events if isinstance(e, Trade))
    assert first.maker_user_id == first.taker_user_id == ME


def test_expire_taker_expires_the_incoming_order_at_its_own_order() -> None:
    book = book_with_own_order_first()
    before = book.depth()
    events = book.apply(limit(9, ME, BUY, 105, 30, stp=STP.EXPIRE_TAKER))
    assert kinds(events) == ["Accepted", "PreventedMatch", "OrderDone"]
    assert prevented(events) == [PreventedMatch(5, 9, 1, ME, STP.EXPIRE_TAKER, 100, 10)]
    assert dones(events)[0] == OrderDone(6, 9, ME, BUY, DoneReason.EXPIRED_STP, 0, 0, 30)
    assert book.depth() == before


def test_expire_taker_keeps_what_traded_before_the_self_match() -> None:
    book = new_book(limit(1, OTHER, SELL, 100, 10), limit(2, ME, SELL, 100, 10))
    events = book.apply(limit(9, ME, BUY, 100, 20, stp=STP.EXPIRE_TAKER))
    assert fills(events) == [(1, 9, 100, 10)]
    assert dones(events)[-1] == OrderDone(events[-1].seq, 9, ME, BUY, DoneReason.EXPIRED_STP,
                                          10, 100, 10)
    assert [o.order_id for o in book.open_orders()] == [2]


def test_expire_maker_removes_own_resting_orders_and_goes_on() -> None:
    book = book_with_own_order_first()
    events = book.apply(limit(9, ME, BUY, 105, 20, stp=STP.EXPIRE_MAKER))
    assert kinds(events) == ["Accepted", "PreventedMatch", "OrderDone", "Trade", "OrderDone",
                             "PreventedMatch", "OrderDone"]
    assert [(p.maker_order_id, p.mode, p.price, p.maker_prevented_qty)
            for p in prevented(events)] == [(1, STP.EXPIRE_MAKER, 100, 10),
                                            (3, STP.EXPIRE_MAKER, 105, 10)]
    assert [(d.order_id, d.reason, d.remaining_qty) for d in dones(events)] == [
        (1, DoneReason.EXPIRED_STP, 10),
        (2, DoneReason.FILLED, 0),
        (3, DoneReason.EXPIRED_STP, 10),
    ]
    assert fills(events) == [(2, 9, 100, 10)]
    # nothing left to take: the rest of the GTC taker rests
    rest = book.order(9)
    assert rest is not None
    assert rest.remaining == 10
    assert book.depth() == ([(105, 10)], [])


def test_expire_both_expires_the_maker_and_the_taker() -> None:
    book = book_with_own_order_first()
    events = book.apply(limit(9, ME, BUY, 105, 30, stp=STP.EXPIRE_BOTH))
    assert kinds(events) == ["Accepted", "PreventedMatch", "OrderDone", "OrderDone"]
    assert prevented(events)[0] == PreventedMatch(5, 9, 1, ME, STP.EXPIRE_BOTH, 100, 10)
    assert [(d.order_id, d.reason) for d in dones(events)] == [
        (1, DoneReason.EXPIRED_STP),
        (9, DoneReason.EXPIRED_STP),
    ]
    assert fills(events) == []
    assert [o.order_id for o in book.open_orders()] == [2, 3]


def test_makers_mode_does_not_matter() -> None:
    book = new_book(limit(1, ME, SELL, 100, 10, stp=STP.EXPIRE_BOTH))
    events = book.apply(limit(9, ME, BUY, 100, 10))
    assert fills(events) == [(1, 9, 100, 10)]
    assert prevented(events) == []


def test_other_users_are_not_affected() -> None:
    book = new_book(limit(1, OTHER, SELL, 100, 10))
    events = book.apply(limit(9, ME, BUY, 100, 10, stp=STP.EXPIRE_BOTH))
    assert fills(events) == [(1, 9, 100, 10)]


def test_fok_counts_liquidity_behind_makers_that_would_expire() -> None:
    book = book_with_own_order_first()
    events = book.apply(limit(9, ME, BUY, 100, 10, tif=FOK, stp=STP.EXPIRE_MAKER))
    assert fills(events) == [(2, 9, 100, 10)]
    assert dones(events)[0].order_id == 1
    assert dones(events)[-1].reason is DoneReason.FILLED


def test_fok_that_would_hit_its_own_order_with_expire_taker_does_nothing() -> None:
    book = book_with_own_order_first()
    before = book.depth()
    events = book.apply(limit(9, ME, BUY, 105, 10, tif=FOK, stp=STP.EXPIRE_TAKER))
    assert kinds(events) == ["Accepted", "OrderDone"]  # FOK expires before any match
    assert dones(events)[0].reason is DoneReason.EXPIRED_FOK
    assert book.depth() == before


def test_market_order_expired_by_stp() -> None:
    book = book_with_own_order_first()
    events = book.apply(market(9, ME, BUY, qty=30, stp=STP.EXPIRE_TAKER))
    assert prevented(events) == [PreventedMatch(5, 9, 1, ME, STP.EXPIRE_TAKER, 100, 10)]
    assert dones(events)[-1].reason is DoneReason.EXPIRED_STP
    assert DoneReason.EXPIRED_STP.status is OrderStatus.EXPIRED_IN_MATCH


def test_prevented_quantity_is_what_the_maker_has_left() -> None:
    book = new_book(limit(1, ME, SELL, 100, 30))
    book.apply(limit(2, OTHER, BUY, 100, 10))
    events = book.apply(limit(9, ME, BUY, 100, 10, stp=STP.EXPIRE_MAKER))
    assert prevented(events)[0].maker_prevented_qty == 20

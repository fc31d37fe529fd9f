"""LIMIT GTC / IOC / FOK and LIMIT_MAKER, with exact expected trades."""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import DoneReason, OrderType
from matching_cluster.engine import Accepted, OrderDone, Trade

from .support import BUY, FOK, GTC, IOC, SELL, dones, fills, kinds, limit, maker_only, new_book

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]


def test_gtc_that_does_not_cross_rests_and_is_only_accepted() -> None:
    book = new_book()
    events = book.apply(limit(1, 7, BUY, 100, 30))
    assert events == [Accepted(1, 1, 7, BUY, OrderType.LIMIT, GTC, 100, 30, 0)]
    assert book.best_bid() == 100
    assert book.best_ask() is None
    assert book.depth() == ([(100, 30)], [])


def test_gtc_full_fill_at_maker_price_with_exact_events() -> None:
    book = new_book(limit(1, 7, SELL, 100, 30))
    events = book.apply(limit(2, 8, BUY, 105, 30))
    assert events == [
        Accepted(2, 2, 8, BUY, OrderType.LIMIT, GTC, 105, 30, 0),
        # price improvement: the trade happens at the maker's 100, not the taker's 105
        Trade(3, 1, 1, 7, 2, 8, False, 100, 30, 300, 1, 1),
        OrderDone(4, 1, 7, SELL, DoneReason.FILLED, 30, 300, 0),
        OrderDone(5, 2, 8, BUY, DoneReason.FILLED, 30, 300, 0),
    ]
    assert len(book) == 0


def test_gtc_partial_fill_rests_the_remainder() -> None:
    book = new_book(limit(1, 7, SELL, 100, 20))
    events = book.apply(limit(2, 8, BUY, 100, 50))
    assert kinds(events) == ["Accepted", "Trade", "OrderDone"]
    assert fills(events) == [(1, 2, 100, 20)]
    assert dones(events)[0].order_id == 1
    rest = book.order(2)
    assert rest is not None
    assert (rest.qty, rest.remaining, rest.filled_qty, rest.filled_quote) == (50, 30, 20, 200)
    assert book.depth() == ([(100, 30)], [])


def test_sweep_across_levels_then_rest() -> None:
    book = new_book(
        limit(1, 1, SELL, 110, 10),
        limit(2, 2, SELL, 100, 10),
        limit(3, 3, SELL, 105, 10),
        limit(4, 4, SELL, 100, 20),
        limit(5, 5, SELL, 115, 10),
    )
    events = book.apply(limit(9, 9, BUY, 110, 60))
    assert fills(events) == [(2, 9, 100, 10), (4, 9, 100, 20), (3, 9, 105, 10), (1, 9, 110, 10)]
    assert [t.quote_qty for t in events if isinstance(t, Trade)] == [100, 200, 105, 110]
    assert [d.order_id for d in dones(events)] == [2, 4, 3, 1]
    assert book.depth() == ([(110, 10)], [(115, 10)])
    rest = book.order(9)
    assert rest is not None
    assert (rest.remaining, rest.filled_quote) == (10, 515)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_sell_taker_hits_bids_best_first() -> None:
    book = new_book(limit(1, 1, BUY, 95, 10), limit(2, 2, BUY, 100, 10), limit(3, 3, BUY, 100, 10))
    events = book.apply(limit(4, 4, SELL, 95, 30))
    assert fills(events) == [(2, 4, 100, 10), (3, 4, 100, 10), (1, 4, 95, 10)]
    assert all(t.buyer_is_maker for t in events if isinstance(t, Trade))
    assert dones(events)[-1] == OrderDone(dones(events)[-1].seq, 4, 4, SELL,
                                          DoneReason.FILLED, 30, 295, 0)


def test_limit_that_does_not_reach_the_price_does_not_trade() -> None:
    book = new_book(limit(1, 1, SELL, 105, 10))
    assert kinds(book.apply(limit(2, 2, BUY, 100, 10))) == ["Accepted"]
    assert book.depth() == ([(100, 10)], [(105, 10)])


def test_ioc_partial_fill_expires_the_rest() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20), limit(2, 1, SELL, 110, 20))
    events = book.apply(limit(3, 2, BUY, 105, 50, tif=IOC))
    assert fills(events) == [(1, 3, 100, 20)]
    assert dones(events)[-1] == OrderDone(events[-1].seq, 3, 2, BUY, DoneReason.EXPIRED_IOC,
                                          20, 200, 30)
    assert book.order(3) is None
    assert book.depth() == ([], [(110, 20)])


def test_ioc_without_liquidity_expires_untouched() -> None:
    book = new_book()
    events = book.apply(limit(1, 1, BUY, 100, 10, tif=IOC))
    assert kinds(events) == ["Accepted", "OrderDone"]
    assert dones(events)[0].reason is DoneReason.EXPIRED_IOC
    assert (dones(events)[0].filled_qty, dones(events)[0].remaining_qty) == (0, 10)


def test_ioc_fully_filled_is_filled() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20))
    events = book.apply(limit(2, 2, BUY, 100, 20, tif=IOC))
    assert dones(events)[-1].reason is DoneReason.FILLED


def test_fok_fills_completely_across_levels() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20), limit(2, 1, SELL, 105, 20))
    events = book.apply(limit(3, 2, BUY, 105, 40, tif=FOK))
    assert fills(events) == [(1, 3, 100, 20), (2, 3, 105, 20)]
    assert dones(events)[-1].reason is DoneReason.FILLED


def test_fok_that_cannot_fill_completely_does_nothing() -> None:
    book = new_book(limit(1, 1, SELL, 100, 20), limit(2, 1, SELL, 110, 20))
    before = book.state_hash()
    events = book.apply(limit(3, 2, BUY, 105, 30, tif=FOK))
    assert kinds(events) == ["Accepted", "OrderDone"]
    assert dones(events)[0] == OrderDone(events[1].seq, 3, 2, BUY, DoneReason.EXPIRED_FOK,
                                         0, 0, 30)
    # only the sequence number moved on
    assert book.depth() == ([], [(100, 20), (110, 20)])
    assert book.state_hash() != before
    assert [o.remaining for o in book.open_orders()] == [20, 20]


def test_fok_not_crossing_at_all_expires() -> None:
    book = new_book(limit(1, 1, SELL, 110, 20))
    events = book.apply(limit(2, 2, BUY, 100, 10, tif=FOK))
    assert dones(events)[0].reason is DoneReason.EXPIRED_FOK
    assert book.depth() == ([], [(110, 20)])


def test_fok_exactly_matching_liquidity_fills() -> None:
    book = new_book(limit(1, 1, BUY, 100, 20), limit(2, 1, BUY, 95, 20))
    events = book.apply(limit(3, 2, SELL, 95, 40, tif=FOK))
    assert fills(events) == [(1, 3, 100, 20), (2, 3, 95, 20)]
    assert len(book) == 0


def test_limit_maker_rests_when_it_would_not_take() -> None:
    book = new_book(limit(1, 1, SELL, 105, 10))
    events = book.apply(maker_only(2, 2, BUY, 100, 10))
    assert events == [Accepted(2, 2, 2, BUY, OrderType.LIMIT_MAKER, GTC, 100, 10, 0)]
    assert book.best_bid() == 100


def test_limit_maker_that_would_take_is_rejected_post_only() -> None:
    book = new_book(limit(1, 1, SELL, 100, 10))
    events = book.apply(maker_only(2, 2, BUY, 100, 10))
    assert events == [
        Accepted(2, 2, 2, BUY, OrderType.LIMIT_MAKER, GTC, 100, 10, 0),
        OrderDone(3, 2, 2, BUY, DoneReason.REJECTED_POST_ONLY, 0, 0, 10),
    ]
    assert DoneReason.REJECTED_POST_ONLY.status == "REJECTED"
    assert book.depth() == ([], [(100, 10)])


def test_resting_limit_maker_trades_as_a_maker() -> None:
    book = new_book(maker_only(1, 1, SELL, 100, 10))
    events = book.apply(limit(2, 2, BUY, 100, 10))
    assert fills(events) == [(1, 2, 100, 10)]

"""Snapshot and restore give a book that behaves identically; the state hash compares."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.domain.orders import OrderType
from matching_cluster.engine import (
    BookSnapshot,
    OrderBook,
    PreventedMatch,
    RestingOrder,
    StopOrder,
    encode_events,
)
from matching_cluster.engine.commands import AmendOrder, CancelReplace, PlaceOco, PlaceOrder

from .support import BUY, SELL, STP, book_class, limit, maker_only, market, new_book, seed, stop

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]


def busy_book() -> OrderBook:
    book = new_book(
        limit(1, 1, SELL, 100, 30),
        limit(2, 2, SELL, 100, 20),
        limit(3, 3, SELL, 105, 40, stp=STP.EXPIRE_MAKER),
        maker_only(4, 1, BUY, 95, 10),
        limit(5, 2, BUY, 95, 30),
        limit(6, 3, BUY, 90, 10),
    )
    book.apply(limit(7, 4, BUY, 100, 10))  # partially fills order 1
    book.apply(AmendOrder(2, 2, 10))  # keeps priority behind 1
    book.apply(CancelReplace(6, 3, 8, 95, 20))  # now behind 4 and 5
    seed(book,  # waiting for their stop prices (the last trade was at 100)
         stop(9, 5, SELL, OrderType.STOP_LOSS_LIMIT, 95, price=90, qty=20),
         stop(10, 6, BUY, OrderType.TAKE_PROFIT, 90, qty=10),
         stop(11, 6, BUY, OrderType.STOP_LOSS, 105, quote_qty=300, stp=STP.EXPIRE_BOTH),
         PlaceOco(PlaceOrder(12, 7, SELL, OrderType.LIMIT_MAKER, price=115, qty=10),
                  stop(13, 7, SELL, OrderType.STOP_LOSS_LIMIT, 95, price=90, qty=10)))
    return book


def follow_up() -> list[PlaceOrder]:
    return [
        market(20, 9, BUY, qty=60),
        limit(21, 3, SELL, 90, 60, stp=STP.EXPIRE_BOTH),
        limit(22, 1, SELL, 95, 10),
    ]


def test_restored_book_has_the_same_state_and_hash() -> None:
    book = busy_book()
    restored = book_class().restore(book.snapshot())
    assert restored.snapshot() == book.snapshot()
    assert restored.stop_orders() == book.stop_orders() != []
    assert restored.last_price == book.last_price == 100
    assert restored.oco_pairs() == book.oco_pairs() == [(12, 13)]
    assert restored.state_hash() == book.state_hash()
    assert restored.depth() == book.depth()
    assert restored.next_seq == book.next_seq
    assert restored.next_trade_id == book.next_trade_id


def test_restored_book_produces_identical_events() -> None:
    book = busy_book()
    restored = book_class().restore(book.snapshot())
    events = book.apply_batch(follow_up())
    assert encode_events(restored.apply_batch(follow_up())) == encode_events(events)
    assert any(isinstance(e, PreventedMatch) for e in events)
    assert restored.state_hash() == book.state_hash()


def test_snapshot_survives_json() -> None:
    book = busy_book()
    data = json.loads(json.dumps(book.snapshot().to_dict()))
    restored = book_class().restore(BookSnapshot.from_dict(data))
    assert restored.state_hash() == book.state_hash()
    events = book.apply_batch(follow_up())
    assert encode_events(restored.apply_batch(follow_up())) == encode_events(events)
    assert any(isinstance(e, PreventedMatch) for e in events)


def test_queue_order_is_part_of_the_state() -> None:
    a, b = new_book(), new_book()
    seed(a, limit(1, 1, SELL, 100, 10), limit(2, 2, SELL, 100, 10))
    seed(b, limit(2, 2, SELL, 100, 10), limit(1, 1, SELL, 100, 10))
    assert a.depth() == b.depth()
    assert a.state_hash() != b.state_hash()


def test_sequence_numbers_are_part_of_the_state() -> None:
    a, b = new_book(), new_book()
    seed(a, limit(1, 1, SELL, 100, 10))
    seed(b, limit(1, 1, SELL, 100, 10))
    b.apply(limit(2, 1, SELL, 101, 10))  # rejected, but it took a sequence number
    assert a.snapshot().orders == b.snapshot().orders
    assert a.state_hash() != b.state_hash()


def test_restore_refuses_an_inconsistent_snapshot() -> None:
    snap = busy_book().snapshot()
    bad_qty = snap.orders[0]._replace(remaining=snap.orders[0].qty + 10)
    with pytest.raises(ValueError, match="inconsistent"):
        book_class().restore(BookSnapshot(snap.spec, snap.next_seq, snap.next_trade_id,
                                       (bad_qty, *snap.orders[1:])))
    crossing = snap.orders[0]._replace(order_id=99, side=BUY, price=200)
    with pytest.raises(ValueError, match="crossed"):
        book_class().restore(BookSnapshot(snap.spec, snap.next_seq, snap.next_trade_id,
                                       (*snap.orders, crossing)))
    clash = snap.stops[0]._replace(order_id=snap.orders[0].order_id)
    with pytest.raises(ValueError, match="inconsistent"):
        book_class().restore(replace(snap, stops=(clash,)))
    with pytest.raises(ValueError, match="inconsistent"):
        book_class().restore(replace(snap, oco_pairs=((12, 99),)))
    with pytest.raises(ValueError, match="version"):
        BookSnapshot.from_dict({**snap.to_dict(), "version": 0})


def test_level_orders_show_queue_priority() -> None:
    book = busy_book()
    assert [o.order_id for o in book.level_orders(SELL, 100)] == [1, 2]
    assert [o.order_id for o in book.level_orders(BUY, 95)] == [4, 5, 8]
    assert book.level_orders(BUY, 50) == []


def test_restore_accepts_plain_enum_names() -> None:
    book = busy_book()
    snap = book.snapshot()
    plain: Any = tuple(
        RestingOrder(o.order_id, o.user_id, o.side.value, o.order_type.value,  # type: ignore[arg-type]
                     o.stp.value, o.price, o.qty, o.remaining, o.filled_quote)  # type: ignore[arg-type]
        for o in snap.orders
    )
    plain_stops: Any = tuple(StopOrder(*s[:2], s.side.value, s.order_type.value,  # type: ignore[arg-type]
                                       s.stp.value, s.tif.value, *s[6:])  # type: ignore[arg-type]
                             for s in snap.stops)
    restored = book_class().restore(replace(snap, orders=plain, stops=plain_stops))
    assert restored.state_hash() == book.state_hash()
    events = book.apply_batch(follow_up())
    assert encode_events(restored.apply_batch(follow_up())) == encode_events(events)
    assert any(isinstance(e, PreventedMatch) for e in events)

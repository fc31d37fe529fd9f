"""Bad input comes back as Rejected events; the engine never raises and keeps going."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.orders import CommandKind, MarketSpec, OrderType, RejectReason
from matching_cluster.engine import Accepted, PlaceOrder, Rejected

from .support import BUY, GTC, SELL, SPEC, STP, kinds, limit, new_book

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]


@pytest.mark.parametrize(
    ("price", "qty", "reason"),
    [
        (0, 10, RejectReason.INVALID_PRICE),
        (-5, 10, RejectReason.INVALID_PRICE),
        (100.0, 10, RejectReason.INVALID_PRICE),
        ("100", 10, RejectReason.INVALID_PRICE),
        (101, 10, RejectReason.PRICE_OFF_TICK),
        (100, 0, RejectReason.INVALID_QUANTITY),
        (100, -10, RejectReason.INVALID_QUANTITY),
        (100, 10.0, RejectReason.INVALID_QUANTITY),
        (100, True, RejectReason.INVALID_QUANTITY),
        (100, 15, RejectReason.QTY_OFF_LOT),
        (100, 1_010, RejectReason.QTY_TOO_LARGE),
        (45, 10, RejectReason.NOTIONAL_TOO_SMALL),
    ],
)
def test_limit_filters(price: Any, qty: Any, reason: RejectReason) -> None:
    book = new_book()
    assert book.apply(limit(1, 7, BUY, price, qty)) == [
        Rejected(1, CommandKind.PLACE, 1, 7, reason)
    ]
    assert len(book) == 0


def test_min_qty_above_one_lot() -> None:
    spec = MarketSpec(symbol="X", base_unit=10, tick_size=5, lot_size=10, min_qty=30,
                      max_qty=100)
    book = new_book(spec=spec)
    assert book.apply(limit(1, 7, BUY, 100, 20))[0].reason is RejectReason.QTY_TOO_SMALL  # type: ignore[union-attr]
    assert kinds(book.apply(limit(2, 7, BUY, 100, 30))) == ["Accepted"]


def test_notional_at_the_minimum_is_accepted() -> None:
    book = new_book()
    assert kinds(book.apply(limit(1, 7, BUY, 50, 10))) == ["Accepted"]  # 50 * 10 / 10 = 50


@pytest.mark.parametrize(
    "changes",
    [
        {"side": "BUY"},
        {"tif": "GTC"},
        {"stp": "NONE"},
        {"order_type": "LIMIT"},
        {"quote_qty": 100},
        {"spend_cap": 100},
    ],
)
def test_malformed_limit_commands_are_invalid(changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "order_id": 1, "user_id": 7, "side": BUY, "order_type": OrderType.LIMIT,
        "price": 100, "qty": 10, "tif": GTC, "stp": STP.NONE,
    }
    fields.update(changes)
    book = new_book()
    assert book.apply(PlaceOrder(**fields)) == [
        Rejected(1, CommandKind.PLACE, 1, 7, RejectReason.INVALID_ORDER)
    ]


def test_duplicate_id_of_a_resting_order_is_rejected() -> None:
    book = new_book(limit(1, 7, BUY, 100, 10))
    assert book.apply(limit(1, 8, SELL, 200, 10)) == [
        Rejected(2, CommandKind.PLACE, 1, 8, RejectReason.DUPLICATE_ORDER_ID)
    ]


def test_id_of_a_finished_order_is_not_remembered() -> None:
    # Id uniqueness over time is the caller's job (ids come from the orders table).
    book = new_book(limit(1, 7, BUY, 100, 10))
    book.apply(limit(2, 8, SELL, 100, 10))
    assert kinds(book.apply(limit(1, 7, BUY, 100, 10))) == ["Accepted"]


def test_the_engine_keeps_going_after_rejections() -> None:
    book = new_book()
    events = book.apply_batch([
        limit(1, 7, BUY, 101, 10),
        limit(2, 7, BUY, 100, 0),
        limit(3, 7, BUY, 100, 10),
        limit(4, 8, SELL, 100, 10),
    ])
    assert kinds(events) == ["Rejected", "Rejected", "Accepted", "Accepted", "Trade",
                             "OrderDone", "OrderDone"]
    assert [e.seq for e in events] == list(range(1, 8))
    assert events[2] == Accepted(3, 3, 7, BUY, OrderType.LIMIT, GTC, 100, 10, 0)


def test_reject_reasons_map_to_binance_errors() -> None:
    assert RejectReason.UNKNOWN_ORDER.binance_code == -2011
    assert RejectReason.PRICE_OFF_TICK.binance_msg == "Filter failure: PRICE_FILTER"
    assert RejectReason.QTY_OFF_LOT.binance_msg == "Filter failure: LOT_SIZE"
    assert all(r.binance_code < 0 and r.binance_msg for r in RejectReason)


def test_spec_is_usable_as_given() -> None:
    assert SPEC.notional(100, 30) == 300


def test_a_non_command_is_a_programming_error() -> None:
    book = new_book()
    with pytest.raises(TypeError, match="not an engine command"):
        book.apply("cancel everything")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an engine command"):
        book.apply_batch([None])  # type: ignore[list-item]

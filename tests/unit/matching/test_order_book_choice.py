"""The matcher's order book: chosen by MATCHER_ORDER_BOOK, and never crashed by a
command whose ids or amounts lie beyond the compiled book's int64."""

from __future__ import annotations

import pytest

from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind, OrderType, RejectReason, Side
from matching_cluster.engine import OrderBook, PlaceOrder, Rejected, encode_events
from matching_cluster.service import books
from matching_cluster.service.books import OrderBookKind, order_book_class
from matching_cluster.service.consumer import MatcherConfig
from matching_cluster.service.engine_commands import engine_command, place_order
from tests.unit.engine.support import SPEC

BEYOND = 2**63
KINDS: tuple[OrderBookKind, ...] = ("compiled", "python")


def test_compiled_book_is_the_default_and_the_python_one_can_be_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MatcherConfig().order_book == "compiled"
    assert order_book_class("compiled").__module__ == "matching_cluster_engine_rs"
    monkeypatch.setenv("MATCHER_ORDER_BOOK", "python")
    assert order_book_class(MatcherConfig().order_book) is OrderBook


def test_a_missing_compiled_book_fails_at_start_saying_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(books, "COMPILED_BOOK_MODULE", "matching_cluster_engine_rs_absent")
    with pytest.raises(RuntimeError, match=r"scripts/install\.sh"):
        order_book_class("compiled")


def place(*, side: Side = Side.BUY, order_id: int = 7, user_id: int = 3, price: int = 100,
          qty: int = 20, quote_qty: int = 0) -> OrderCommand:
    return OrderCommand(command_id=1, kind=CommandKind.PLACE, market=SPEC.symbol, side=side,
                        order_id=order_id, user_id=user_id, price=price, qty=qty,
                        quote_qty=quote_qty)


def stop_place(stop_price: int) -> OrderCommand:
    return OrderCommand(command_id=1, kind=CommandKind.PLACE, market=SPEC.symbol, user_id=3,
                        order_id=7, side=Side.BUY, order_type=OrderType.STOP_LOSS_LIMIT,
                        price=100, qty=20, stop_price=stop_price)


def test_the_compiled_book_alone_raises_on_an_amount_beyond_int64() -> None:
    """Why the matcher bounds amounts: the API lets a price up to the ledger's 38 digits
    through, which the Python book accepts and the compiled one cannot hold."""
    command = place_order(place(price=10**20))
    assert [type(e) for e in OrderBook(SPEC).apply(command)] != [Rejected]
    # OverflowError for most fields; for this price, an AssertionError of its own checks.
    with pytest.raises((OverflowError, AssertionError)):
        order_book_class("compiled")(SPEC).apply(command)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("command", "reason"), [
    (place(price=10**20), RejectReason.INVALID_PRICE),
    (place(qty=BEYOND), RejectReason.INVALID_QUANTITY),
    (place(quote_qty=10**30), RejectReason.INVALID_ORDER),
    (place(price=-BEYOND - 1), RejectReason.INVALID_PRICE),
    (stop_place(10**25), RejectReason.INVALID_PRICE),
], ids=["price", "qty", "quote_qty", "negative_price", "stop_price"])
def test_an_amount_beyond_int64_is_rejected_by_either_book(
    kind: OrderBookKind, command: OrderCommand, reason: RejectReason,
) -> None:
    book = order_book_class(kind)(SPEC)
    engine = engine_command(command)
    assert isinstance(engine, PlaceOrder)
    (event,) = book.apply(engine)
    assert isinstance(event, Rejected)
    assert (event.order_id, event.user_id, event.reason) == (7, 3, reason)


def test_both_books_answer_bounded_commands_alike() -> None:
    """Amend, cancel-replace and OCO lists with amounts beyond int64 too: the same
    events from either book, and no exception."""
    resting = place(price=100, qty=20)
    commands = [
        resting,
        OrderCommand(command_id=2, kind=CommandKind.AMEND, market=SPEC.symbol, user_id=3,
                     order_id=7, new_qty=BEYOND),
        OrderCommand(command_id=3, kind=CommandKind.CANCEL_REPLACE, market=SPEC.symbol,
                     user_id=3, order_id=7, new_order_id=8, price=BEYOND, qty=20),
        OrderCommand(command_id=4, kind=CommandKind.PLACE_OCO, market=SPEC.symbol, user_id=3,
                     legs=(place(order_id=9, price=10**21, side=Side.SELL),
                           place(order_id=10, price=50))),
    ]
    outcomes = []
    for kind in KINDS:
        book = order_book_class(kind)(SPEC)
        events = [book.apply(c) for c in (engine_command(c) for c in commands) if c]
        outcomes.append([encode_events(e) for e in events])
    assert outcomes[0] == outcomes[1]
    assert all(outcomes[0])


def test_a_command_with_an_id_beyond_int64_is_skipped() -> None:
    assert engine_command(place(order_id=BEYOND)) is None
    assert engine_command(place(user_id=-BEYOND - 1)) is None

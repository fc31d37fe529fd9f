"""The compiled book (matching_cluster/engine_rs) against the Python book, the reference.

Seeded random streams of every command the compiled book covers (limit GTC/IOC/FOK,
LIMIT_MAKER, MARKET by quantity and by quote amount with and without a spend cap, the
four stop order types, OCO and OTO(CO) lists, cancel, cancel-all, amend, cancel-replace,
every STP mode, and invalid input of each kind) go to both books: each command's events
must encode to the same bytes, and the books must agree on every query and on
``state_hash`` along the way.
"""

from __future__ import annotations

import random

import pytest
from matching_cluster_engine_rs import OrderBook as CompiledBook

from chalicelib.domain.orders import MarketSpec, OrderType, SelfTradePrevention, Side, TimeInForce
from matching_cluster.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    OrderBook,
    PlaceOrder,
    RestingOrder,
    StopOrder,
    encode_events,
)

from .support import SPEC
from .test_determinism import seeded_stream

pytestmark = pytest.mark.unit

# Big fee rates so that rounding shows; a minimum above one lot and a minimum notional.
ODD_SPEC = MarketSpec(
    symbol="PROP", base_unit=10, tick_size=5, lot_size=10, min_qty=20, max_qty=300,
    min_notional=60, maker_fee_ppm=30_000, taker_fee_ppm=70_000,
)
# Mostly valid, now and then one value of each wrong kind.
ODD_VALUES: list[object] = [0, -5, 101, 15, True, "100", None, 2.0]
# Beyond int64: only where the Python book refuses it (see test_beyond_int64_...).
HUGE = 10**40
STOP_TYPES = [t for t in OrderType if t.is_conditional]


def _value(rng: random.Random, good: int, *, huge: bool = False) -> object:
    if rng.random() < 0.03:
        return rng.choice([*ODD_VALUES, HUGE] if huge else ODD_VALUES)
    return good


def command_stream(seed: int, length: int, spec: MarketSpec = SPEC) -> list[Command]:
    """Commands aimed mostly at live orders (a shadow Python book says which are open);
    buys mostly below sells, so that the book fills up and a fair share still crosses."""
    rng = random.Random(seed)
    shadow = OrderBook(spec)
    users = range(1, 5)
    placed: list[tuple[int, int]] = []
    cmds: list[Command] = []
    for order_id in range(1, length + 1):
        roll = rng.random()
        user = rng.choice(users)
        side = rng.choice(list(Side))
        centre = 18 if side is Side.BUY else 22
        price = _value(rng, (centre + rng.randint(-3, 3)) * 5)
        qty = _value(rng, rng.randint(1, 25) * 10, huge=True)
        stp = rng.choice(list(SelfTradePrevention))
        live: list[RestingOrder | StopOrder] = [*shadow.open_orders(), *shadow.stop_orders()]
        target = rng.choice(live) if live and rng.random() < 0.9 else None
        old, owner = (target.order_id, target.user_id) if target else (
            rng.choice(placed) if placed else (0, user))
        if owner != user and rng.random() < 0.03:
            owner = user  # someone else's order
        if rng.random() < 0.01 and placed:
            order_id = rng.choice(placed)[0]  # a duplicate id
        cmd: Command
        if roll < 0.45 or not live:
            tif = rng.choice([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK])
            otype = OrderType.LIMIT_MAKER if rng.random() < 0.1 else OrderType.LIMIT
            cmd = PlaceOrder(order_id, user, side, otype, price=price, qty=qty, tif=tif,  # type: ignore[arg-type]
                             stp=stp, quote_qty=_value(rng, 0))  # type: ignore[arg-type]
            placed.append((order_id, user))
        elif roll < 0.50 and rng.random() < 0.4:
            # A stop order around the traded prices: refused as reached, waits, or fires.
            stop_type = rng.choice(STOP_TYPES)
            works_as_limit = stop_type.working_type is OrderType.LIMIT
            by_quote = not works_as_limit and rng.random() < 0.3
            cmd = PlaceOrder(
                order_id, user, side, stop_type, price=price if works_as_limit else 0,  # type: ignore[arg-type]
                qty=0 if by_quote else qty, quote_qty=rng.randint(1, 60) * 50 if by_quote else 0,  # type: ignore[arg-type]
                stop_price=_value(rng, rng.randint(16, 24) * 5),  # type: ignore[arg-type]
                tif=rng.choice(list(TimeInForce)), stp=stp)
            placed.append((order_id, user))
        elif roll < 0.50:
            by_quote = rng.random() < 0.4
            cap = rng.choice([0, 0, rng.randint(1, 40) * 50, rng.randint(1, 20) * 10])
            cmd = PlaceOrder(
                order_id, user, side, OrderType.MARKET, qty=0 if by_quote else qty,  # type: ignore[arg-type]
                quote_qty=_value(rng, rng.randint(1, 60) * 50) if by_quote else 0,  # type: ignore[arg-type]
                spend_cap=cap, stp=stp, price=_value(rng, 0))  # type: ignore[arg-type]
        elif roll < 0.58:
            cmd = CancelOrder(old, owner)
        elif roll < 0.59:
            cmd = CancelAll(user)
        elif roll < 0.69:
            below = rng.randint(1, max(1, target.qty // 10 - 1)) * 10 if target else 10
            cmd = AmendOrder(old, owner, _value(rng, below, huge=True))  # type: ignore[arg-type]
        else:
            cmd = CancelReplace(old, owner, order_id, price, qty)  # type: ignore[arg-type]
            placed.append((order_id, owner))
        shadow.apply(cmd)
        cmds.append(cmd)
    return cmds


def assert_same_books(python: OrderBook, compiled: CompiledBook) -> None:
    assert compiled.state_hash() == python.state_hash()
    assert compiled.snapshot() == python.snapshot()
    assert len(compiled) == len(python)
    assert compiled.depth() == python.depth()
    assert compiled.depth(2) == python.depth(2)
    assert compiled.level_counts() == python.level_counts()
    assert (compiled.best_bid(), compiled.best_ask()) == (python.best_bid(), python.best_ask())
    assert compiled.open_orders() == python.open_orders()
    assert compiled.open_orders(2) == python.open_orders(2)
    assert compiled.stop_orders() == python.stop_orders()
    for o in python.open_orders()[:5]:
        assert compiled.order(o.order_id) == o
        assert compiled.level_orders(o.side, o.price) == python.level_orders(o.side, o.price)
    assert compiled.order(-1) is None
    assert compiled.stop_orders(3) == python.stop_orders(3)
    assert (compiled.next_seq, compiled.next_trade_id, compiled.last_price) == (
        python.next_seq, python.next_trade_id, python.last_price)


@pytest.mark.parametrize("spec", [SPEC, ODD_SPEC], ids=["support", "odd"])
@pytest.mark.parametrize("seed", range(6))
def test_same_events_and_state_command_by_command(spec: MarketSpec, seed: int) -> None:
    python, compiled = OrderBook(spec), CompiledBook(spec)
    for n, cmd in enumerate(command_stream(seed, 3_000, spec)):
        assert encode_events(compiled.apply(cmd)) == encode_events(python.apply(cmd)), cmd
        if n % 250 == 0:
            assert_same_books(python, compiled)
    assert_same_books(python, compiled)


@pytest.mark.parametrize("seed", range(4))
def test_order_lists_stops_and_restore_mid_stream(seed: int) -> None:
    """test_determinism's stream (OCO and OTO lists among the rest), command by command;
    every 500 commands the compiled book is also rebuilt from the Python book's snapshot
    and goes on from there."""
    python, compiled = OrderBook(SPEC), CompiledBook(SPEC)
    for n, cmd in enumerate(seeded_stream(seed, 3_000)):
        assert encode_events(compiled.apply(cmd)) == encode_events(python.apply(cmd)), cmd
        if n % 500 == 0:
            assert_same_books(python, compiled)
            assert compiled.oco_pairs() == python.oco_pairs()
            compiled = CompiledBook.restore(python.snapshot())
    assert_same_books(python, compiled)


def test_apply_batch_and_restore_match_the_python_book() -> None:
    cmds = command_stream(99, 4_000)
    python, compiled = OrderBook(SPEC), CompiledBook(SPEC)
    assert encode_events(compiled.apply_batch(cmds[:2_000])) == encode_events(
        python.apply_batch(cmds[:2_000]))
    restored = CompiledBook.restore(python.snapshot())
    assert_same_books(python, restored)
    assert encode_events(restored.apply_batch(cmds[2_000:])) == encode_events(
        python.apply_batch(cmds[2_000:]))
    assert_same_books(python, restored)


def test_a_foreign_object_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        CompiledBook(SPEC).apply("PLACE")  # type: ignore[arg-type]


def test_beyond_int64_what_the_python_book_would_accept_is_refused_loudly() -> None:
    """The Python book's inline check lets a notional above MAX_UNITS rest (the API never
    sends one); the compiled book raises instead of emitting different events."""
    book = CompiledBook(SPEC)
    with pytest.raises(OverflowError):
        book.apply(PlaceOrder(1, 1, Side.BUY, price=HUGE, qty=10))
    with pytest.raises(OverflowError):
        book.apply(PlaceOrder(2, 1, Side.BUY, OrderType.MARKET, quote_qty=HUGE))

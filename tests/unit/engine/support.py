"""Shared helpers for the engine tests: a small market and terse command builders."""

from __future__ import annotations

from typing import cast

from chalicelib.domain.orders import (
    MarketSpec,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from matching_cluster.engine import (
    Event,
    OrderBook,
    OrderDone,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
    Trade,
)

# price is per 10 base units, tick 5, lot 10: a fill's quote is price * qty // 10, exact.
SPEC = MarketSpec(
    symbol="TESTUSD",
    base_unit=10,
    tick_size=5,
    lot_size=10,
    min_qty=10,
    max_qty=1_000,
    min_notional=50,
    maker_fee_ppm=1_000,
    taker_fee_ppm=2_000,
)

BUY = Side.BUY
SELL = Side.SELL
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
STP = SelfTradePrevention


ENGINES = ("python", "rust")
_engine = ["python"]


def use_engine(name: str) -> None:
    """Which book ``new_book`` builds: the Python one, or the compiled one (engine_rs)."""
    _engine[0] = name


def book_class() -> type[OrderBook]:
    """The book class ``use_engine`` chose."""
    if _engine[0] == "rust":
        from matching_cluster_engine_rs import OrderBook as CompiledBook

        # Not a subclass, but the same interface (its stub says so), as the tests use it.
        return cast(type[OrderBook], CompiledBook)
    return OrderBook


def new_book(*resting: PlaceOrder, spec: MarketSpec = SPEC) -> OrderBook:
    """A new book of ``spec`` holding ``resting`` (asserting that none of them traded)."""
    book = book_class()(spec)
    seed(book, *resting)
    return book


def limit(
    order_id: int, user_id: int, side: Side, price: int, qty: int, *,
    tif: TimeInForce = TimeInForce.GTC, stp: SelfTradePrevention = SelfTradePrevention.NONE,
) -> PlaceOrder:
    return PlaceOrder(order_id, user_id, side, OrderType.LIMIT, price=price, qty=qty, tif=tif,
                      stp=stp)


def maker_only(order_id: int, user_id: int, side: Side, price: int, qty: int) -> PlaceOrder:
    return PlaceOrder(order_id, user_id, side, OrderType.LIMIT_MAKER, price=price, qty=qty)


def market(
    order_id: int, user_id: int, side: Side, *, qty: int = 0, quote_qty: int = 0,
    spend_cap: int = 0, stp: SelfTradePrevention = SelfTradePrevention.NONE,
) -> PlaceOrder:
    return PlaceOrder(order_id, user_id, side, OrderType.MARKET, qty=qty, quote_qty=quote_qty,
                      spend_cap=spend_cap, stp=stp)


def stop(
    order_id: int, user_id: int, side: Side, order_type: OrderType, stop_price: int, *,
    price: int = 0, qty: int = 0, quote_qty: int = 0, spend_cap: int = 0,
    tif: TimeInForce = TimeInForce.GTC, stp: SelfTradePrevention = SelfTradePrevention.NONE,
) -> PlaceOrder:
    """A STOP_LOSS(_LIMIT) / TAKE_PROFIT(_LIMIT) order waiting for ``stop_price``."""
    return PlaceOrder(order_id, user_id, side, order_type, price=price, qty=qty,
                      quote_qty=quote_qty, tif=tif, stp=stp, spend_cap=spend_cap,
                      stop_price=stop_price)


def trades(events: list[Event]) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade)]


def dones(events: list[Event]) -> list[OrderDone]:
    return [e for e in events if isinstance(e, OrderDone)]


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def fills(events: list[Event]) -> list[tuple[int, int, int, int]]:
    """(maker order, taker order, price, qty) of every trade, in order."""
    return [(t.maker_order_id, t.taker_order_id, t.price, t.qty) for t in trades(events)]


def seed(book: OrderBook, *cmds: PlaceOrder | PlaceOco | PlaceOto) -> None:
    """Place resting (or waiting) orders, OCO lists and OTO lists (whose working order
    alone is accepted), asserting none of them traded."""
    for cmd in cmds:
        events = book.apply(cmd)
        assert kinds(events) == ["Accepted"] * (2 if isinstance(cmd, PlaceOco) else 1), events

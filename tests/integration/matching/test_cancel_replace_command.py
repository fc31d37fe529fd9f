"""Cancel-replace as one matcher command (``replace_in_one_step``): the API records the
new order, its lock and a CANCEL_REPLACE command in one transaction; the matcher cancels
and places in one engine step, refuses the new order (freeing its lock) when the old one
is no longer open, and in a halted market only cancels."""

from __future__ import annotations

from typing import Any

import psycopg

from chalicelib.domain.clock import SystemClock
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import Side
from chalicelib.service_layer import replace_in_one_step
from chalicelib.service_layer.order_intake import OrderKey
from matching_cluster.service import repository as repo
from matching_cluster.service.batch import PartitionSlice, apply_batch
from matching_cluster.service.books import Books
from matching_cluster.service.metrics import Metrics
from tests.support.ledger import assert_ledger_invariants

from .support import (
    BTC_UNIT,
    TICK,
    Market,
    balance,
    create_users,
    fund,
    new_order,
    order_row,
    place_orders,
)

Conn = psycopg.Connection[Any]
PRICE = 5_000_000  # 50,000.00 USDT per BTC, in cents
FUNDS = 200_000 * 100


def record_replace(db: Conn, market: Market, user_id: int, old_id: int) -> OrderCommand:
    """The one-step replacement of a bid at PRICE by one a tick lower."""
    new = new_order(user_id, Side.BUY, price=PRICE - TICK, qty=BTC_UNIT, market=market.symbol,
                    client_order_id="replacement")
    recorded = replace_in_one_step.record(db, OrderKey(user_id, market.symbol, old_id, None),
                                          new, None)
    assert recorded is not None, "the one-step path serves a price change"
    return recorded[3]


def apply(db_url: str, commands: list[OrderCommand]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        epoch, _ = repo.fence_partition(conn, "orders", 0, "m1")
        apply_batch(conn, Books(Metrics()), Metrics(), topic="orders",
                    slices=[PartitionSlice(0, epoch, commands, len(commands))],
                    clock=SystemClock())


def test_the_old_order_cancelled_and_the_new_one_placed_in_one_step(
        db: Conn, db_url: str, market: Market) -> None:
    (maker,) = create_users(db, 1)
    fund(db, {(maker, "USDT"): FUNDS})
    (bid,) = place_orders(db, market, [new_order(maker, Side.BUY, price=PRICE, qty=BTC_UNIT)])
    replace = record_replace(db, market, maker, bid.order_id)

    apply(db_url, [bid, replace])

    new = order_row(db, replace.new_order_id)
    assert order_row(db, bid.order_id)["status"] == "CANCELED"
    assert (new["status"], new["locked_amount"]) == ("NEW", PRICE - TICK)
    assert balance(db, maker, "USDT") == (FUNDS - (PRICE - TICK), PRICE - TICK)
    assert_ledger_invariants(db)


def test_an_old_order_filled_first_refuses_the_new_one_and_frees_its_lock(
        db: Conn, db_url: str, market: Market) -> None:
    maker, taker = create_users(db, 2)
    fund(db, {(maker, "USDT"): FUNDS, (taker, "BTC"): BTC_UNIT})
    (bid,) = place_orders(db, market, [new_order(maker, Side.BUY, price=PRICE, qty=BTC_UNIT)])
    replace = record_replace(db, market, maker, bid.order_id)
    (ask,) = place_orders(db, market, [new_order(taker, Side.SELL, price=PRICE,
                                                qty=BTC_UNIT)])

    apply(db_url, [bid, ask, replace])  # the ask reaches the matcher before the replace

    new = order_row(db, replace.new_order_id)
    assert order_row(db, bid.order_id)["status"] == "FILLED"
    assert (new["status"], new["locked_amount"]) == ("REJECTED", 0)
    assert balance(db, maker, "USDT") == (FUNDS - PRICE, 0)
    assert_ledger_invariants(db)


def test_in_a_halted_market_the_replace_only_cancels(db: Conn, db_url: str,
                                                     market: Market) -> None:
    (maker,) = create_users(db, 1)
    fund(db, {(maker, "USDT"): FUNDS})
    (bid,) = place_orders(db, market, [new_order(maker, Side.BUY, price=PRICE, qty=BTC_UNIT)])
    apply(db_url, [bid])
    replace = record_replace(db, market, maker, bid.order_id)
    db.execute("UPDATE markets SET status = 'HALT' WHERE symbol = %s", (market.symbol,))

    apply(db_url, [replace])

    new = order_row(db, replace.new_order_id)
    assert order_row(db, bid.order_id)["status"] == "CANCELED"
    assert (new["status"], new["done_reason"]) == ("REJECTED", "MARKET_HALTED")
    assert balance(db, maker, "USDT") == (FUNDS, 0)
    assert_ledger_invariants(db)

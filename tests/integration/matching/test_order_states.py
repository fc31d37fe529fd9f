"""Settlement works from the order states the matcher keeps with its books; commands
published without their lock, and books rebuilt after a restart, give the same result."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg

from chalicelib.domain.clock import SystemClock
from chalicelib.domain.orders import Side
from matching_cluster.service import repository as repo
from matching_cluster.service.batch import PartitionSlice, apply_batch
from matching_cluster.service.books import Books
from matching_cluster.service.metrics import Metrics
from tests.support.ledger import assert_ledger_invariants

from .support import (
    BTC_UNIT,
    LOT,
    Market,
    balance,
    cancel,
    create_users,
    fund,
    new_order,
    order_row,
    place_orders,
    record_commands,
)

Conn = psycopg.Connection[Any]
PRICE = 5_000_000  # 50,000.00 USDT per BTC, in cents


def test_states_survive_a_restart_and_commands_without_their_lock_are_read_back(
    db: Conn, db_url: str, market: Market,
) -> None:
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): 2 * BTC_UNIT, (buyer, "USDT"): 200_000 * 100})
    (ask,) = place_orders(db, market, [new_order(seller, Side.SELL, price=PRICE,
                                                qty=2 * BTC_UNIT)])
    (bid,) = place_orders(db, market, [new_order(buyer, Side.BUY, price=PRICE, qty=BTC_UNIT)])
    legacy_bid = dataclasses.replace(bid, locked=0)  # as published before the field existed
    with psycopg.connect(db_url, autocommit=True) as conn:
        epoch, _ = repo.fence_partition(conn, "orders", 0, "m1")
        apply_batch(conn, Books(Metrics()), Metrics(), topic="orders",
                    slices=[PartitionSlice(0, epoch, [ask, legacy_bid], 2)], clock=SystemClock())
        # A new instance rebuilds the half-filled ask (and its state) from the database.
        epoch, _ = repo.fence_partition(conn, "orders", 0, "m2")
        (second_bid,) = place_orders(db, market, [new_order(buyer, Side.BUY, price=PRICE,
                                                           qty=BTC_UNIT // 2)])
        (leftover,) = record_commands(db, [cancel(market, seller, ask.order_id)])
        apply_batch(conn, Books(Metrics()), Metrics(), topic="orders",
                    slices=[PartitionSlice(0, epoch, [second_bid, leftover], 4)],
                    clock=SystemClock())

    sold = 3 * BTC_UNIT // 2
    assert order_row(db, ask.order_id)["status"] == "CANCELED"
    assert order_row(db, ask.order_id)["executed_qty"] == sold
    assert order_row(db, ask.order_id)["locked_amount"] == 0
    assert balance(db, seller, "BTC") == (2 * BTC_UNIT - sold, 0)
    assert balance(db, buyer, "USDT") == (200_000 * 100 - PRICE * 3 // 2, 0)
    assert db.execute("SELECT count(*) FROM trades").fetchone() == (2,)
    assert_ledger_invariants(db)


def test_an_amount_beyond_int64_is_rejected_its_lock_released_and_the_batch_commits(
    db: Conn, db_url: str, market: Market,
) -> None:
    """The API takes amounts of up to 38 digits; the compiled book holds int64. Such an
    order is refused like any invalid one, and the batch it came in still settles."""
    (buyer,) = create_users(db, 1)
    funds = 2 * 10**18
    fund(db, {(buyer, "USDT"): funds})
    huge, usual = place_orders(db, market, [new_order(buyer, Side.BUY, price=10**20, qty=LOT),
                                            new_order(buyer, Side.BUY, price=PRICE, qty=LOT)])
    with psycopg.connect(db_url, autocommit=True) as conn:
        epoch, _ = repo.fence_partition(conn, "orders", 0, "m1")
        apply_batch(conn, Books(Metrics()), Metrics(), topic="orders",
                    slices=[PartitionSlice(0, epoch, [huge, usual], 2)], clock=SystemClock())

    assert order_row(db, huge.order_id)["status"] == "REJECTED"
    assert order_row(db, huge.order_id)["locked_amount"] == 0
    assert order_row(db, usual.order_id)["status"] == "NEW"
    assert balance(db, buyer, "USDT") == (funds - usual.locked, usual.locked)
    assert_ledger_invariants(db)


def test_a_settled_batchs_order_states_stay_as_it_left_them_when_the_next_batch_fills_on(
    db: Conn, db_url: str, market: Market,
) -> None:
    """The publishing thread encodes a committed batch's order events while the next
    batch is settled: that batch must not change the states the first one reported."""
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): 2 * BTC_UNIT, (buyer, "USDT"): 200_000 * 100})
    (ask,) = place_orders(db, market, [new_order(seller, Side.SELL, price=PRICE,
                                                qty=2 * BTC_UNIT)])
    first, second = place_orders(db, market, [
        new_order(buyer, Side.BUY, price=PRICE, qty=BTC_UNIT // 2),
        new_order(buyer, Side.BUY, price=PRICE, qty=BTC_UNIT // 2)])
    books = Books(Metrics())
    with psycopg.connect(db_url, autocommit=True) as conn:
        epoch, _ = repo.fence_partition(conn, "orders", 0, "m1")
        (earlier,) = apply_batch(conn, books, Metrics(), topic="orders",
                                 slices=[PartitionSlice(0, epoch, [ask, first], 2)],
                                 clock=SystemClock())
        reported = earlier.settlement.changed_orders[ask.order_id]
        assert reported.executed_qty == BTC_UNIT // 2
        apply_batch(conn, books, Metrics(), topic="orders",
                    slices=[PartitionSlice(0, epoch, [second], 3)], clock=SystemClock())

    assert order_row(db, ask.order_id)["executed_qty"] == BTC_UNIT
    assert (reported.executed_qty, reported.locked_amount) == (BTC_UNIT // 2,
                                                               2 * BTC_UNIT - BTC_UNIT // 2)
    assert_ledger_invariants(db)

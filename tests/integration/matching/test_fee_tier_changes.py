"""The matcher keeps the accounts' fee-tier rates between batches (migration 0017): a
tier set or changed between two batches is charged from the next batch on."""

from __future__ import annotations

from typing import Any

import psycopg

from chalicelib.adapters import fee_tiers_repo
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.fees import FeeTier
from chalicelib.domain.orders import OrderType, Side
from matching_cluster.service import repository as repo
from matching_cluster.service.batch import PartitionSlice, apply_batch
from matching_cluster.service.books import Books
from matching_cluster.service.metrics import Metrics
from tests.support.ledger import assert_ledger_invariants

from .support import BTC_UNIT, TAKER_PPM, Market, create_users, fund, new_order, place_orders

Conn = psycopg.Connection[Any]
PRICE = 5_000_000  # 50,000.00 USDT per BTC, in cents
TIERS = [FeeTier(1, "USDT", 0, 400, 500), FeeTier(2, "USDT", 10**12, 0, 100)]


def taker_fees(db: Conn) -> list[int]:
    rows = db.execute("SELECT taker_fee FROM trades ORDER BY id").fetchall()
    return [int(row[0]) for row in rows]


def tier_version(db: Conn) -> int:
    row = db.execute("SELECT version FROM fee_tier_version").fetchone()
    assert row is not None
    return int(row[0])


def test_a_tier_set_between_batches_is_charged_from_the_next_batch(
    db: Conn, db_url: str, market: Market,
) -> None:
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): 3 * BTC_UNIT, (buyer, "USDT"): 200_000 * 100})
    books, metrics, clock = Books(Metrics()), Metrics(), SystemClock()

    def buy_one_btc(offset: int) -> None:
        (bid,) = place_orders(db, market, [new_order(buyer, Side.BUY, OrderType.MARKET,
                                                    qty=BTC_UNIT)])
        apply_batch(conn, books, metrics, topic="orders", clock=clock,
                    slices=[PartitionSlice(0, epoch, [bid], offset)])

    with psycopg.connect(db_url, autocommit=True) as conn:
        epoch, _ = repo.fence_partition(conn, "orders", 0, "m1")
        (ask,) = place_orders(db, market, [new_order(seller, Side.SELL, price=PRICE,
                                                    qty=3 * BTC_UNIT)])
        apply_batch(conn, books, metrics, topic="orders", clock=clock,
                    slices=[PartitionSlice(0, epoch, [ask], 1)])
        buy_one_btc(2)
        with db.transaction():
            fee_tiers_repo.replace_tiers(db, TIERS)
            fee_tiers_repo.pin_tier(db, buyer, 1)
        buy_one_btc(3)
        with db.transaction():
            fee_tiers_repo.pin_tier(db, buyer, 2)
        buy_one_btc(4)

    assert taker_fees(db) == [BTC_UNIT * TAKER_PPM // 10**6, BTC_UNIT * 500 // 10**6,
                              BTC_UNIT * 100 // 10**6]
    assert_ledger_invariants(db)


def test_a_transaction_that_changes_many_tiers_moves_the_version_once(
    db: Conn, market: Market,
) -> None:
    users = create_users(db, 3)
    before = tier_version(db)
    with db.transaction():
        fee_tiers_repo.replace_tiers(db, TIERS)
        for user in users:
            fee_tiers_repo.pin_tier(db, user, 2)
    assert tier_version(db) == before + 1
    with db.transaction():
        fee_tiers_repo.pin_tier(db, users[0], None)
    assert tier_version(db) == before + 2

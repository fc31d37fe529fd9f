"""The matcher prepares its next batch while the server settles the last one. If the batch
in flight fails, the batch prepared on top of it, even one of another partition, is
rewound with it: every command then settles exactly once, and the money stays exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from chalicelib.adapters.kafka import key_partition
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import Side
from chalicelib.settings import Settings
from matching_cluster.service.bootstrap import settlement_connection_name
from matching_cluster.service.consumer import Matcher
from tests.conftest import as_role
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

from .conftest import PARTITIONS, Topics
from .support import (
    BTC_UNIT,
    Market,
    balance,
    create_market,
    create_users,
    fund,
    new_order,
    place_orders,
    publish,
    wait_applied,
)
from .test_matcher_flow import assert_locks_match_open_orders

Conn = psycopg.Connection[Any]
PRICE = 50_000 * 100


def market_on_another_partition(db: Conn, market: Market) -> Market:
    taken = key_partition(market.symbol.encode(), PARTITIONS)
    symbol = next(s for s in ("ETHUSDT", "LTCUSDT", "XRPUSDT", "SOLUSDT", "ADAUSDT")
                  if key_partition(s.encode(), PARTITIONS) != taken)
    return create_market(db, symbol, base=symbol.removesuffix("USDT"))


def crossing_pair(db: Conn, market: Market, seller: int, buyer: int) -> list[OrderCommand]:
    return place_orders(db, market, [new_order(seller, Side.SELL, price=PRICE, qty=BTC_UNIT),
                                     new_order(buyer, Side.BUY, price=PRICE, qty=BTC_UNIT)])


# The matcher's settlement session, by its name.
SETTLEMENT_SESSION = (
    f"FROM pg_stat_activity WHERE application_name = '{settlement_connection_name('m1')}'"
    " AND datname = current_database()")


def test_a_batch_prepared_on_top_of_one_that_fails_is_settled_again_exactly_once(
    db: Conn, db_url: str, producer: Producer, topics: Topics, market: Market,
    test_settings: Settings, start_matcher: Callable[[str], Matcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = market_on_another_partition(db, market)
    # Two commands a batch: the four below make at least two batches.
    monkeypatch.setenv("MATCHER_BATCH_SIZE", "2")
    matcher = start_matcher("m1")
    wait_until(lambda: len(matcher.status.assigned), timeout=30,
               what="the matcher's partitions", until=lambda n: n == PARTITIONS)
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, market.base): BTC_UNIT, (seller, other.base): BTC_UNIT,
              (buyer, "USDT"): 2 * PRICE})
    commands = crossing_pair(db, market, seller, buyer) + crossing_pair(db, other, seller, buyer)
    with psycopg.connect(db_url) as blocker, \
            psycopg.connect(as_role(test_settings, "matcher").database_url,
                            autocommit=True) as killer:
        # Whichever batch comes first is sent whole and waits, in flight, for these
        # locks (its commands' applied_at).
        blocker.execute("SELECT 1 FROM order_commands WHERE id = ANY(%s) FOR UPDATE",
                        ([c.command_id for c in commands],))
        publish(producer, topics.orders, commands)
        wait_until(lambda: killer.execute(f"SELECT wait_event_type {SETTLEMENT_SESSION}")
                   .fetchall(), timeout=30, what="the first batch to wait for the locks",
                   until=lambda rows: rows == [("Lock",)])
        # Meanwhile the next batch is consumed, matched and settled in memory: more
        # commands through the engine than the first batch holds.
        wait_until(lambda: matcher.metrics.sample(catalogue.MATCHER_COMMANDS, outcome="applied"),
                   timeout=30, what="a second batch to run through the engine",
                   until=lambda count: (count or 0) >= 3)
        # The first batch fails: its connection ends before it commits.
        killer.execute(f"SELECT pg_terminate_backend(pid) {SETTLEMENT_SESSION}")
        wait_until(lambda: matcher.metrics.sample(catalogue.MATCHER_BATCH_ERRORS),
                   timeout=30, what="the first batch to fail", until=lambda n: n == 1)
        blocker.rollback()
    wait_applied(db, [c.command_id for c in commands])
    assert db.execute("SELECT market, count(*) FROM trades GROUP BY market ORDER BY market"
                      ).fetchall() == sorted([(market.symbol, 1), (other.symbol, 1)])
    fee_base = BTC_UNIT * market.spec.taker_fee_ppm // 1_000_000
    fee_usdt = PRICE * market.spec.maker_fee_ppm // 1_000_000
    assert balance(db, buyer, market.base) == (BTC_UNIT - fee_base, 0)
    assert balance(db, buyer, other.base) == (BTC_UNIT - fee_base, 0)
    assert balance(db, seller, "USDT") == (2 * (PRICE - fee_usdt), 0)
    assert balance(db, buyer, "USDT") == (0, 0)
    assert_locks_match_open_orders(db)
    assert_ledger_invariants(db)

"""A running matcher whose database connection is terminated (a failover, an operator)
replaces it and keeps matching: each trade settles exactly once, balances, locks and
the ledger stay exact, and the new connection carries the instance's name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from confluent_kafka import Producer

from chalicelib.domain.orders import Side
from chalicelib.settings import Settings
from matching_cluster.service.consumer import Matcher
from tests.conftest import as_role
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

from .conftest import Topics
from .support import (
    BTC_UNIT,
    Market,
    balance,
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
ROUNDS = 3


def terminate_matcher_sessions(settings: Settings) -> int:
    """End every session of the matcher's role on the test database (from a session of
    that role, which may signal its own); wait until they are gone; return how many."""
    with psycopg.connect(as_role(settings, "matcher").database_url, autocommit=True) as killer:
        sessions = "FROM pg_stat_activity WHERE usename = current_user" \
                   " AND datname = current_database() AND pid <> pg_backend_pid()"
        ended = killer.execute(f"SELECT count(pg_terminate_backend(pid)) {sessions}").fetchone()
        wait_until(lambda: killer.execute(f"SELECT count(*) {sessions}").fetchone(),
                   timeout=10, what="the matcher's sessions to end", until=lambda n: n == (0,))
    assert ended is not None
    return int(ended[0])


def test_matcher_keeps_settling_after_its_connection_is_terminated(
    db: Conn, producer: Producer, topics: Topics, market: Market, test_settings: Settings,
    start_matcher: Callable[[str], Matcher],
) -> None:
    matcher = start_matcher("m1")
    wait_until(lambda: len(matcher.status.assigned), timeout=30,
               what="the matcher's partitions", until=bool)
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): ROUNDS * BTC_UNIT, (buyer, "USDT"): ROUNDS * PRICE})
    for _ in range(ROUNDS):
        commands = place_orders(db, market, [
            new_order(seller, Side.SELL, price=PRICE, qty=BTC_UNIT),
            new_order(buyer, Side.BUY, price=PRICE, qty=BTC_UNIT)])
        # Each round's commands meet a connection the matcher must replace first.
        assert terminate_matcher_sessions(test_settings) >= 1
        publish(producer, topics.orders, commands)
        wait_applied(db, [c.command_id for c in commands])
    assert db.execute("SELECT count(*) FROM trades").fetchone() == (ROUNDS,)
    # The replacement is named like the first, so an operator finds it in pg_stat_activity.
    assert db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND application_name = 'matcher m1'").fetchone() == (1,)
    # The buyer takes (its order comes second), the seller makes.
    fee_btc = ROUNDS * BTC_UNIT * market.spec.taker_fee_ppm // 1_000_000
    fee_usdt = ROUNDS * PRICE * market.spec.maker_fee_ppm // 1_000_000
    assert balance(db, buyer, "BTC") == (ROUNDS * BTC_UNIT - fee_btc, 0)
    assert balance(db, seller, "USDT") == (ROUNDS * PRICE - fee_usdt, 0)
    assert balance(db, seller, "BTC") == (0, 0)
    assert balance(db, buyer, "USDT") == (0, 0)
    assert_locks_match_open_orders(db)
    assert_ledger_invariants(db)

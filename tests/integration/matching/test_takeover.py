"""A matcher killed with SIGKILL and started again under the same static identity takes
its partitions back at once, and its rebuilt books carry on exactly where the committed
state left them.

The consumer group's session timeout is long (60 s): had the replacement joined as a new
member, the group would hand it the partitions only once the dead member's session had
expired. It matches new crossing orders within 30 s, which only static membership
(the same ``group.instance.id`` taking over the dead member's place) explains. How fast
it is belongs in ``bench/takeover.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from chalicelib.adapters.kafka import key_partition
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import Side
from chalicelib.settings import Settings
from matching_cluster.engine import OrderBook, Trade
from matching_cluster.service.engine_commands import engine_command
from tests.conftest import as_role
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

from .conftest import PARTITIONS, Topics
from .support import (
    BTC_UNIT,
    LOT,
    TICK,
    Market,
    create_market,
    create_users,
    fund,
    new_order,
    place_orders,
    publish,
    read_topic,
    unapplied,
    wait_applied,
)
from .test_crash_safety import MatcherProcess, free_port, http_status

Conn = psycopg.Connection[Any]
MID = 50_000 * 100
LEVELS = 20
PER_MARKET = 200
# Far longer than the handover may take: a new member would wait it out.
SESSION_TIMEOUT_MS = 60_000
# Room for a slow start on a busy machine, and still half the session timeout.
TAKEOVER_TIMEOUT_S = 30


@pytest.fixture
def markets(db: Conn, market: Market) -> list[Market]:
    both = [market, create_market(db, "ETHUSDT", "ETH", "USDT")]
    owners = {key_partition(m.symbol.encode(), PARTITIONS) for m in both}
    assert len(owners) == PARTITIONS, "the markets should sit on different partitions"
    return both


@pytest.fixture
def matcher(test_settings: Settings, kafka_bootstrap: str, topics: Topics,
            tmp_path: Path) -> Iterator[MatcherProcess]:
    """A matcher process with a static identity and a long session timeout."""
    env = {**os.environ, "DATABASE_URL": as_role(test_settings, "matcher").database_url,
           "REDIS_URL": test_settings.redis_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "ORDERS_TOPIC": topics.orders, "MARKET_EVENTS_TOPIC": topics.market_events,
           "ORDER_EVENTS_TOPIC": topics.order_events,
           "MATCHER_GROUP_ID": f"takeover-{uuid.uuid4().hex[:8]}",
           "MATCHER_INSTANCE_ID": "takeover-0", "MATCHER_STATIC_MEMBERSHIP": "true",
           "MATCHER_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
           "EXCHANGE_MATCHER_PORT": str(free_port()), "LOG_LEVEL": "WARNING"}
    process = MatcherProcess(env, tmp_path / "matcher.log")
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.kill()


def wait_ready(matcher: MatcherProcess) -> None:
    port = matcher.env["EXCHANGE_MATCHER_PORT"]
    wait_until(lambda: http_status(port, "/readyz"), until=lambda status: status == 200,
               timeout=60, what="the matcher owning its partitions")


def rest_orders(db: Conn, market: Market, users: list[int]) -> list[OrderCommand]:
    """Bids below the mid price and asks above it, none crossing; each at least two lots,
    so that a one-lot taker leaves its maker open."""
    orders = []
    for i in range(PER_MARKET):
        level = (1 + i % LEVELS) * TICK
        side, price = (Side.BUY, MID - level) if i % 2 else (Side.SELL, MID + level)
        orders.append(new_order(users[i % len(users)], side, price=price,
                                qty=(2 + i % 3) * LOT))
    return place_orders(db, market, orders)


def open_order_ids(db: Conn) -> set[int]:
    rows = db.execute("SELECT id FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED')"
                      ).fetchall()
    return {int(order_id) for (order_id,) in rows}


def owners(db: Conn, topic: str) -> list[tuple[int, str, int]]:
    rows = db.execute("SELECT partition, owner, owner_epoch FROM matcher_offsets"
                      " WHERE topic = %s ORDER BY partition", (topic,)).fetchall()
    return [(int(p), str(owner), int(epoch)) for p, owner, epoch in rows]


def replayed_trades(bootstrap: str, topic: str, markets: list[Market]
                    ) -> tuple[list[tuple[Any, ...]], dict[str, OrderBook]]:
    """The trades of a fresh engine replaying the topic (each command id once), and its
    books."""
    books = {m.symbol: OrderBook(m.spec) for m in markets}
    trades: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    for message in read_topic(bootstrap, topic):
        command = OrderCommand.decode(message.value() or b"")
        if command.command_id in seen:
            continue
        seen.add(command.command_id)
        engine = engine_command(command)
        assert engine is not None
        trades += [(command.market, e.trade_id, e.price, e.qty, e.maker_order_id,
                    e.taker_order_id) for e in books[command.market].apply(engine)
                   if isinstance(e, Trade)]
    return sorted(trades), books


def test_a_killed_matcher_restarted_under_its_static_identity_takes_over_at_once(
    db: Conn, kafka_bootstrap: str, producer: Producer, topics: Topics,
    markets: list[Market], matcher: MatcherProcess,
) -> None:
    makers = create_users(db, 4)
    (taker,) = create_users(db, 1)
    fund(db, {(u, a): 1000 * BTC_UNIT for u in [*makers, taker]
              for a in ("BTC", "ETH", "USDT")})
    matcher.start()
    wait_ready(matcher)
    resting = [c for m in markets for c in rest_orders(db, m, makers)]
    publish(producer, topics.orders, resting)
    wait_applied(db, [c.command_id for c in resting])
    before = owners(db, topics.orders)
    assert [owner for _, owner, _ in before] == ["takeover-0"] * PARTITIONS

    matcher.kill()
    # Accepted while no matcher runs: one lot at each market's best ask.
    crossing = [c for m in markets for c in place_orders(
        db, m, [new_order(taker, Side.BUY, price=MID + TICK, qty=LOT)])]
    publish(producer, topics.orders, crossing)
    matcher.start()
    wait_until(lambda: unapplied(db, [c.command_id for c in crossing]),
               until=lambda left: left == 0, timeout=TAKEOVER_TIMEOUT_S,
               what="the restarted matcher to settle the crossing orders")

    # The same instance fenced every partition again, once.
    assert owners(db, topics.orders) == [(p, owner, epoch + 1) for p, owner, epoch in before]
    filled = db.execute("SELECT count(*) FROM orders WHERE id = ANY(%s) AND status = 'FILLED'",
                        ([c.order_id for c in crossing],)).fetchone()
    assert filled == (len(crossing),)
    # Every resting order from before the kill is still open, one per market a lot less.
    assert open_order_ids(db) == {c.order_id for c in resting}
    partly = db.execute("SELECT market, executed_qty FROM orders"
                        " WHERE status = 'PARTIALLY_FILLED' ORDER BY market").fetchall()
    assert [(market, int(qty)) for market, qty in partly] == [
        (m.symbol, LOT) for m in sorted(markets, key=lambda m: m.symbol)]

    # Applied exactly once: PostgreSQL holds what a fresh engine replaying the topic does.
    trades, books = replayed_trades(kafka_bootstrap, topics.orders, markets)
    stored = db.execute("SELECT market, id, price, quantity, maker_order_id, taker_order_id"
                        " FROM trades ORDER BY market, id").fetchall()
    assert [(m, int(i), int(p), int(q), int(mk), int(tk)) for m, i, p, q, mk, tk in stored
            ] == trades
    assert len(trades) == len(crossing)
    assert open_order_ids(db) == {o.order_id for b in books.values() for o in b.open_orders()}
    assert_locks_match_open_orders(db, [*makers, taker])
    assert_ledger_invariants(db)
    assert matcher.terminate() == 0

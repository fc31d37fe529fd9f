"""The matcher's time marks on market-events: a running matcher marks a market that went
quiet after a trade, and one that takes the market's partition over (a restart, a
rebalance) marks it from the market's last stored trade, so that its candles still
close on time."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import redis
from confluent_kafka import Producer

from chalicelib.adapters.kafka import key_partition, make_producer
from chalicelib.domain.orders import Side
from chalicelib.domain.stream_events import TimeMarkEvent, decode_candle_input
from chalicelib.settings import Settings
from matching_cluster.service.bootstrap import bootstrap_matcher
from matching_cluster.service.consumer import Matcher, MatcherConfig
from tests.conftest import as_role
from tests.support.polling import wait_until

from .conftest import Topics
from .support import (
    BTC_UNIT,
    Market,
    create_topic,
    create_users,
    fund,
    new_order,
    place_orders,
    publish,
    read_topic,
    wait_applied,
)

Conn = psycopg.Connection[Any]
PRICE = 50_000_00


@contextmanager
def running(settings: Settings, group: str, instance_id: str) -> Iterator[Matcher]:
    """A matcher on a thread of its own, once it owns both partitions; stopped after."""
    process = bootstrap_matcher(settings, MatcherConfig(
        group_id=group, instance_id=instance_id, session_timeout_ms=6000,
        poll_timeout_seconds=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=process.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: process.matcher.status.assigned, until=lambda a: len(a) == 2,
                   timeout=60, what=f"{instance_id} owning both partitions")
        yield process.matcher
    finally:
        stop.set()
        thread.join(30)


def time_marks(bootstrap: str, topic: str) -> list[TimeMarkEvent]:
    events = (decode_candle_input(m.value() or b"") for m in read_topic(bootstrap, topic))
    return [e for e in events if isinstance(e, TimeMarkEvent)]


def test_a_quiet_market_is_marked_and_a_new_owner_marks_it_from_its_last_trade(
        db: Conn, producer: Producer, topics: Topics, market: Market,
        test_settings: Settings, kafka_bootstrap: str, redis_client: redis.Redis) -> None:
    settings = as_role(test_settings, "matcher").model_copy(update={
        "kafka_bootstrap_servers": kafka_bootstrap, "orders_topic": topics.orders,
        "market_events_topic": topics.market_events, "order_events_topic": topics.order_events})
    group = f"matcher-{uuid.uuid4().hex[:8]}"
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): BTC_UNIT, (buyer, "USDT"): 100_000_00})

    with running(settings, group, "m1"):
        commands = place_orders(db, market, [
            new_order(seller, Side.SELL, price=PRICE, qty=BTC_UNIT // 10),
            new_order(buyer, Side.BUY, price=PRICE, qty=BTC_UNIT // 10)])
        publish(producer, topics.orders, commands)
        wait_applied(db, [c.command_id for c in commands])
        (trade_id, executed_ms) = db.execute(
            "SELECT id, floor(extract(epoch FROM executed_at) * 1000)::bigint FROM trades"
        ).fetchone() or (0, 0)
        first = wait_until(lambda: time_marks(kafka_bootstrap, topics.market_events),
                           timeout=30, what="a time mark once the trade's second is over")[0]
    assert (first.market, first.last_trade_id) == (market.symbol, trade_id)
    assert first.time_ms >= executed_ms - executed_ms % 1000 + 1000
    before = len(time_marks(kafka_bootstrap, topics.market_events))

    # A new owner (m1 has left) marks the market at once from its last stored trade.
    with running(settings, group, "m2"):
        marks = wait_until(lambda: time_marks(kafka_bootstrap, topics.market_events),
                           until=lambda seen: len(seen) > before, timeout=30,
                           what="the new owner's time mark")
    assert (marks[before].market, marks[before].last_trade_id) == (market.symbol, trade_id)
    assert marks[before].time_ms > first.time_ms


def test_key_partition_is_where_our_producers_send_a_key(kafka_bootstrap: str,
                                                        topic_name: str) -> None:
    create_topic(kafka_bootstrap, topic_name, 5)
    producer = make_producer(kafka_bootstrap)
    symbols = [f"M{i}USDT" for i in range(40)]
    for symbol in symbols:
        producer.produce(topic_name, key=symbol.encode(), value=b"{}")
    assert producer.flush(30) == 0
    placed = {(m.key() or b"").decode(): m.partition() for m in read_topic(kafka_bootstrap,
                                                                            topic_name)}
    assert placed == {s: key_partition(s.encode(), 5) for s in symbols}
    assert len(set(placed.values())) == 5

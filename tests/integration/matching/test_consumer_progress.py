"""Lag tools see the matcher's progress: Kafka's committed offsets (what
``kafka-consumer-groups`` and MSK's lag metrics read) reach the offsets stored with the
settled batches, the last batch before a quiet spell included, though the matcher
commits to Kafka at most once a second."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from confluent_kafka import Producer, TopicPartition

from chalicelib.adapters.kafka import make_consumer
from chalicelib.domain.orders import Side
from matching_cluster.service.consumer import Matcher
from tests.support.polling import wait_until

from .conftest import PARTITIONS, Topics
from .support import (
    BTC_UNIT,
    Market,
    create_users,
    fund,
    new_order,
    place_orders,
    publish,
    wait_applied,
)

Conn = psycopg.Connection[Any]
PRICE = 50_000 * 100


def stored_offsets(db: Conn, topic: str) -> dict[int, int]:
    """Each partition's offset stored with its last settled batch (those with one)."""
    rows = db.execute("SELECT partition, next_offset FROM matcher_offsets WHERE topic = %s",
                      (topic,)).fetchall()
    return {int(partition): int(offset) for partition, offset in rows if offset > 0}


def committed_offsets(kafka_bootstrap: str, group: str, topic: str) -> dict[int, int]:
    probe = make_consumer(kafka_bootstrap, group)
    try:
        found = probe.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                timeout=10)
    finally:
        probe.close()
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def test_kafka_commits_reach_the_stored_offsets_after_the_last_batch(
        db: Conn, producer: Producer, topics: Topics, market: Market, kafka_bootstrap: str,
        start_matcher: Callable[[str], Matcher]) -> None:
    matcher = start_matcher("m1")
    (user,) = create_users(db, 1)
    fund(db, {(user, "USDT"): 100 * PRICE})
    # One batch after another, each well within a second of the last.
    for _ in range(5):
        commands = place_orders(db, market, [new_order(user, Side.BUY, price=PRICE,
                                                       qty=BTC_UNIT // 100)])
        publish(producer, topics.orders, commands)
        wait_applied(db, [c.command_id for c in commands])

    stored = stored_offsets(db, topics.orders)
    assert sum(stored.values()) == 5
    # The matcher's consumer group, as a lag tool names it.
    group = matcher._config.group_id
    wait_until(lambda: committed_offsets(kafka_bootstrap, group, topics.orders), timeout=15,
               until=lambda committed: committed == stored,
               what=f"Kafka's committed offsets to reach the stored ones {stored}")

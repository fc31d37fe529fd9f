"""Fixtures for the matcher against the real stack: a market, topics, a running matcher."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
import redis
from confluent_kafka import Producer

from chalicelib.adapters.kafka import make_producer
from chalicelib.settings import Settings
from matching_cluster.service.bootstrap import bootstrap_matcher
from matching_cluster.service.consumer import Matcher, MatcherConfig
from tests.conftest import as_role

from .support import Market, create_market, create_topic

PARTITIONS = 2


@dataclass(frozen=True)
class Topics:
    orders: str
    market_events: str
    order_events: str


@pytest.fixture
def market(db: psycopg.Connection[tuple[object, ...]]) -> Market:
    return create_market(db)


@pytest.fixture
def topics(kafka_bootstrap: str, topic_name: str) -> Topics:
    names = Topics(topic_name, f"{topic_name}-market", f"{topic_name}-order")
    create_topic(kafka_bootstrap, names.orders, PARTITIONS)
    create_topic(kafka_bootstrap, names.market_events, 1)
    create_topic(kafka_bootstrap, names.order_events, 1)
    return names


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[Producer]:
    p = make_producer(kafka_bootstrap)
    yield p
    p.flush(10)


@pytest.fixture
def start_matcher(
    db_url: str, test_settings: Settings, kafka_bootstrap: str, topics: Topics,
    redis_client: redis.Redis,
) -> Iterator[Callable[[str], Matcher]]:
    """Start in-process matcher instances (one thread each), connecting as the matcher's
    database role, on an emptied database and Redis; all stop at teardown."""
    group = f"matcher-{uuid.uuid4().hex[:8]}"
    settings = as_role(test_settings, "matcher").model_copy(update={
        "kafka_bootstrap_servers": kafka_bootstrap, "orders_topic": topics.orders,
        "market_events_topic": topics.market_events, "order_events_topic": topics.order_events})
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(instance_id: str = "m1") -> Matcher:
        process = bootstrap_matcher(settings, MatcherConfig(
            group_id=group, instance_id=instance_id, session_timeout_ms=6000,
            poll_timeout_seconds=0.05))
        stop = threading.Event()
        thread = threading.Thread(target=process.run, args=(stop,), daemon=True)
        thread.start()
        running.append((stop, thread))
        return process.matcher

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(30)

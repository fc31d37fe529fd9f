"""Kafka client configuration shared by the API, the lambdas and the matcher.

Producers are idempotent with acks=all, so a retried send never duplicates or
reorders a partition; consumers commit offsets by hand, after the work they
stand for is durable.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": 2,
        "compression.type": "lz4",
        "delivery.timeout.ms": 30000,
    }
    config.update(overrides)
    return config


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }
    config.update(overrides)
    return config


def make_producer(bootstrap_servers: str, **overrides: Any) -> Producer:
    return Producer(producer_config(bootstrap_servers, **overrides))


def make_consumer(bootstrap_servers: str, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(bootstrap_servers, group_id, **overrides))

"""Kafka client configuration shared by the API, the lambdas, the matcher and the CLI.

Producers are idempotent with acks=all, so a retried send never duplicates or
reorders a partition; consumers commit offsets by hand, after the work they
stand for is durable.

Every client is built here, on `client_config`, which adds the process's security
settings (KAFKA_SECURITY, AWS_REGION): like its AWS credentials they belong to the
process, not to a call site, so no client can be built without them.
"""

from __future__ import annotations

import zlib
from typing import Any

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # type: ignore[import-untyped]
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from chalicelib.settings import Settings


class MskIamToken:
    """confluent-kafka's `oauth_cb` for MSK IAM: a token signed with this process's AWS
    credentials (no network call), and its expiry in seconds since the epoch."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __call__(self, _oauthbearer_config: str) -> tuple[str, float]:
        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(self.region)
        # The signer gives milliseconds; confluent-kafka expects seconds.
        return token, expiry_ms / 1000


def security_config() -> dict[str, Any]:
    """How this process's clients authenticate to the brokers: nothing locally, MSK IAM
    in AWS."""
    settings = Settings()
    if settings.kafka_security == "plaintext":
        return {}
    return {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": MskIamToken(settings.aws_region)}


def client_config(bootstrap_servers: str) -> dict[str, Any]:
    """The part every client shares: where the brokers are and how to authenticate."""
    return {"bootstrap.servers": bootstrap_servers, **security_config()}


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(bootstrap_servers),
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        # librdkafka sends a partition's messages in one request per linger, and the
        # broker's CPU goes by requests: at 4,000 messages/s over 4 partitions it spent
        # 100-150 us a message at 2 ms, 80 at 5, 70 at 10 (tests/bench: a few ms more
        # per hop). A producer that must answer at once (the API's commands) uses 0.
        "linger.ms": 5,
        # Measured: none, lz4 and zstd cost the local broker the same per message; lz4
        # is the cheapest for the clients and shrinks the JSON on the wire.
        "compression.type": "lz4",
        "delivery.timeout.ms": 30000,
        # librdkafka's default, named because key_partition depends on it.
        "partitioner": "consistent_random",
    }
    config.update(overrides)
    return config


def key_partition(key: bytes, partitions: int) -> int:
    """The partition our producers send a (non-empty) key to: the CRC-32 of the key
    modulo the topic's partition count (librdkafka's ``consistent_random``)."""
    return zlib.crc32(key) % partitions


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **client_config(bootstrap_servers),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }
    config.update(overrides)
    return config


def admin_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    return {**client_config(bootstrap_servers), **overrides}


def make_producer(bootstrap_servers: str, **overrides: Any) -> Producer:
    return Producer(producer_config(bootstrap_servers, **overrides))


def make_consumer(bootstrap_servers: str, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(bootstrap_servers, group_id, **overrides))


def make_admin(bootstrap_servers: str, **overrides: Any) -> AdminClient:
    return AdminClient(admin_config(bootstrap_servers, **overrides))

"""The Kafka order publisher sends each command's trace as message headers (with
Lambda's X-Ray trace header when set) and counts what the broker did not acknowledge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.adapters.order_publisher import LAMBDA_TRACE_VARIABLE
from chalicelib.adapters.order_publisher import CommandPublisher as KafkaPublisher
from chalicelib.domain.command_trace import CommandTrace
from chalicelib.domain.metric_catalogue import KAFKA_PUBLISH_FAILURES
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind
from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, KAFKA_HEADER, TRACE_HEADER
from tests.integration.adapters import closed_port
from tests.integration.matching.support import create_topic, read_topic


def cancel(command_id: int) -> OrderCommand:
    return OrderCommand(command_id=command_id, kind=CommandKind.CANCEL, market="BTCUSDT",
                        user_id=7, order_id=100 + command_id)


@pytest.fixture
def metrics() -> PrometheusMetrics:
    return PrometheusMetrics("api", process_metrics=False)


@pytest.fixture
def orders_topic(kafka_bootstrap: str, topic_name: str) -> Iterator[str]:
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    yield topic_name
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.delete_topics([topic_name], operation_timeout=10)[topic_name].result(timeout=30)


@pytest.fixture
def publisher(kafka_bootstrap: str, orders_topic: str,
              metrics: PrometheusMetrics) -> Iterator[KafkaPublisher]:
    made = KafkaPublisher(kafka_bootstrap, orders_topic, metrics=metrics, service="api")
    yield made
    made.close()


def test_each_command_carries_its_trace_and_the_lambda_trace_header(
    publisher: KafkaPublisher, kafka_bootstrap: str, orders_topic: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_VARIABLE, "Root=1-abc;Parent=def;Sampled=1")

    assert publisher.publish([cancel(1), cancel(2)],
                             {1: CommandTrace("c-1", 1_700_000_000_123)}) == [1, 2]

    held = [(m.headers() or []) for m in read_topic(kafka_bootstrap, orders_topic)]
    assert held == [
        [(KAFKA_HEADER, b"c-1"), (ACCEPTED_AT_HEADER, b"1700000000123"),
         (TRACE_HEADER, b"Root=1-abc;Parent=def;Sampled=1")],
        [(TRACE_HEADER, b"Root=1-abc;Parent=def;Sampled=1")]]


def test_commands_the_broker_does_not_acknowledge_are_counted(
    orders_topic: str, metrics: PrometheusMetrics
) -> None:
    publisher = KafkaPublisher(f"127.0.0.1:{closed_port()}", orders_topic, timeout_s=0.5,
                               metrics=metrics, service="sweeper")
    try:
        assert publisher.publish([cancel(1), cancel(2)]) == []
    finally:
        publisher.close()

    assert metrics.sample(KAFKA_PUBLISH_FAILURES, service="sweeper") == 2

"""The fan-out under the local MSK runner: record headers reach the handler as Lambda
sends them, its metrics count the records, and one line per batch names their ids."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest

from chalicelib.adapters.kafka import make_producer
from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.domain.stream_events import TradeEvent, encode
from chalicelib.domain.tracing import KAFKA_HEADER, TRACE_HEADER
from chalicelib.settings import Settings
from lambdas import fanout
from tests.integration.adapters import closed_port
from tests.integration.matching.support import create_topic
from tests.support.polling import wait_until

from .conftest import RunRunner

TRACE = "Root=1-67890abc-0123456789abcdef01234567"
RECORDS = 6


def trade(trade_id: int) -> bytes:
    return encode(TradeEvent(market="BTCUSDT", seq=trade_id, trade_id=trade_id,
                             time_ms=time.time_ns() // 1_000_000, price=5_000_000, qty=100,
                             quote_qty=5_000, buyer_is_maker=False, maker_order_id=1,
                             taker_order_id=2))


@pytest.fixture
def fan_out(test_settings: Settings) -> Iterator[fanout.Fanout]:
    """The fan-out's own code; nobody subscribes, so nothing is ever posted (the
    management endpoint is a closed port)."""
    function = fanout.Fanout(test_settings.model_copy(update={
        "ws_management_url": f"http://127.0.0.1:{closed_port()}"}))
    yield function
    function.close()


def test_traced_records_are_counted_and_logged_with_their_correlation_ids(
    kafka_bootstrap: str, topic_name: str, run_runner: RunRunner, fan_out: fanout.Fanout,
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = cast(PrometheusMetrics, fanout.metrics)

    def counted(spec: catalogue.MetricSpec, suffix: str = "", **labels: str) -> float:
        return metrics.sample(spec, suffix, **labels) or 0.0

    before = {"records": counted(catalogue.FUNCTION_RECORDS, function="fanout"),
              "failed": counted(catalogue.FUNCTION_BATCH_FAILURES, function="fanout"),
              "delivered": counted(catalogue.STREAM_DELIVERY_SECONDS, "_count")}
    create_topic(kafka_bootstrap, topic_name, 1)
    producer = make_producer(kafka_bootstrap)
    for trade_id in range(1, RECORDS + 1):
        headers: list[tuple[str, str | bytes | None]] = []
        if trade_id % 3:  # every third record is untraced
            headers = [(KAFKA_HEADER, f"req-{trade_id}".encode()), (TRACE_HEADER, TRACE.encode())]
        producer.produce(topic_name, key="BTCUSDT", value=trade(trade_id), headers=headers)
    assert producer.flush(30) == 0

    caplog.set_level(logging.INFO)
    with run_runner(fan_out, topic_name, f"fanout-{uuid.uuid4().hex[:8]}"):
        wait_until(lambda: counted(catalogue.FUNCTION_RECORDS, function="fanout"),
                   until=lambda seen: seen - before["records"] == RECORDS, timeout=60,
                   what="every record counted")

    assert counted(catalogue.FUNCTION_BATCH_FAILURES, function="fanout") == before["failed"]
    assert counted(catalogue.STREAM_DELIVERY_SECONDS, "_count") - before["delivered"] == RECORDS
    lines: list[dict[str, Any]] = [vars(r) for r in caplog.records
                                   if r.getMessage() == "batch fanned out"]
    assert sum(line["records"] for line in lines) == RECORDS
    assert [i for line in lines for i in line["correlation_ids"]] == [
        "req-1", "req-2", "req-4", "req-5"]
    assert all(line["trace_ids"] == [TRACE] for line in lines)

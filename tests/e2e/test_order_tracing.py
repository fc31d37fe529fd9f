"""One order followed by its correlation id: the client's X-Correlation-Id comes back on
the answer, goes to Kafka with the order's command (x-correlation-id, x-accepted-at-ms),
is on the API's "order accepted" log line with the order's ids, and the placement counts
in the API's metrics; a refusal carries the id too and counts by its code, and a rate
limit's refusal by the limit."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from chalice.test import Client
from confluent_kafka import Message, TopicPartition

from chalicelib.adapters.kafka import make_consumer
from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.bootstrap import Services, bootstrap_api
from chalicelib.domain.metric_catalogue import (
    API_REQUEST_SECONDS,
    API_REQUESTS,
    ORDERS_ACCEPTED,
    ORDERS_REJECTED,
    RATE_LIMITED,
)
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, HTTP_HEADER, KAFKA_HEADER
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.entrypoints.http.middleware import logger as api_logger
from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.e2e.test_order_intake import LIMIT_BUY, watermarks
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]


@pytest.fixture
def trader(admin: Caller, alice: Caller, btcusdt: str) -> ApiKey:
    fund(admin, alice, "USDT", "15000")
    return alice.new_api_key(["READ", "TRADE"])


@pytest.fixture
def metrics(services: Services) -> PrometheusMetrics:
    assert isinstance(services.metrics, PrometheusMetrics)
    return services.metrics


def place(client: Client, key: ApiKey, params: dict[str, str], correlation: str) -> Any:
    return client.http.post("/api/v3/order", body=key.query(params), headers={
        "X-MBX-APIKEY": key.api_key, HTTP_HEADER: correlation,
        "Content-Type": "application/x-www-form-urlencoded"})


def command_message(settings: Settings, start: list[TopicPartition], order_id: int) -> Message:
    """The orders topic's message placing ``order_id``, published after ``start``."""
    end = {tp.partition: tp.offset for tp in watermarks(settings)}
    consumer = make_consumer(settings.kafka_bootstrap_servers, "tracing-probe")
    consumer.assign(start)
    try:
        remaining = sum(end[tp.partition] - tp.offset for tp in start)
        while remaining > 0:
            message = consumer.poll(5)
            assert message is not None, "the published command did not arrive"
            if OrderCommand.decode(message.value() or b"").order_id == order_id:
                return message
            remaining -= 1
    finally:
        consumer.close()
    raise AssertionError(f"no command for order {order_id} on the orders topic")


LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def api_log() -> Iterator[LogLines]:
    """The API's log lines from here on, as its handler formats them (JSON)."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(api_logger.registered_formatter)
    logging.getLogger(api_logger.name).addHandler(handler)
    yield lambda: log_lines(written.getvalue())
    logging.getLogger(api_logger.name).removeHandler(handler)


def log_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return lines


def count(metrics: PrometheusMetrics, spec: Any, suffix: str = "", **labels: str) -> float:
    return metrics.sample(spec, suffix, **labels) or 0.0


def test_an_order_carries_its_correlation_id_from_the_request_to_kafka_and_the_logs(
    client: Client, trader: ApiKey, api_settings: Settings, metrics: PrometheusMetrics,
    db: Conn, api_log: LogLines
) -> None:
    start = watermarks(api_settings)
    accepted_before = count(metrics, ORDERS_ACCEPTED, market="BTCUSDT", type="LIMIT")
    requests_before = count(metrics, API_REQUESTS, route="/api/v3/order", method="POST",
                            status="200")
    timed_before = count(metrics, API_REQUEST_SECONDS, "_count", route="/api/v3/order",
                         method="POST")
    before_ms = time.time_ns() // 1_000_000

    placed = place(client, trader, LIMIT_BUY, "trace-one-order")

    assert placed.status_code == 200, placed.body
    assert placed.headers[HTTP_HEADER] == "trace-one-order"
    order_id = int(placed.json_body["orderId"])
    received = command_message(api_settings, start, order_id).headers() or []
    # A consumed message's headers are a list of (name, bytes) pairs.
    assert isinstance(received, list)
    headers = {name: value for name, value in received if isinstance(value, bytes)}
    assert headers[KAFKA_HEADER] == b"trace-one-order"
    assert before_ms <= int(headers[ACCEPTED_AT_HEADER]) <= time.time_ns() // 1_000_000
    accepted = [line for line in api_log()
                if line.get("message") == "order accepted"]
    assert [(a["order_id"], a["client_order_id"], a["market"], a["correlation_id"],
             a["service"]) for a in accepted] == [
        (order_id, placed.json_body["clientOrderId"], "BTCUSDT", "trace-one-order",
         "exchange-api")]
    assert count(metrics, ORDERS_ACCEPTED, market="BTCUSDT", type="LIMIT") == (
        accepted_before + 1)
    assert count(metrics, API_REQUESTS, route="/api/v3/order", method="POST",
                 status="200") == requests_before + 1
    assert count(metrics, API_REQUEST_SECONDS, "_count", route="/api/v3/order",
                 method="POST") == timed_before + 1
    assert_ledger_invariants(db)


def test_a_refused_order_answers_with_the_id_and_counts_by_code_and_listed_market(
    client: Client, trader: ApiKey, metrics: PrometheusMetrics, api_log: LogLines
) -> None:
    unknown_before = count(metrics, ORDERS_REJECTED, market="unknown", reason="-1121")
    filter_before = count(metrics, ORDERS_REJECTED, market="BTCUSDT", reason="-1013")

    unknown = place(client, trader, {**LIMIT_BUY, "symbol": "NOPE"}, "trace-refused")
    off_tick = place(client, trader, {**LIMIT_BUY, "price": "20000.001"}, "trace-off-tick")

    assert (unknown.status_code, unknown.json_body["code"]) == (400, -1121)
    assert unknown.headers[HTTP_HEADER] == "trace-refused"
    assert (off_tick.status_code, off_tick.json_body["code"]) == (400, -1013)
    assert count(metrics, ORDERS_REJECTED, market="unknown", reason="-1121") == (
        unknown_before + 1)
    assert count(metrics, ORDERS_REJECTED, market="BTCUSDT", reason="-1013") == (
        filter_before + 1)
    refused = [(line["code"], line["market"], line["correlation_id"])
               for line in api_log()
               if line.get("message") == "order refused"]
    assert refused == [("-1121", "unknown", "trace-refused"),
                       ("-1013", "BTCUSDT", "trace-off-tick")]


def test_a_request_without_a_usable_id_gets_a_new_one_on_every_answer(client: Client) -> None:
    first = client.http.get("/api/v3/ping")
    second = client.http.get("/api/v3/ping", headers={HTTP_HEADER: "spaces are not allowed"})
    missing = client.http.get("/api/v3/no-such-route")

    ids = {first.headers[HTTP_HEADER], second.headers[HTTP_HEADER],
           missing.headers[HTTP_HEADER]}
    assert missing.status_code == 404
    assert len(ids) == 3
    assert "spaces are not allowed" not in ids


def test_a_rate_limit_refusal_counts_by_the_limit_and_carries_the_id(
    api_app: ExchangeApp, api_settings: Settings, client: Client, metrics: PrometheusMetrics
) -> None:
    api_app.use_services(bootstrap_api(api_settings.model_copy(
        update={"api_key_weight_per_minute": 1})))
    try:
        key = Caller(client, "bot@example.com").new_api_key(["READ"])
        before = count(metrics, RATE_LIMITED, limit="api_key_weight")

        answers = [key.get("/api/v3/account") for _ in range(2)]

        assert [a.status_code for a in answers] == [200, 429]
        assert answers[1].headers[HTTP_HEADER]
        assert count(metrics, RATE_LIMITED, limit="api_key_weight") == before + 1
    finally:
        api_app.use_services(bootstrap_api(api_settings))

"""The sweeper publishes a command the API committed but could not publish, with the
command's stored accept time and a correlation id naming the sweep, and counts it; it
sends it again only a threshold later, and never once the matcher has applied it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.bootstrap import SweeperServices, bootstrap_sweeper
from chalicelib.domain.errors import ApiError
from chalicelib.domain.metric_catalogue import SWEEPER_REPUBLISHED
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import NewOrder, OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, KAFKA_HEADER
from chalicelib.service_layer import order_intake
from chalicelib.service_layer.order_intake import Intake, Wait
from chalicelib.settings import Settings
from lambdas.sweeper import sweep
from tests.integration.matching.support import create_topic, read_topic
from tests.integration.service_layer import btcusdt_buyer
from tests.support.fakes.clock import SleeplessClock
from tests.support.fakes.publisher import FakePublisher
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
BTC, USDT = 10**8, 10**6


@pytest.fixture
def stuck_order(db: Conn, db_url: str) -> int:
    """An order whose command is committed and unpublished (the broker was out of reach)
    an hour ago."""
    user = btcusdt_buyer(db)
    down = FakePublisher()
    down.up = False

    def unit_of_work() -> AbstractContextManager[Conn]:
        return psycopg.connect(db_url)

    order = NewOrder(user, "BTCUSDT", "stuck-1", Side.BUY, OrderType.LIMIT, TimeInForce.GTC,
                     20_000 * USDT, BTC // 2, 0, SelfTradePrevention.EXPIRE_MAKER)
    with pytest.raises(ApiError):
        order_intake.place(Intake(unit_of_work, down, SleeplessClock(), result_wait_s=0),
                           "BTCUSDT", lambda _market: order, Wait.NOTHING)
    row = db.execute("UPDATE order_commands SET created_at = created_at - interval '1 hour'"
                     " WHERE applied_at IS NULL RETURNING id").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def sweeper(test_settings: Settings, kafka_bootstrap: str,
            topic_name: str) -> Iterator[SweeperServices]:
    create_topic(kafka_bootstrap, topic_name, 1)
    services = bootstrap_sweeper(test_settings.model_copy(update={"orders_topic": topic_name}))
    # A minute: the stuck command is an hour old, and a second sweep at once leaves it.
    yield dataclasses.replace(services, threshold_seconds=60)
    services.close()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.delete_topics([topic_name], operation_timeout=10)[topic_name].result(timeout=30)


def test_a_stuck_command_goes_out_with_its_accept_time_and_the_sweep_correlation_id(
    db: Conn, stuck_order: int, sweeper: SweeperServices, kafka_bootstrap: str,
    topic_name: str
) -> None:
    metrics = sweeper.metrics
    assert isinstance(metrics, PrometheusMetrics)
    before = metrics.sample(SWEEPER_REPUBLISHED) or 0.0
    row = db.execute("SELECT (extract(epoch FROM created_at) * 1000)::bigint"
                     " FROM order_commands WHERE id = %s", (stuck_order,)).fetchone()
    assert row is not None

    assert sweep(sweeper) == 1

    [message] = read_topic(kafka_bootstrap, topic_name)
    assert OrderCommand.decode(message.value() or b"").command_id == stuck_order
    headers = message.headers() or []
    assert isinstance(headers, list)
    assert dict(headers) == {KAFKA_HEADER: f"sweep-{stuck_order}".encode(),
                             ACCEPTED_AT_HEADER: str(row[0]).encode()}
    assert metrics.sample(SWEEPER_REPUBLISHED) == before + 1
    assert sweep(sweeper) == 0
    db.execute("UPDATE order_commands SET published_at = published_at - interval '1 hour'")
    assert sweep(sweeper) == 1  # still not applied an hour later (no matcher runs here)
    db.execute("UPDATE order_commands SET applied_at = now(),"
               " published_at = published_at - interval '1 hour'")
    assert sweep(sweeper) == 0
    assert_ledger_invariants(db)

"""A command's correlation id through a running matcher: on the batch's log line, on the
events it caused, in the end-to-end latency; and the book's gauges after a scenario."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Message, Producer

from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import Side
from chalicelib.domain.stream_events import DepthEvent, OrderEvent, TradeEvent, decode
from chalicelib.domain.tracing import ACCEPTED_AT_HEADER, KAFKA_HEADER, TRACE_HEADER
from matching_cluster.service.consumer import Matcher
from matching_cluster.service.metrics import ASK, BID
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

from .conftest import Topics
from .support import (
    BTC_UNIT,
    Market,
    create_users,
    fund,
    new_order,
    place_orders,
    publish,
    read_topic,
    wait_applied,
)

Conn = psycopg.Connection[Any]
PRICE = 50_000 * 100
TRACE = "Root=1-67890abc-0123456789abcdef01234567"


def publish_traced(producer: Producer, topic: str, command: OrderCommand,
                   correlation_id: str, *, trace: str | None = None) -> None:
    """Publish as the API does: the request's correlation id and the accept time."""
    headers: list[tuple[str, str | bytes | None]] = [
        (KAFKA_HEADER, correlation_id.encode()),
               (ACCEPTED_AT_HEADER, str(time.time_ns() // 1_000_000).encode())]
    if trace:
        headers.append((TRACE_HEADER, trace.encode()))
    producer.produce(topic, key=command.market, value=command.encode(), headers=headers)
    assert producer.flush(30) == 0


def header(message: Message, key: str) -> str | None:
    headers = message.headers() or []
    values = [v for k, v in (headers.items() if isinstance(headers, dict) else headers)
              if k == key]
    return values[0].decode() if values and isinstance(values[0], bytes) else None


def test_correlation_ids_reach_the_log_the_events_and_the_latency_histogram(
    db: Conn, producer: Producer, topics: Topics, market: Market, kafka_bootstrap: str,
    start_matcher: Callable[[str], Matcher], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="matching_cluster.service.settled")
    matcher = start_matcher("m1")
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): BTC_UNIT, (buyer, "USDT"): 100_000 * 100})

    # Two asks, one request each; then a bid (from a third, with an X-Ray trace) that
    # takes part of the best ask; then an untraced ask (a command from before tracing).
    asks = place_orders(db, market, [
        new_order(seller, Side.SELL, price=PRICE, qty=BTC_UNIT // 2),
        new_order(seller, Side.SELL, price=PRICE + 100, qty=BTC_UNIT // 4)])
    for command, correlation_id in zip(asks, ["req-ask-1", "req-ask-2"], strict=True):
        publish_traced(producer, topics.orders, command, correlation_id)
    wait_applied(db, [c.command_id for c in asks])
    (bid,) = place_orders(db, market, [new_order(buyer, Side.BUY, price=PRICE,
                                                 qty=BTC_UNIT // 10)])
    publish_traced(producer, topics.orders, bid, "req-bid", trace=TRACE)
    wait_applied(db, [bid.command_id])
    untraced = place_orders(db, market, [new_order(seller, Side.SELL, price=PRICE + 200,
                                                   qty=BTC_UNIT // 10)])
    publish(producer, topics.orders, untraced)
    wait_applied(db, [untraced[0].command_id])
    assert_ledger_invariants(db)

    # Each batch's log line names its ids and its orders.
    def batch_lines() -> list[dict[str, Any]]:
        return [vars(r) for r in caplog.records if r.getMessage() == "batch settled"]

    lines = wait_until(batch_lines, until=lambda seen: sum(len(s["order_ids"]) for s in seen) == 4,
                       timeout=30, what="every order on a batch line")
    bid_line = next(line for line in lines if "req-bid" in line["correlation_ids"])
    assert bid_line["correlation_ids"] == ["req-bid"]
    assert bid_line["order_ids"] == [bid.order_id]
    assert bid_line["trades"] == 1
    assert {"partitions", "offsets", "size"} <= bid_line.keys()
    assert sorted(i for line in lines for i in line["correlation_ids"]) == [
        "req-ask-1", "req-ask-2", "req-bid"]
    assert any(line["order_ids"] == [untraced[0].order_id] and line["correlation_ids"] == []
               for line in lines)

    # The trade, the taker's and the maker's order events and the bid's depth carry the
    # bid's id (and its trace); the asks' own events carry theirs.
    market_events = read_topic(kafka_bootstrap, topics.market_events)
    (trade,) = [m for m in market_events if isinstance(decode(m.value() or b""), TradeEvent)]
    assert header(trade, KAFKA_HEADER) == "req-bid"
    assert header(trade, TRACE_HEADER) == TRACE
    assert header(trade, ACCEPTED_AT_HEADER) is not None
    depth = [m for m in market_events if isinstance(decode(m.value() or b""), DepthEvent)]
    assert "req-bid" in [header(m, KAFKA_HEADER) for m in depth]
    assert header(depth[-1], KAFKA_HEADER) is None  # the untraced ask's
    order_events = [(decode(m.value() or b""), header(m, KAFKA_HEADER))
                    for m in read_topic(kafka_bootstrap, topics.order_events)]
    causes = {(e.order_id, e.status.value): cause for e, cause in order_events
              if isinstance(e, OrderEvent)}
    assert causes == {
        (asks[0].order_id, "NEW"): "req-ask-1", (asks[1].order_id, "NEW"): "req-ask-2",
        (asks[0].order_id, "PARTIALLY_FILLED"): "req-bid", (bid.order_id, "FILLED"): "req-bid",
        (untraced[0].order_id, "NEW"): None}

    # Metrics: the three traced commands' end-to-end latency, the trade, and the book:
    # asks at three prices (the best one partly filled), no bid.
    metrics = matcher.metrics
    symbol = market.symbol
    wait_until(lambda: metrics.sample(catalogue.OPEN_ORDERS, market=symbol),
               until=lambda count: count == 3, timeout=30, what="three open orders")
    assert metrics.sample(catalogue.ORDER_END_TO_END_SECONDS, "_count") == 3
    assert (metrics.sample(catalogue.ORDER_END_TO_END_SECONDS, "_sum") or 0) >= 0
    assert metrics.sample(catalogue.TRADES, market=symbol) == 1
    assert metrics.sample(catalogue.BOOK_DEPTH_LEVELS, market=symbol, side=ASK) == 3
    assert metrics.sample(catalogue.BOOK_DEPTH_LEVELS, market=symbol, side=BID) == 0
    assert metrics.sample(catalogue.MATCHER_COMMANDS, outcome="applied") == 4
    assert metrics.sample(catalogue.MATCHER_BATCH_SIZE, "_count") == len(lines)
    wait_until(lambda: metrics.sample(catalogue.MATCHER_PUBLISH_LAG_SECONDS, "_count"),
               until=lambda count: count == len(lines), timeout=30,
               what="every batch's events acknowledged")
    assert metrics.sample(catalogue.KAFKA_PUBLISH_FAILURES, service="matcher") is None

"""Batches that queue up for the publisher: Redis is written once per market from the
newest state with every trade, and every batch still gets its own events; a batch's
aggregate trades follow its trades on market-events, never in Redis; a failed Redis write
is counted and the events go out all the same."""

from __future__ import annotations

import json

import redis

from chalicelib.adapters.kafka import make_producer
from chalicelib.adapters.settled_orders import decode_settled, settled_channel
from chalicelib.domain.metric_catalogue import (
    KAFKA_PUBLISH_FAILURES,
    MATCHER_PUBLISH_LAG_SECONDS,
    REDIS_PUBLISH_FAILURES,
)
from chalicelib.domain.orders import OrderStatus, OrderType, Side
from chalicelib.domain.stream_events import (
    AggTradeEvent,
    DepthEvent,
    OrderEvent,
    TradeEvent,
    decode,
    decode_trade,
)
from matching_cluster.engine import Trade
from matching_cluster.service.metrics import Metrics
from matching_cluster.service.publishing import MarketUpdate, OrdersSettled, Publisher
from matching_cluster.service.settlement import OrderState
from tests.integration.adapters import closed_port
from tests.support.polling import wait_until

from .conftest import Topics
from .support import read_topic

PRICE = 5_000_000
# As long as the producer keeps trying (delivery.timeout.ms): a fresh topic's leader may
# take seconds to be known on a busy machine, and a shorter flush left its events unsent.
FLUSH_SECONDS = 30


def trade(seq: int, trade_id: int) -> Trade:
    return Trade(seq, trade_id, 1, 10, 2, 20, False, PRICE + trade_id, 100, 5_000, 0, 0)


def update(first_seq: int, last_seq: int, trades: list[Trade], best_bid: int,
           time_ms: int) -> MarketUpdate:
    order = OrderState(2, 20, Side.BUY, OrderType.LIMIT, PRICE, 1_000, 100 * len(trades), 0,
                       0, OrderStatus.PARTIALLY_FILLED, last_seq=last_seq)
    return MarketUpdate("BTCUSDT", first_seq, last_seq, [(best_bid, 7)], [], [(best_bid, 7)], [],
                        trades, [order], time_ms)


def test_queued_batches_write_redis_once_with_every_trade_and_keep_every_event(
    redis_client: redis.Redis, kafka_bootstrap: str, topics: Topics,
) -> None:
    publisher = Publisher(
        redis_client, make_producer(kafka_bootstrap), metrics=Metrics(),
        market_events_topic=topics.market_events, order_events_topic=topics.order_events)
    # What the publisher thread sends when three batches queued up behind a slow send.
    publisher.send([update(1, 2, [trade(2, 1)], PRICE - 100, 1_000),
                    update(3, 3, [], PRICE - 200, 2_000),
                    update(4, 6, [trade(5, 2), trade(6, 3)], PRICE - 300, 3_000)])
    publisher.flush(FLUSH_SECONDS)

    book = json.loads(redis_client.get("book:BTCUSDT") or b"{}")
    assert book == {"seq": 6, "bids": [[str(PRICE - 300), "7"]], "asks": []}
    recent = [decode_trade(t) for t in redis_client.lrange("trades:BTCUSDT", 0, -1)]
    assert [(t.trade_id, t.time_ms) for t in recent] == [(3, 3_000), (2, 3_000), (1, 1_000)]
    assert json.loads(redis_client.get("last:BTCUSDT") or b"{}")["trade_id"] == 3
    assert redis_client.hget("ticker:BTCUSDT", "best_bid") == str(PRICE - 300).encode()

    events = [decode(m.value() or b"") for m in read_topic(kafka_bootstrap,
                                                           topics.market_events)]
    assert [(e.first_seq, e.last_seq) for e in events if isinstance(e, DepthEvent)] == [
        (1, 2), (3, 3), (4, 6)]
    assert [e.trade_id for e in events if isinstance(e, TradeEvent)] == [1, 2, 3]
    orders = [decode(m.value() or b"") for m in read_topic(kafka_bootstrap,
                                                           topics.order_events)]
    assert [o.seq for o in orders if isinstance(o, OrderEvent)] == [2, 3, 6]


def test_a_taker_sweeping_makers_at_two_prices_publishes_two_aggregates_after_its_trades(
    redis_client: redis.Redis, kafka_bootstrap: str, topics: Topics,
) -> None:
    publisher = Publisher(
        redis_client, make_producer(kafka_bootstrap), metrics=Metrics(),
        market_events_topic=topics.market_events, order_events_topic=topics.order_events)
    # Taker 20 buys from makers 10, 11 and 12 at PRICE, then from 13 at PRICE + 1.
    sweep = [Trade(4 + i, 5 + i, maker, 1, 20, 2, False, price, 100 + i, price * (100 + i), 0, 0)
             for i, (maker, price) in enumerate([(10, PRICE), (11, PRICE), (12, PRICE),
                                                 (13, PRICE + 1)])]
    publisher.send([update(4, 9, sweep, PRICE - 100, 4_000)])
    publisher.flush(FLUSH_SECONDS)

    events = [decode(m.value() or b"") for m in read_topic(kafka_bootstrap,
                                                           topics.market_events)]
    assert [type(e).__name__ for e in events] == [
        *["TradeEvent"] * 4, "AggTradeEvent", "AggTradeEvent", "DepthEvent"]
    assert [e for e in events if isinstance(e, AggTradeEvent)] == [
        AggTradeEvent(market="BTCUSDT", seq=6, agg_id=5, time_ms=4_000, price=PRICE, qty=303,
                      first_trade_id=5, last_trade_id=7, buyer_is_maker=False),
        AggTradeEvent(market="BTCUSDT", seq=7, agg_id=8, time_ms=4_000, price=PRICE + 1,
                      qty=103, first_trade_id=8, last_trade_id=8, buyer_is_maker=False)]
    recent = [decode_trade(t) for t in redis_client.lrange("trades:BTCUSDT", 0, -1)]
    assert [t.trade_id for t in recent] == [8, 7, 6, 5]


def test_a_redis_write_that_fails_is_counted_and_the_events_still_go_out(
    kafka_bootstrap: str, topics: Topics,
) -> None:
    metrics = Metrics()
    unreachable = redis.Redis(port=closed_port(), socket_connect_timeout=1)
    publisher = Publisher(
        unreachable, make_producer(kafka_bootstrap), metrics=metrics,
        market_events_topic=topics.market_events, order_events_topic=topics.order_events)

    publisher.send([update(1, 2, [trade(2, 1)], PRICE - 100, 1_000)])
    publisher.flush(FLUSH_SECONDS)

    assert metrics.sample(REDIS_PUBLISH_FAILURES, service="matcher") == 1
    events = [decode(m.value() or b"") for m in read_topic(kafka_bootstrap,
                                                           topics.market_events)]
    assert [type(e).__name__ for e in events] == ["TradeEvent", "AggTradeEvent", "DepthEvent"]
    # The broker took every event of the update: its publish lag, and no failure.
    assert metrics.sample(MATCHER_PUBLISH_LAG_SECONDS, "_count") == 1
    assert metrics.sample(KAFKA_PUBLISH_FAILURES, service="matcher") is None


def test_queued_batches_name_their_settled_orders_in_one_message(
    redis_client: redis.Redis, kafka_bootstrap: str, topics: Topics,
) -> None:
    publisher = Publisher(
        redis_client, make_producer(kafka_bootstrap), metrics=Metrics(),
        market_events_topic=topics.market_events, order_events_topic=topics.order_events)
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(settled_channel(redis_client))
    wait_until(lambda: redis_client.pubsub_numsub(settled_channel(redis_client)),
               timeout=10, what="the subscription", until=lambda n: n[0][1] >= 1)
    try:
        publisher.send([update(1, 2, [trade(2, 1)], PRICE - 100, 1_000), OrdersSettled([20, 21]),
                        OrdersSettled([22])])
        message = wait_until(lambda: listener.get_message(timeout=0.1), timeout=10,
                             what="the settled orders message")
    finally:
        listener.close()
        publisher.flush(FLUSH_SECONDS)

    assert decode_settled(message["data"]) == [20, 21, 22]

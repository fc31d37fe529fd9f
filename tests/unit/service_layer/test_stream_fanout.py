"""The fan-out with its ports faked (``tests/support/fakes``): each event reaches
exactly the connections subscribed to a stream it feeds, in Binance's raw or combined
form; gone connections are forgotten; a failing post costs only that message. Public
streams other than ``@ticker`` need no database: the market is known up front."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from chalicelib.domain.candles import Interval
from chalicelib.domain.clock import ManualClock
from chalicelib.domain.market_data import BookSnapshot, MarketSnapshot
from chalicelib.domain.orders import Market, MarketSpec, OrderStatus, OrderType, Side
from chalicelib.domain.stream_events import (
    AggTradeEvent,
    DepthEvent,
    KlineEvent,
    OrderEvent,
    TradeEvent,
    encode,
)
from chalicelib.service_layer import Conn
from chalicelib.service_layer.stream_fanout import Delivery, FanoutContext, OrderSince, fan_out
from chalicelib.service_layer.stream_names import user_channel
from tests.support.fakes.market_cache import FakeMarketCache
from tests.support.fakes.sender import FakeSender
from tests.support.fakes.subscriptions import FakeEventProgress, FakeSubscriptions

NOW = 1_700_000_000_000
BTCUSDT = Market(MarketSpec("BTCUSDT", 10**8, 10_000, 10_000, 10_000, 10**11), "BTC", "USDT",
                 8, 6, "TRADING")
TRADE = TradeEvent(market="BTCUSDT", seq=9, trade_id=3, time_ms=NOW - 5, price=20_000 * 10**6,
                   qty=10**6, quote_qty=200 * 10**6, buyer_is_maker=True, maker_order_id=1,
                   taker_order_id=2)
DEPTH = DepthEvent(market="BTCUSDT", first_seq=8, last_seq=9, bids=[(19_999 * 10**6, 10**6)],
                   asks=[])


def no_database() -> AbstractContextManager[Conn]:
    raise AssertionError("these streams are served without the database")


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


@pytest.fixture
def ctx(sender: FakeSender) -> Iterator[FanoutContext]:
    context = FanoutContext(FakeSubscriptions(), FakeEventProgress(),
                            FakeMarketCache(ManualClock(NOW)), no_database, sender,
                            lambda: NOW, markets={"BTCUSDT": BTCUSDT})
    yield context
    context.pool.shutdown()


def listening(ctx: FanoutContext, sender: FakeSender, *streams: str,
              combined: bool = False) -> str:
    connection_id = sender.connect()
    ctx.subscriptions.add(connection_id, list(streams))
    if combined:
        ctx.subscriptions.set_combined(connection_id)
    return connection_id


def received(sender: FakeSender, connection_id: str) -> list[dict[str, Any]]:
    return [json.loads(message) for message in sender.inboxes[connection_id]]


def test_a_trade_reaches_exactly_the_connections_subscribed_to_its_streams(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    trades = listening(ctx, sender, "btcusdt@trade")
    both = listening(ctx, sender, "btcusdt@trade", "btcusdt@kline_1m")
    other_stream = listening(ctx, sender, "btcusdt@depth")
    other_market = listening(ctx, sender, "ethusdt@trade")

    delivery = fan_out(ctx, encode(TRADE))

    expected = {"e": "trade", "E": NOW, "s": "BTCUSDT", "t": 3, "p": "20000.000000",
                "q": "0.01000000", "T": NOW - 5, "m": True, "M": True}
    assert (received(sender, trades), received(sender, both)) == ([expected], [expected])
    assert (received(sender, other_stream), received(sender, other_market)) == ([], [])
    assert delivery == Delivery(messages=2, connections=2, gone=0)


def test_the_agg_trade_stream_takes_aggregates_and_the_trade_stream_trades(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    aggs = listening(ctx, sender, "btcusdt@aggTrade")
    trades = listening(ctx, sender, "btcusdt@trade")
    aggregate = AggTradeEvent(market="BTCUSDT", seq=11, agg_id=3, time_ms=NOW - 5,
                              price=20_000 * 10**6, qty=3 * 10**6, first_trade_id=3,
                              last_trade_id=5, buyer_is_maker=True)

    assert fan_out(ctx, encode(TRADE)) == Delivery(messages=1, connections=1, gone=0)
    assert fan_out(ctx, encode(aggregate)) == Delivery(messages=1, connections=1, gone=0)

    assert [m["e"] for m in received(sender, trades)] == ["trade"]
    assert received(sender, aggs) == [
        {"e": "aggTrade", "E": NOW, "s": "BTCUSDT", "a": 3, "p": "20000.000000",
         "q": "0.03000000", "f": 3, "l": 5, "T": NOW - 5, "m": True, "M": True}]


def test_a_combined_connection_gets_each_payload_with_its_stream_name(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    raw = listening(ctx, sender, "btcusdt@depth")
    combined = listening(ctx, sender, "btcusdt@depth", combined=True)

    fan_out(ctx, encode(DEPTH))

    update = {"e": "depthUpdate", "E": NOW, "s": "BTCUSDT", "U": 8, "u": 9,
              "b": [["19999.000000", "0.01000000"]], "a": []}
    assert received(sender, raw) == [update]
    assert received(sender, combined) == [{"stream": "btcusdt@depth", "data": update}]


def test_book_streams_show_the_cached_book_and_wait_for_one(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    top = listening(ctx, sender, "btcusdt@bookTicker", "btcusdt@depth5@100ms")

    assert fan_out(ctx, encode(DEPTH)) == Delivery(0, 1, 0)  # no book cached yet
    ctx.market_data.restore(MarketSnapshot("BTCUSDT", BookSnapshot(
        9, [(19_999 * 10**6, 10**6)], [(20_001 * 10**6, 2 * 10**6)]), []))
    fan_out(ctx, encode(DEPTH))

    assert received(sender, top) == [
        {"u": 9, "s": "BTCUSDT", "b": "19999.000000", "B": "0.01000000",
         "a": "20001.000000", "A": "0.02000000"},
        {"lastUpdateId": 9, "bids": [["19999.000000", "0.01000000"]],
         "asks": [["20001.000000", "0.02000000"]]}]


def test_a_candle_reaches_its_intervals_kline_stream(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    minute = listening(ctx, sender, "btcusdt@kline_1m")
    hour = listening(ctx, sender, "btcusdt@kline_1h")
    kline = KlineEvent(market="BTCUSDT", interval=Interval.M1, t=NOW - 60_000, T=NOW - 1,
                       o=1, h=1, l=1, c=1, v=1, q=1, n=1, V=0, Q=0, f=3, L=3)

    fan_out(ctx, encode(kline))

    assert [(m["e"], m["k"]["i"], m["k"]["L"]) for m in received(sender, minute)] == [
        ("kline", "1m", 3)]
    assert received(sender, hour) == []


def test_a_gone_connection_is_forgotten_and_the_others_still_served(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    gone = listening(ctx, sender, "btcusdt@trade", "btcusdt@depth", combined=True)
    live = listening(ctx, sender, "btcusdt@trade")
    sender.disconnect(gone)

    delivery = fan_out(ctx, encode(TRADE))

    assert delivery == Delivery(messages=1, connections=2, gone=1)
    assert len(received(sender, live)) == 1
    assert ctx.subscriptions.subscribers(["btcusdt@trade", "btcusdt@depth"]) == {
        "btcusdt@trade": {live}}
    assert ctx.subscriptions.combined([gone]) == set()


def test_a_failing_post_is_skipped_and_the_connection_kept(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    connection_id = listening(ctx, sender, "btcusdt@trade")
    sender.reachable = False

    assert fan_out(ctx, encode(TRADE)) == Delivery(messages=0, connections=1, gone=0)
    assert ctx.subscriptions.channels_of(connection_id) == {"btcusdt@trade"}


def test_an_order_event_already_delivered_is_not_sent_again(
    ctx: FanoutContext, sender: FakeSender
) -> None:
    owner = listening(ctx, sender, user_channel(7))
    event = OrderEvent(market="BTCUSDT", seq=9, order_id=5, user_id=7, side=Side.BUY,
                       order_type=OrderType.LIMIT, price=1, quantity=1, executed_qty=0,
                       cumulative_quote_qty=0, status=OrderStatus.NEW)
    ctx.progress.record(5, 9)

    assert fan_out(ctx, encode(event)) == Delivery(0, 0, 0)
    assert received(sender, owner) == []


def test_an_order_older_than_the_records_reports_its_events_batch_alone() -> None:
    event = OrderEvent(market="BTCUSDT", seq=60, batch_first_seq=55, order_id=5, user_id=7,
                       side=Side.SELL, order_type=OrderType.LIMIT, price=1, quantity=3,
                       executed_qty=2, cumulative_quote_qty=2,
                       status=OrderStatus.PARTIALLY_FILLED)
    assert OrderSince(41).previous_seq(event, accepted_seq=20) == 41  # recorded
    # Redis restarted empty after the order's acceptance: not again what went before.
    assert OrderSince(0, recorded_from=50).previous_seq(event, accepted_seq=20) == 54
    # Accepted since the records began: none recorded means none handled.
    assert OrderSince(0, recorded_from=50).previous_seq(event, accepted_seq=50) == 0
    older = dataclasses.replace(event, batch_first_seq=None)  # an older matcher's
    assert OrderSince(0, recorded_from=50).previous_seq(older, accepted_seq=20) == 0


def test_an_unreadable_event_is_skipped(ctx: FanoutContext, sender: FakeSender) -> None:
    listening(ctx, sender, "btcusdt@trade")

    assert fan_out(ctx, b'{"type":"trade","market":"BTCUSDT"}') == Delivery(0, 0, 0)

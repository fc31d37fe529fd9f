"""Public WebSocket streams through Binance's own libraries, unmodified but for their
base URLs: the official connector's ``SpotWebsocketStreamClient`` (which connects to a
bare ``/ws`` or ``/stream`` and subscribes), python-binance's ``BinanceSocketManager``
(which names its streams in the path) and CCXT Pro's way (``/ws/<a number>``, then
SUBSCRIBE). Every payload is checked field by field against Binance's documented
example, and its values against the trade that caused it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from binance.async_client import AsyncClient
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient
from binance.ws.streams import BinanceSocketManager
from websockets.sync.client import connect

from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    SYMBOL,
    WAIT_SECONDS,
    Inbox,
    assert_like_example,
    example,
    gateway,
    stream_url_fixture,
    streaming,
    trade,
)
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]

# Each connector call, the stream it subscribes to and the example its payloads follow.
CONNECTOR_STREAMS: list[tuple[str, dict[str, Any], str, str]] = [
    ("agg_trade", {"symbol": "btcusdt"}, "aggTrade", "stream_aggTrade"),
    ("mini_ticker", {"symbol": "btcusdt"}, "24hrMiniTicker", "stream_24hrMiniTicker"),
    ("mini_ticker", {}, "24hrMiniTicker", "stream_24hrMiniTicker"),  # !miniTicker@arr
    ("ticker", {}, "24hrTicker", "stream_24hrTicker"),  # !ticker@arr
    ("rolling_window_ticker", {"symbol": "btcusdt", "windowSize": "1h"}, "1hTicker",
     "stream_1hTicker"),
    ("rolling_window_ticker_all_symbols", {"windowSize": "4h"}, "4hTicker",
     "stream_1hTicker"),
    ("diff_book_depth", {"symbol": "btcusdt"}, "depthUpdate", "stream_depthUpdate"),  # @1000ms
]


@pytest.fixture
def connector_inbox(stream_url: str) -> Iterator[tuple[SpotWebsocketStreamClient, Inbox]]:
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=stream_url, on_message=inbox.on_message)
    yield client, inbox
    client.stop()


def test_the_connector_subscribes_on_a_bare_ws_and_gets_every_trade_driven_stream(
        connector_inbox: tuple[SpotWebsocketStreamClient, Inbox],
        maker: Trader, taker: Trader, db: Conn) -> None:
    client, inbox = connector_inbox
    for request_id, (call, kwargs, _, _) in enumerate(CONNECTOR_STREAMS, start=1):
        getattr(client, call)(id=request_id, **kwargs)
    client.partial_book_depth("btcusdt", level=5, id=90)  # btcusdt@depth5@1000ms
    client.send_message_to_server("btcusdt@avgPrice", id=91)
    client.list_subscribe(id=92)
    listed = wait_until(lambda: inbox.reply(92), timeout=WAIT_SECONDS, what="the list")
    assert listed is not None
    assert sorted(listed["result"]) == sorted([
        "btcusdt@aggTrade", "btcusdt@miniTicker", "!miniTicker@arr", "!ticker@arr",
        "btcusdt@ticker_1h", "!ticker_4h@arr", "btcusdt@depth@1000ms",
        "btcusdt@depth5@1000ms", "btcusdt@avgPrice"])
    assert all(inbox.reply(i) == {"result": None, "id": i}
               for i in (*range(1, len(CONNECTOR_STREAMS) + 1), 90, 91))

    trade(maker, taker, "0.1", "20000")
    last = wait_until_settled(db, SYMBOL)
    (trade_id,) = db.execute("SELECT max(id) FROM trades WHERE market = %s",
                             (SYMBOL,)).fetchone() or (0,)
    for _, _, kind, name in CONNECTOR_STREAMS:
        for payload in inbox.wait_for(kind):
            assert_like_example(payload, example(name))
    (agg,) = inbox.of_type("aggTrade")
    assert (agg["s"], agg["a"], agg["f"], agg["l"], agg["p"], agg["q"], agg["m"]) == (
        SYMBOL, trade_id, trade_id, trade_id, "20000.000000", "0.10000000", False)
    assert [t["c"] for t in inbox.of_type("24hrMiniTicker")] == ["20000.000000"] * 2
    ticker = inbox.of_type("24hrTicker")[0]
    assert (ticker["s"], ticker["c"], ticker["L"], ticker["n"]) == (
        SYMBOL, "20000.000000", trade_id, 1)
    for window in inbox.of_type("1hTicker") + inbox.of_type("4hTicker"):
        assert (window["c"], window["v"], window["n"], window["F"], window["L"]) == (
            "20000.000000", "0.10000000", 1, trade_id, trade_id)
        assert window["O"] % 60_000 == 0
    # The 1000 ms diff holding the trade may come a window after the maker's order's.
    wait_until(lambda: [d["u"] for d in inbox.of_type("depthUpdate")],
               until=lambda ids: last in ids, timeout=WAIT_SECONDS,
               what=f"a depth diff ending at update {last}")
    wait_until(lambda: [e for e in inbox.events if isinstance(e, dict) and "lastUpdateId" in e
                        and e["lastUpdateId"] == last], timeout=WAIT_SECONDS,
               what="the partial book after the trade")
    partial = [e for e in inbox.events if isinstance(e, dict) and "lastUpdateId" in e][-1]
    assert_like_example({**partial, "bids": [["1", "1"]], "asks": [["1", "1"]]},
                        example("stream_partialDepth"))
    (average,) = wait_until(lambda: inbox.of_type("avgPrice"), timeout=WAIT_SECONDS,
                            what="the average price")
    assert_like_example(average, example("stream_avgPrice"))
    assert (average["s"], average["i"], average["w"]) == (SYMBOL, "5m", "20000.000000")
    assert_ledger_invariants(db)


def test_the_connectors_combined_stream_wraps_each_payload_with_its_stream(
        stream_url: str, maker: Trader, taker: Trader,
        db: Conn) -> None:
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=stream_url, on_message=inbox.on_message,
                                       is_combined=True)
    try:
        client.agg_trade("btcusdt", id=1)
        client.book_ticker("btcusdt", id=2)
        wait_until(lambda: inbox.reply(2), timeout=WAIT_SECONDS, what="the subscriptions")
        trade(maker, taker)
        wait_until(lambda: {e["stream"] for e in inbox.events} == {
            "btcusdt@aggTrade", "btcusdt@bookTicker"}, timeout=WAIT_SECONDS,
            what="both streams, wrapped")
    finally:
        client.stop()
    for wrapped in inbox.events:
        assert list(wrapped) == ["stream", "data"]
        name = "stream_aggTrade" if wrapped["stream"].endswith("aggTrade") \
            else "stream_bookTicker"
        assert_like_example(wrapped["data"], example(name))


def test_ccxt_pros_numbered_ws_path_subscribes_and_sets_the_combined_property(
        stream_url: str, maker: Trader, taker: Trader) -> None:
    with connect(f"{stream_url}/ws/1") as ws:
        def ask(request: dict[str, Any]) -> Any:
            ws.send(json.dumps(request))
            return json.loads(ws.recv(WAIT_SECONDS))

        assert ask({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}) == {
            "result": None, "id": 1}
        assert ask({"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
            "result": ["btcusdt@trade"], "id": 2}
        assert ask({"method": "GET_PROPERTY", "params": ["combined"], "id": 3}) == {
            "result": False, "id": 3}
        assert ask({"method": "SET_PROPERTY", "params": ["combined", True], "id": 4}) == {
            "result": None, "id": 4}
        assert ask({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}) == {
            "result": True, "id": 5}
        # Binance's documented refusals of a property request.
        assert [ask({"method": method, "params": params, "id": 6})["error"] for method, params
                in (("SET_PROPERTY", ["combined", "yes"]), ("GET_PROPERTY", ["merged"]),
                    ("GET_PROPERTY", [1]))] == [
            {"code": 1, "msg": "Invalid value type: expected Boolean"},
            {"code": 0, "msg": "Unknown property"},
            {"code": 2, "msg": "Invalid request: property name must be a string"}]
        trade(maker, taker)
        wrapped = json.loads(ws.recv(WAIT_SECONDS))
    assert wrapped["stream"] == "btcusdt@trade"
    assert (wrapped["data"]["e"], wrapped["data"]["p"]) == ("trade", "20000.000000")


def test_python_binance_socket_manager_streams_by_path(
        stream_url: str, maker: Trader, taker: Trader) -> None:
    async def listen() -> tuple[Any, Any, Any]:
        client = AsyncClient(maker.key.api_key, maker.key.secret)
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = f"{stream_url}/"
        try:
            async with manager.aggtrade_socket(SYMBOL) as aggs, \
                    manager.miniticker_socket() as minis, \
                    manager.multiplex_socket(["btcusdt@trade", "btcusdt@ticker_1d"]) as both:
                await asyncio.to_thread(trade, maker, taker)
                agg = await asyncio.wait_for(aggs.recv(), WAIT_SECONDS)
                mini = await asyncio.wait_for(minis.recv(), WAIT_SECONDS)
                first = await asyncio.wait_for(both.recv(), WAIT_SECONDS)
                second = await asyncio.wait_for(both.recv(), WAIT_SECONDS)
                return agg, mini, sorted([first, second], key=lambda m: m["stream"])
        finally:
            await client.close_connection()

    agg, minis, combined = asyncio.run(listen())
    assert_like_example(agg, example("stream_aggTrade"))
    assert_like_example(minis, [example("stream_24hrMiniTicker")])
    assert [m["stream"] for m in combined] == ["btcusdt@ticker_1d", "btcusdt@trade"]
    assert combined[0]["data"]["e"] == "1dTicker"
    assert_like_example(combined[0]["data"], example("stream_1hTicker"))
    assert Decimal(combined[1]["data"]["q"]) == Decimal("0.1")

"""Binance's WebSocket API (``/ws-api/v3``) as the libraries use it for user data:
python-binance's ``BinanceSocketManager.user_socket`` (``userDataStream.subscribe
.signature`` on ``client.ws_api``, events routed by ``subscriptionId``), and the
connector's ``SpotWebsocketAPIClient`` for ``ping``, ``time``, the listenKey methods and,
sent through it, ``session.logon``/``status``/``logout`` and ``userDataStream
.subscribe``/``unsubscribe``. Shapes are checked against Binance's documented examples."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from binance.async_client import AsyncClient
from binance.exceptions import BinanceAPIException
from binance.lib.utils import websocket_api_signature
from binance.websocket.spot.websocket_api import SpotWebsocketAPIClient
from binance.ws.streams import BinanceSocketManager
from binance.ws.websocket_api import WebsocketAPI

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


def test_python_binance_user_socket_subscribes_by_signature_and_gets_its_events(
        stream_url: str, maker: Trader, taker: Trader, db: Conn) -> None:
    async def follow() -> tuple[Any, Any, list[dict[str, Any]]]:
        client = AsyncClient(maker.key.api_key, maker.key.secret)
        client.ws_api = WebsocketAPI(url=f"{stream_url}/ws-api/v3")
        try:
            ping, server_time = await client.ws_ping(), await client.ws_get_time()
            events: list[dict[str, Any]] = []
            async with BinanceSocketManager(client).user_socket() as user:
                await asyncio.to_thread(trade, maker, taker)
                while not settled(events):
                    events.append(await asyncio.wait_for(user.recv(), WAIT_SECONDS))
            return ping, server_time, events
        finally:
            await client.close_connection()

    ping, server_time, events = asyncio.run(follow())
    assert ping == {}
    assert set(server_time) == {"serverTime"}
    reports = [e for e in events if e["e"] == "executionReport"]
    assert [(r["s"], r["S"], r["X"]) for r in reports][-1] == (SYMBOL, "SELL", "FILLED")
    for report in reports:
        assert_like_example(report, example("user_executionReport"))
    assert_like_example(events[-1], example("user_outboundAccountPosition"))
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


def test_python_binance_sees_a_refused_signature_as_an_api_error(
        stream_url: str, maker: Trader) -> None:
    async def subscribe_with_a_wrong_secret() -> None:
        client = AsyncClient(maker.key.api_key, "0" * 64)
        client.ws_api = WebsocketAPI(url=f"{stream_url}/ws-api/v3")
        try:
            await client._ws_api_request("userDataStream.subscribe.signature", True, {})
        finally:
            await client.close_connection()

    with pytest.raises(BinanceAPIException) as refused:
        asyncio.run(subscribe_with_a_wrong_secret())
    assert (refused.value.status_code, refused.value.code) == (400, -1022)


@pytest.fixture
def api_client(stream_url: str, maker: Trader) -> Iterator[tuple[SpotWebsocketAPIClient, Inbox]]:
    inbox = Inbox()
    client = SpotWebsocketAPIClient(stream_url=f"{stream_url}/ws-api/v3",
                                    api_key=maker.key.api_key, api_secret=maker.key.secret,
                                    on_message=inbox.on_message)
    yield client, inbox
    client.stop()


def ask(client: SpotWebsocketAPIClient, inbox: Inbox, request_id: str, method: str,
        params: dict[str, Any] | None = None) -> dict[str, Any]:
    client.send({"id": request_id, "method": method,
                 **({} if params is None else {"params": params})})
    reply = inbox.wait_reply(request_id)
    assert reply is not None
    return reply


def test_a_logged_on_session_subscribes_and_its_events_come_wrapped(
        api_client: tuple[SpotWebsocketAPIClient, Inbox], maker: Trader,
        taker: Trader) -> None:
    client, inbox = api_client
    key = maker.key
    refused = ask(client, inbox, "s0", "userDataStream.subscribe")
    assert (refused["status"], refused["error"]["code"]) == (401, -1002)
    status = ask(client, inbox, "st0", "session.status")["result"]
    assert (status["apiKey"], status["authorizedSince"], status["userDataStream"]) == (
        None, None, False)

    logon = ask(client, inbox, "l1", "session.logon",
                websocket_api_signature(key.api_key, key.secret, {}))
    assert logon["status"] == 200
    assert_like_example(logon["result"], example("wsapi_session"))
    assert logon["result"]["apiKey"] == key.api_key
    assert ask(client, inbox, "s1", "userDataStream.subscribe", {}) == {
        "id": "s1", "status": 200, "result": {"subscriptionId": 0}}
    assert ask(client, inbox, "s2", "userDataStream.subscribe.signature",
               websocket_api_signature(key.api_key, key.secret, {}))["result"] == {
        "subscriptionId": 1}
    assert ask(client, inbox, "ls", "session.subscriptions")["result"] == [
        {"subscriptionId": 0}, {"subscriptionId": 1}]
    assert ask(client, inbox, "st1", "session.status")["result"]["userDataStream"] is True

    trade(maker, taker)
    wait_until(lambda: all(settled([e["event"] for e in inbox.events
                                    if e["subscriptionId"] == n]) for n in (0, 1)),
               timeout=WAIT_SECONDS, what="the maker's events under both subscriptions")
    assert all(list(e) == ["subscriptionId", "event"] for e in inbox.events)
    first = [e["event"] for e in inbox.events if e["subscriptionId"] == 0]
    assert first == [e["event"] for e in inbox.events if e["subscriptionId"] == 1]

    assert ask(client, inbox, "u0", "userDataStream.unsubscribe", {"subscriptionId": 0}) == {
        "id": "u0", "status": 200, "result": {}}
    assert ask(client, inbox, "ls2", "session.subscriptions")["result"] == [
        {"subscriptionId": 1}]
    logout = ask(client, inbox, "lo", "session.logout")["result"]
    assert (logout["apiKey"], logout["authorizedSince"]) == (None, None)
    unknown = ask(client, inbox, "o1", "order.place", {"symbol": SYMBOL})
    assert (unknown["status"], unknown["error"]) == (
        400, {"code": -1020, "msg": "This operation is not supported."})


def test_the_connector_pings_asks_the_time_and_manages_a_listen_key(
        api_client: tuple[SpotWebsocketAPIClient, Inbox], maker: Trader) -> None:
    client, inbox = api_client
    client.ping_connectivity(id="p")
    client.server_time(id="t")
    client.user_data_start(id="start")
    assert (inbox.wait_reply("p") or {})["result"] == {}
    assert set((inbox.wait_reply("t") or {})["result"]) == {"serverTime"}
    started = inbox.wait_reply("start") or {}
    listen_key = started["result"]["listenKey"]
    assert listen_key == maker.pb.stream_get_listen_key()
    client.user_data_ping(listen_key, id="ping")
    client.user_data_stop(listen_key, id="stop")
    client.user_data_ping(listen_key, id="gone")
    assert [(inbox.wait_reply(i) or {})["status"] for i in ("ping", "stop", "gone")] == [
        200, 200, 400]
    assert (inbox.reply("gone") or {})["error"]["code"] == -1125


def settled(events: list[dict[str, Any]]) -> bool:
    """Whether the maker's order filled and the balances after the fill came."""
    kinds = [(e["e"], e.get("X")) for e in events]
    return ("executionReport", "FILLED") in kinds and bool(kinds) \
        and kinds[-1][0] == "outboundAccountPosition"

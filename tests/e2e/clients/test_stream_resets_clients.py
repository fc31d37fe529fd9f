"""python-binance's trade socket, left unmodified, streams again by itself after Redis
lost the subscriptions (FLUSHDB for an empty restart): the gateway closes it with 1012,
python-binance reports the close, reconnects to its stream's URL and, subscribed again
by that URL, receives the next trade."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from binance.async_client import AsyncClient
from binance.ws.streams import BinanceSocketManager

from chalicelib.adapters.stream_generation import SubscriptionsGeneration
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from opscli.ws_gateway import Gateway
from opscli.ws_resets import SubscriptionsWatch
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    SYMBOL,
    WAIT_SECONDS,
    stream_url_fixture,
    streaming,
    trade,
)
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SUBSCRIBERS_KEY = "ws:chan:btcusdt@trade"


@pytest.fixture
def gateway(api_app: ExchangeApp, test_settings: Settings,
            redis_client: redis.Redis) -> Iterator[Gateway]:
    """The gateway watching Redis (this test's db, flushed first) as its process does."""
    watched = redis.Redis.from_url(test_settings.redis_url, socket_timeout=2)
    running = Gateway(api_app, ws_port=0, management_port=0,
                      watch=SubscriptionsWatch(SubscriptionsGeneration(watched),
                                               interval_seconds=0.2))
    running.start()
    yield running
    running.stop()
    watched.close()


async def next_trade(socket: Any, reported: list[dict[str, Any]]) -> dict[str, Any]:
    """The socket's next trade event; what python-binance reports in between (an
    ``"e": "error"`` for a close) goes to ``reported``."""
    while True:
        message: dict[str, Any] = await asyncio.wait_for(socket.recv(), WAIT_SECONDS)
        if message.get("e") == "trade":
            return message
        reported.append(message)


def test_python_binances_trade_socket_streams_again_after_redis_lost_the_subscriptions(
        stream_url: str, maker: Trader, taker: Trader, redis_client: redis.Redis,
        db: Conn) -> None:
    def subscribed() -> int:
        return int(redis_client.scard(SUBSCRIBERS_KEY))

    reported: list[dict[str, Any]] = []

    async def listen() -> list[dict[str, Any]]:
        client = AsyncClient(maker.key.api_key, maker.key.secret)
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = f"{stream_url}/"
        try:
            async with manager.trade_socket(SYMBOL) as socket:
                await asyncio.to_thread(trade, maker, taker)
                before = await next_trade(socket, reported)
                await asyncio.to_thread(redis_client.flushdb)
                # Subscribed again: python-binance reconnected (after its 1-2 s backoff).
                await asyncio.to_thread(wait_until, subscribed, timeout=WAIT_SECONDS,
                                        what="python-binance to reconnect")
                await asyncio.to_thread(trade, maker, taker)
                return [before, await next_trade(socket, reported)]
        finally:
            await client.close_connection()

    before, after = asyncio.run(listen())
    assert after["t"] > before["t"]
    # The close, as python-binance reports it (then its own "reconnecting" notice).
    assert {m["e"] for m in reported} == {"error"}
    assert reported[0]["type"] == "ConnectionClosedError"
    assert "1012 (service restart) subscriptions lost" in reported[0]["m"], reported
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)
    assert_locks_match_open_orders(db, [maker.caller.user_id, taker.caller.user_id])

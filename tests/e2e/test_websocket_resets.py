"""Redis losing the WebSocket subscriptions (FLUSHDB stands in for an empty restart):
the local gateway closes every client with 1012, and a client that reconnects and
subscribes again gets its streams again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from chalicelib.adapters.stream_generation import SubscriptionsGeneration
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from opscli.ws_gateway import Gateway
from opscli.ws_resets import SERVICE_RESTART, SUBSCRIPTIONS_LOST, SubscriptionsWatch
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.e2e.settling import wait_until_settled
from tests.e2e.test_websockets import StreamClient, clients, open_client, streaming
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

__all__ = ["clients", "streaming"]

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
WAIT_SECONDS = 30


@pytest.fixture
def gateway(api_app: ExchangeApp, test_settings: Settings,
            redis_client: redis.Redis) -> Iterator[Gateway]:
    """The gateway as ``python -m opscli.ws_gateway`` runs it: watching Redis (this test's
    db, flushed first) for the subscriptions' marker."""
    watched = redis.Redis.from_url(test_settings.redis_url, socket_timeout=2)
    running = Gateway(api_app, ws_port=0, management_port=0,
                      watch=SubscriptionsWatch(SubscriptionsGeneration(watched),
                                               interval_seconds=0.2))
    running.start()
    yield running
    running.stop()
    watched.close()


def trade(maker: ApiKey, taker: ApiKey) -> None:
    """The maker's resting sell of 0.1 BTC, taken whole by the taker's market buy."""
    assert maker.post_form("/api/v3/order", {
        "symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.1", "price": "20000"}).status_code == 200
    assert taker.post_form("/api/v3/order", {
        "symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.1"}).status_code == 200


def subscribed(gateway: Gateway, clients: list[StreamClient]) -> StreamClient:
    ws = open_client(gateway, clients)
    assert ws.request({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}) == {
        "result": None, "id": 1}
    return ws


def test_clients_are_closed_with_1012_when_redis_loses_the_subscriptions_and_resubscribe(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient],
        redis_client: redis.Redis, admin: Caller, alice: Caller, bob: Caller, btcusdt: str,
        db: Conn) -> None:
    # API keys live in PostgreSQL and still sign orders once the sessions are gone.
    fund(admin, alice, "USDT", "100000")
    fund(admin, bob, "BTC", "1")
    buyer, seller = alice.new_api_key(["TRADE"]), bob.new_api_key(["TRADE"])
    before = subscribed(gateway, clients)
    idle = open_client(gateway, clients)  # subscribed to nothing: closed all the same
    trade(seller, buyer)
    wait_until(lambda: before.of_type("trade"), timeout=WAIT_SECONDS, what="the first trade")

    redis_client.flushdb()
    wait_until(lambda: before.socket.close_code, timeout=WAIT_SECONDS,
               what="the gateway to close the client")
    assert (before.socket.close_code, before.socket.close_reason) == (
        SERVICE_RESTART, SUBSCRIPTIONS_LOST)
    wait_until(lambda: idle.socket.close_code, timeout=WAIT_SECONDS, what="the idle close")
    assert idle.socket.close_code == SERVICE_RESTART

    # Reconnected and subscribed again, as Binance's clients do on a close.
    after = subscribed(gateway, clients)
    trade(seller, buyer)
    wait_until(lambda: after.of_type("trade"), timeout=WAIT_SECONDS, what="the second trade")
    assert len(before.of_type("trade")) == 1
    # The new connection stays open: the marker was written anew, once.
    assert after.socket.close_code is None

    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)
    assert_locks_match_open_orders(db, [alice.user_id, bob.user_id])

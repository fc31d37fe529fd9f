"""A listenKey's stream when Redis restarts empty (FLUSHDB stands in for it): the gateway
closes the stream with 1012, the key is gone with Redis, so the client's reconnection
to ``/ws/<listenKey>`` is refused with -1125 (not left open and silent), python-binance
opens a new key and its stream goes on; the next report of an order partly filled
before the restart holds that fill alone, not again the ones the client saw."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
import redis
from binance.exceptions import BinanceAPIException
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from chalicelib.service_layer.stream_payloads import EXECUTIONS_PER_EVENT
from opscli.ws_resets import SERVICE_RESTART
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    SYMBOL,
    WAIT_SECONDS,
    stream_url_fixture,
    streaming,
)
from tests.e2e.clients.test_stream_resets_clients import gateway  # noqa: F401 - fixture
from tests.e2e.clients.test_user_streams import RawStream
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
NO_SUCH_KEY = {"code": -1125, "msg": "This listenKey does not exist."}


def buy(taker: Trader, qty: str) -> None:
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=qty)


def reports_of(stream: RawStream, order_id: int) -> list[tuple[str, str, str, str]]:
    return [(m["x"], m["X"], m["l"], m["z"]) for m in stream.seen
            if m.get("e") == "executionReport" and m["i"] == order_id]


def test_a_user_stream_goes_on_under_a_new_listen_key_after_redis_restarted_empty(
        stream_url: str, maker: Trader, taker: Trader, redis_client: redis.Redis,
        db: Conn) -> None:
    listen_key = maker.pb.stream_get_listen_key()
    with connect(f"{stream_url}/ws/{listen_key}") as socket:
        before = RawStream(socket)
        order = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT",
                                      timeInForce="GTC", quantity="0.3", price="20000")
        order_id = order["orderId"]
        buy(taker, "0.1")
        filled = before.until(lambda m: m.get("e") == "executionReport" and m["x"] == "TRADE")
        assert reports_of(before, order_id) == [
            ("NEW", "NEW", "0.00000000", "0.00000000"),
            ("TRADE", "PARTIALLY_FILLED", "0.10000000", "0.10000000")]
        # The fan-out records an event after posting it: flushed once that is done (a
        # report's execution id is its event's sequence times EXECUTIONS_PER_EVENT).
        seq = filled["I"] // EXECUTIONS_PER_EVENT
        wait_until(lambda: int(redis_client.get(f"ws:order:{order_id}") or 0) >= seq,
                   timeout=WAIT_SECONDS, what="the fan-out to record the fill's event")
        redis_client.flushdb()
        with pytest.raises(ConnectionClosed) as closed:
            before.until(lambda m: False)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == SERVICE_RESTART

    # Reconnecting to the stream's URL, as a client does on a close: refused, the key
    # went with Redis; REST and SUBSCRIBE say the same.
    for url in (f"{stream_url}/ws/{listen_key}", f"{stream_url}/stream?streams={listen_key}"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url).close()
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body or b"{}") == NO_SUCH_KEY
    with pytest.raises(BinanceAPIException) as kept_alive:
        maker.pb.stream_keepalive(listen_key)
    assert (kept_alive.value.code, kept_alive.value.message) == (
        NO_SUCH_KEY["code"], NO_SUCH_KEY["msg"])
    with connect(f"{stream_url}/ws") as socket:
        assert RawStream(socket).ask({"method": "SUBSCRIBE", "params": [listen_key],
                                      "id": 1}) == {"error": NO_SUCH_KEY, "id": 1}

    fresh = maker.pb.stream_get_listen_key()
    assert fresh != listen_key
    with (connect(f"{stream_url}/ws/{fresh}") as socket,
          connect(f"{stream_url}/stream?streams={fresh}") as combined_socket):
        after, combined = RawStream(socket), RawStream(combined_socket)
        buy(taker, "0.1")
        # The balances come after the event's reports.
        after.until(lambda m: m.get("e") == "outboundAccountPosition")
        assert reports_of(after, order_id) == [
            ("TRADE", "PARTIALLY_FILLED", "0.10000000", "0.20000000")]
        wrapped = combined.until(lambda m: m["data"].get("e") == "executionReport")
        assert (wrapped["stream"], wrapped["data"]["z"]) == (fresh, "0.20000000")
        buy(taker, "0.1")
        after.until(lambda m: m.get("e") == "executionReport" and m["X"] == "FILLED")
        assert reports_of(after, order_id)[1:] == [
            ("TRADE", "FILLED", "0.10000000", "0.30000000")]

    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)
    assert_locks_match_open_orders(db, [maker.caller.user_id, taker.caller.user_id])

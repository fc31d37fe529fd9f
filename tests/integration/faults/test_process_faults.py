"""Kafka and Redis killed with SIGKILL under a running order stream through the API, on
the isolated exchange (conftest.py); each test ends with SPEC's invariants, locks equal
to open orders and every accepted order applied exactly once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from opscli.faults import checks
from opscli.faults.exchange import IsolatedExchange
from opscli.faults.traffic import call, signed_path
from opscli.ws_resets import SERVICE_RESTART, SUBSCRIPTIONS_LOST
from tests.support.polling import wait_until

from .process_faults import (
    Conn,
    answered_since,
    assert_nothing_lost,
    order_stream,
    wait_caught_up,
    wait_for_answers,
)

PASSWORD = "correct horse battery staple"
STREAM_WAIT_SECONDS = 30


def test_kafka_killed_placements_answer_503_and_the_sweeper_delivers_what_was_committed(
    faulty_exchange: IsolatedExchange, faulty_db: Conn,
) -> None:
    exchange = faulty_exchange
    with order_stream(exchange, "kafka") as stream:
        wait_for_answers(stream, 30)
        exchange.kill_kafka()
        killed = time.monotonic()
        wait_for_answers(stream, 3, since=killed, outcome="503/-1007")
        exchange.start_kafka()
        back = time.monotonic()
        wait_for_answers(stream, 30, since=back)
    answers = stream.answers()

    # While the broker was down a placement was committed but its publication not
    # confirmed: "status unknown", 503 -1007, never a 500; each is in the database.
    during = {a.outcome for a in answers
              if a.request.kind == "place" and killed + 1 <= a.due < back}
    assert "503/-1007" in during
    assert during <= {"200", "503/-1007"}
    unknown, stored = checks.unknown_outcomes(faulty_db, answers)
    assert unknown == stored > 0
    # The sweeper published them (the broker's restart lost the API's producer queue).
    assert "republished stuck commands" in exchange.apps["sweeper"].log_path.read_text()
    assert_nothing_lost(exchange, faulty_db, answers)
    # A client resending a "status unknown" placement (same newClientOrderId) while
    # the order is open is refused as a duplicate and creates nothing new.
    unknown_ids = [a.request.client_order_id for a in answers if a.outcome == "503/-1007"]
    still_open = faulty_db.execute(
        "SELECT client_order_id FROM orders WHERE client_order_id = ANY(%s)"
        " AND status IN ('NEW', 'PARTIALLY_FILLED') LIMIT 1", (unknown_ids,)).fetchone()
    if still_open is not None:
        retried = next(a for a in answers if a.request.client_order_id == still_open[0])
        trader = exchange.traders[retried.request.trader]
        status, body = call(exchange.api_url, "POST", signed_path(
            trader, "/api/v3/order", retried.request.params),
            headers={"X-MBX-APIKEY": trader.api_key})
        assert (status, body.get("code")) == (400, -2010), body
        assert faulty_db.execute("SELECT count(*) FROM orders WHERE client_order_id = %s",
                                 (still_open[0],)).fetchone() == (1,)


def login(exchange: IsolatedExchange, email: str) -> dict[str, Any]:
    status, tokens = call(exchange.api_url, "POST", "/v1/auth/login",
                          {"email": email, "password": PASSWORD})
    assert status == 200, tokens
    return dict(tokens)


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def market_snapshot(conn: Conn) -> list[Any]:
    """Every balance and order as stored."""
    return [conn.execute("SELECT * FROM balances ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM orders ORDER BY id").fetchall()]


def assert_market_data_from_the_database(exchange: IsolatedExchange, conn: Conn) -> None:
    """The API's depth and 24h ticker (Redis, rebuilt from PostgreSQL when lost) are the
    resting orders and the last trade in the database."""
    status, depth = call(exchange.api_url, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=5000")
    assert status == 200, depth
    levels = checks.book_levels(conn, "BTCUSDT")
    assert {Decimal(p): Decimal(q) for p, q in depth["bids"]} == levels["BUY"]
    assert {Decimal(p): Decimal(q) for p, q in depth["asks"]} == levels["SELL"]
    status, ticker = call(exchange.api_url, "GET", "/api/v3/ticker/24hr?symbol=BTCUSDT")
    assert status == 200, ticker
    last = checks.last_trade(conn, "BTCUSDT")
    assert last is not None
    assert Decimal(ticker["lastPrice"]) == Decimal(last[1]).scaleb(-6)
    assert ticker["lastId"] == last[0]


class TradeStreamClient:
    """A Binance raw-stream client of ``btcusdt@trade``: the trades it received, read on
    a thread of its own until the server closes the connection."""

    def __init__(self, exchange: IsolatedExchange) -> None:
        self._stack = contextlib.ExitStack()
        self.socket: ClientConnection = self._stack.enter_context(connect(
            f"ws://127.0.0.1:{exchange.ports.ws}/ws/btcusdt@trade", open_timeout=10))
        self.trades: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            for raw in self.socket:
                self.trades.append(json.loads(raw))

    def wait_for_trade(self) -> None:
        wait_until(lambda: self.trades, timeout=STREAM_WAIT_SECONDS, what="a trade event")

    def close(self) -> None:
        self._stack.close()
        self._reader.join(5)


@contextlib.contextmanager
def trade_stream(exchange: IsolatedExchange) -> Iterator[TradeStreamClient]:
    client = TradeStreamClient(exchange)
    try:
        yield client
    finally:
        client.close()


def test_redis_killed_and_restarted_empty_loses_sessions_and_rebuilds_market_data(
    faulty_exchange: IsolatedExchange, faulty_db: Conn,
) -> None:
    exchange = faulty_exchange
    email = f"redis-{time.time_ns()}@faults.exchange"
    status, _ = call(exchange.api_url, "POST", "/v1/auth/signup",
                     {"email": email, "password": PASSWORD})
    assert status == 201
    before = login(exchange, email)
    assert call(exchange.api_url, "GET", "/v1/balances", headers=bearer(before))[0] == 200

    with order_stream(exchange, "redis") as stream, trade_stream(exchange) as before_kill:
        wait_for_answers(stream, 30)
        before_kill.wait_for_trade()
        exchange.kill_redis(wipe=True)
        killed = time.monotonic()
        exchange.start_redis()
        back = time.monotonic()
        # The gateway closes the stream client whose subscription Redis lost (1012: the
        # service restarted); reconnected, as Binance's clients do, it streams again.
        wait_until(lambda: before_kill.socket.close_code, timeout=STREAM_WAIT_SECONDS,
                   what="the gateway to close the WebSocket client")
        closed = time.monotonic()
        assert (before_kill.socket.close_code, before_kill.socket.close_reason) == (
            SERVICE_RESTART, SUBSCRIPTIONS_LOST)
        with trade_stream(exchange) as reconnected:
            reconnected.wait_for_trade()
            streaming_again = time.monotonic()
        print(f"WebSocket client closed {closed - back:.1f} s after Redis was back; "
              f"reconnected, its first trade {streaming_again - closed:.1f} s later")
        wait_for_answers(stream, 40, since=back)
    answers = stream.answers()
    after_restart = {a.outcome for a in answers if a.due >= back + 1}
    assert after_restart <= {"200", "400/-2011"}, after_restart
    print(f"while Redis was down ({back - killed:.1f} s):",
          sorted({a.outcome for a in answers if killed <= a.due < back}))
    assert_nothing_lost(exchange, faulty_db, answers)

    # Sessions lived in Redis: the old access and refresh tokens are refused, a new
    # login works.
    assert call(exchange.api_url, "GET", "/v1/balances", headers=bearer(before))[0] == 401
    assert call(exchange.api_url, "POST", "/v1/auth/refresh",
                {"refreshToken": before["refreshToken"]})[0] == 401
    assert call(exchange.api_url, "GET", "/v1/balances",
                headers=bearer(login(exchange, email)))[0] == 200
    # Market data rebuilt; the order-rate windows started again from zero.
    assert_market_data_from_the_database(exchange, faulty_db)
    trader = exchange.traders[0]
    status, windows = call(exchange.api_url, "GET", signed_path(
        trader, "/api/v3/rateLimit/order", {}), headers={"X-MBX-APIKEY": trader.api_key})
    assert status == 200, windows
    assert all(w["count"] <= w["limit"] for w in windows)

    # With nothing flowing, losing Redis changes nothing in the database.
    wait_caught_up(faulty_db)
    snapshot = market_snapshot(faulty_db)
    exchange.kill_redis(wipe=True)
    exchange.start_redis()
    assert_market_data_from_the_database(exchange, faulty_db)
    assert market_snapshot(faulty_db) == snapshot
    assert answered_since(stream, back) >= 40

"""WebSocket streams end to end: the local gateway hosts the API's WebSocket handlers,
the matcher (in-process) publishes its events, the fan-out (under the local MSK runner)
posts them to the connections, and clients see Binance's streams.

A client keeps a local order book from the depth diffs the way Binance documents it
(buffer the diffs, take a snapshot, drop what it covers, apply the rest in sequence);
at the end it must equal the open orders in PostgreSQL, level by level."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from chalice.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chalicelib.bootstrap import bootstrap_api
from chalicelib.domain.money import format_units
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from lambdas import candles
from lambdas.fanout import Fanout
from lambdas.msk_runner import MskRunner
from opscli.ws_gateway import Gateway
from tests.conftest import as_role
from tests.e2e.conftest import ApiKey, Caller, fund, now_ms
from tests.e2e.settling import wait_until_settled
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
WAIT_SECONDS = 30


@pytest.fixture
def gateway(api_app: ExchangeApp) -> Iterator[Gateway]:
    running = Gateway(api_app, ws_port=0, management_port=0)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def streaming(api_app: ExchangeApp, matcher: Settings,
              gateway: Gateway) -> Iterator[Settings]:
    """The API's handlers replying through the gateway, and the fan-out consuming the
    matcher's event topics."""
    settings = matcher.model_copy(update={
        "ws_management_url": gateway.management_url,
        "market_events_topic": f"{matcher.orders_topic}-market",
        "order_events_topic": f"{matcher.orders_topic}-order"})
    api_app.use_services(bootstrap_api(settings))
    fanout = Fanout(as_role(settings, "functions"))
    runner = MskRunner(fanout, bootstrap_servers=settings.kafka_bootstrap_servers,
                       topics=[settings.market_events_topic, settings.order_events_topic],
                       group=f"fanout-{uuid.uuid4().hex[:8]}", function_name="fanout",
                       retry_seconds=0.2)
    stop, assigned = threading.Event(), threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,),
                              kwargs={"on_assign": assigned.set}, daemon=True)
    thread.start()
    assert assigned.wait(WAIT_SECONDS), "the fan-out did not get its partitions"
    try:
        yield settings
    finally:
        stop.set()
        thread.join(WAIT_SECONDS)
        fanout.close()


class StreamClient:
    """A WebSocket client: replies to its requests apart, stream events in arrival order."""

    def __init__(self, url: str) -> None:
        self._stack = ExitStack()
        self.socket: ClientConnection = self._stack.enter_context(connect(url))
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self.socket:
                message = json.loads(raw)
                (self.replies.put if "id" in message else self.events.append)(message)
        except ConnectionClosed:
            return

    def request(self, message: dict[str, Any] | str) -> dict[str, Any]:
        self.socket.send(message if isinstance(message, str) else json.dumps(message))
        return self.replies.get(timeout=10)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("e") == kind]

    def combined(self, stream: str) -> list[dict[str, Any]]:
        """The payloads that came wrapped as ``{"stream": stream, "data": ...}``."""
        return [e["data"] for e in list(self.events) if e.get("stream") == stream]

    def close(self) -> None:
        self._stack.close()
        self._reader.join(5)


@pytest.fixture
def clients(gateway: Gateway) -> Iterator[list[StreamClient]]:
    opened: list[StreamClient] = []
    yield opened
    for client in opened:
        client.close()


def open_client(gateway: Gateway, clients: list[StreamClient], path: str = "/") -> StreamClient:
    client = StreamClient(gateway.ws_url + path)
    clients.append(client)
    return client


def signed_params(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    """Binance's WebSocket API signature: HMAC-SHA256 over the params sorted by name."""
    params: dict[str, Any] = {"apiKey": key.api_key, "timestamp": now_ms()}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    signature = hmac.new((secret or key.secret).encode(), payload.encode(), hashlib.sha256)
    return {**params, "signature": signature.hexdigest()}


def test_subscriptions_are_managed_the_binance_way(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient],
        btcusdt: str) -> None:
    ws = open_client(gateway, clients)
    assert ws.request({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@depth",
                                                          "btcusdt@kline_1m"], "id": 1}) == {
        "result": None, "id": 1}
    assert ws.request({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 2}) == {
        "result": None, "id": 2}
    assert ws.request({"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {
        "result": ["btcusdt@kline_1m", "btcusdt@trade"], "id": 3}

    up_front = open_client(gateway, clients, "/?streams=btcusdt@bookTicker/btcusdt@depth@100ms")
    assert up_front.request({"method": "LIST_SUBSCRIPTIONS", "id": 9}) == {
        "result": ["btcusdt@bookTicker", "btcusdt@depth@100ms"], "id": 9}
    with pytest.raises(InvalidStatus) as refused, \
            connect(gateway.ws_url + "/?streams=btcusdt@nonsense"):
        pass
    assert refused.value.response.status_code == 400


def test_binance_raw_and_combined_stream_endpoints(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient],
        admin: Caller, alice: Caller, bob: Caller, btcusdt: str, db: Conn) -> None:
    raw = open_client(gateway, clients, "/ws/btcusdt@trade")
    combined = open_client(gateway, clients,
                           "/stream?streams=btcusdt@trade/btcusdt@depth/btcusdt@depth5")
    assert combined.request({"method": "LIST_SUBSCRIPTIONS", "id": 1})["result"] == [
        "btcusdt@depth", "btcusdt@depth5", "btcusdt@trade"]
    fund(admin, alice, "USDT", "100000")
    fund(admin, bob, "BTC", "1")
    assert bob.new_api_key(["TRADE"]).post_form("/api/v3/order", {
        "symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.1", "price": "20000"}).status_code == 200
    assert alice.new_api_key(["TRADE"]).post_form("/api/v3/order", {
        "symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.1"}).status_code == 200

    wait_until(lambda: raw.of_type("trade") and combined.combined("btcusdt@trade"),
               timeout=WAIT_SECONDS, what="the trade")
    (trade,) = raw.of_type("trade")
    assert combined.combined("btcusdt@trade") == [trade]  # the same payload, wrapped
    last = wait_until_settled(db, SYMBOL)
    wait_until(lambda: any(d["u"] == last for d in combined.combined("btcusdt@depth")),
               timeout=WAIT_SECONDS, what="the last diff")
    assert all(d["e"] == "depthUpdate" for d in combined.combined("btcusdt@depth"))
    assert not raw.of_type("depthUpdate")
    # The partial book after the last batch: the ask was taken whole, the book is empty.
    wait_until(lambda: any(p["lastUpdateId"] == last
                           for p in combined.combined("btcusdt@depth5")),
               timeout=WAIT_SECONDS, what="the partial book")
    assert combined.combined("btcusdt@depth5")[-1] == {
        "lastUpdateId": last, "bids": [], "asks": []}
    assert all("stream" in e for e in combined.events)


@pytest.mark.parametrize(("message", "code", "request_id"), [
    ("{not json", 3, None),
    ('["SUBSCRIBE"]', 2, None),
    ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": -4}, 2, None),
    ({"method": "SUBSCRIBE", "params": ["btcusdt@trades"], "id": 4}, 2, 4),
    ({"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 5}, 2, 5),
    ({"method": "SUBSCRIBE", "params": [], "id": 6}, 2, 6),
    ({"method": "SUBSCRIBE_ALL", "params": ["btcusdt@trade"], "id": 7}, 2, 7),
    ({"params": ["btcusdt@trade"], "id": 8}, 2, None),
])
def test_bad_requests_get_binance_ws_errors(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient],
        message: dict[str, Any] | str, code: int, request_id: int | None) -> None:
    reply = open_client(gateway, clients).request(message)
    assert reply["error"]["code"] == code
    assert reply["error"]["msg"].startswith(("Invalid request", "Invalid JSON"))
    assert reply["id"] == request_id


def test_a_user_stream_needs_a_valid_signature_or_token(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient], alice: Caller,
        bob: Caller) -> None:
    key = alice.new_api_key(["READ"])
    ws = open_client(gateway, clients)
    refusals = [
        ws.request({"method": "userDataStream.subscribe", "params": {}, "id": 1}),
        ws.request({"method": "userDataStream.subscribe", "params": {"token": "forged"},
                    "id": 2}),
        ws.request({"method": "userDataStream.subscribe",
                    "params": signed_params(key, secret="0" * 64), "id": 3}),
        ws.request({"method": "userDataStream.subscribe",
                    "params": {**signed_params(key), "timestamp": now_ms() - 60_000},
                    "id": 4}),
        ws.request({"method": "userDataStream.subscribe",
                    "params": {"token": bob.access_token, "extra": 1}, "id": 5}),
    ]
    # Empty params: the WebSocket API's form, which needs a logged-on session.
    assert [(r["id"], r["error"]["code"]) for r in refusals] == [
        (1, -1002), (2, -5007), (3, -1022), (4, -1021), (5, 2)]
    assert [r.get("status") for r in refusals[:4]] == [401, 401, 400, 400]

    assert ws.request({"method": "userDataStream.subscribe", "params": signed_params(key),
                       "id": "a-1"}) == {"id": "a-1", "status": 200, "result": {}}
    assert ws.request({"method": "userDataStream.subscribe",
                       "params": {"token": bob.access_token}, "id": 6}) == {
        "id": 6, "status": 200, "result": {}}


def test_a_local_book_from_depth_diffs_matches_the_exchange_and_users_see_only_their_orders(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient], client: Client,
        admin: Caller, alice: Caller, bob: Caller, btcusdt: str, db: Conn) -> None:
    carol = Caller(client, "carol@example.com")
    traders = [alice, bob, carol]
    for trader in traders:
        fund(admin, trader, "USDT", "200000")
        fund(admin, trader, "BTC", "10")
    keys = {t.user_id: t.new_api_key(["READ", "TRADE"]) for t in traders}

    market = open_client(gateway, clients)
    assert market.request({"method": "SUBSCRIBE", "params": ["btcusdt@depth", "btcusdt@trade"],
                           "id": 1})["result"] is None
    tickers = open_client(gateway, clients, "/?streams=btcusdt@bookTicker/btcusdt@ticker")
    alice_stream, bob_stream = open_client(gateway, clients), open_client(gateway, clients)
    assert alice_stream.request({"method": "userDataStream.subscribe",
                                 "params": signed_params(keys[alice.user_id]),
                                 "id": 1})["status"] == 200
    assert bob_stream.request({"method": "userDataStream.subscribe",
                               "params": {"token": bob.access_token}, "id": 1})["status"] == 200

    rng = random.Random(3)
    placed: dict[int, list[int]] = {t.user_id: [] for t in traders}
    trade_randomly(rng, keys, placed, 70)
    snapshot = client.http.get(f"/api/v3/depth?symbol={SYMBOL}&limit=1000")
    assert snapshot.status_code == 200, snapshot.body
    trade_randomly(rng, keys, placed, 70)

    last_sequence = wait_until_settled(db, SYMBOL)
    wait_until(lambda: any(e["u"] == last_sequence for e in market.of_type("depthUpdate")),
               timeout=WAIT_SECONDS, what="the last depth diff")
    book = local_book(snapshot.json_body, market.of_type("depthUpdate"))
    assert book == exchange_book(db)
    final = client.http.get(f"/api/v3/depth?symbol={SYMBOL}&limit=1000").json_body
    assert final["lastUpdateId"] == last_sequence
    assert book == {side: {Decimal(p): Decimal(q) for p, q in final[side]}
                    for side in ("bids", "asks")}
    assert book["bids"]
    assert book["asks"]

    trade_ids = [int(r[0]) for r in db.execute(
        "SELECT id FROM trades WHERE market = %s ORDER BY id", (SYMBOL,))]
    assert len(trade_ids) > 10
    wait_until(lambda: len(market.of_type("trade")) >= len(trade_ids), timeout=WAIT_SECONDS,
               what="every trade")
    assert [t["t"] for t in market.of_type("trade")] == trade_ids

    check_tickers(db, tickers, book, last_sequence)
    for trader, stream in ((alice, alice_stream), (bob, bob_stream)):
        check_user_stream(db, trader, stream)


def trade_randomly(rng: random.Random, keys: dict[int, ApiKey],
                   placed: dict[int, list[int]], count: int) -> None:
    """Limit orders around 20000 on both sides (some cross), a few market orders and
    cancels, from all traders."""
    for _ in range(count):
        user_id = rng.choice(list(keys))
        key = keys[user_id]
        if placed[user_id] and rng.random() < 0.15:
            key.delete("/api/v3/order", {"symbol": SYMBOL,
                                         "orderId": rng.choice(placed[user_id])})
            continue
        side = rng.choice(["BUY", "SELL"])
        quantity = f"0.{rng.randint(3, 80):04d}"
        params: dict[str, object] = {"symbol": SYMBOL, "side": side, "quantity": quantity,
                                     "newOrderRespType": "ACK"}
        if rng.random() < 0.08:
            # Sized by quantity, a market buy locks all the trader's available quote
            # until it settles: RESULT waits for that, so the next order can be afforded.
            params |= {"type": "MARKET", "newOrderRespType": "RESULT"}
        else:
            offset = rng.randint(-6, 12) * (1 if side == "SELL" else -1)
            params |= {"type": "LIMIT", "timeInForce": "GTC", "price": str(20000 + offset)}
        response = key.post_form("/api/v3/order", params)
        assert response.status_code == 200, response.body
        placed[user_id].append(int(response.json_body["orderId"]))


Book = dict[str, dict[Decimal, Decimal]]


def local_book(snapshot: dict[str, Any], diffs: list[dict[str, Any]]) -> Book:
    """Binance's procedure: drop the diffs the snapshot covers; the first applied one
    straddles it; every next one starts right after the previous one."""
    last_update_id = int(snapshot["lastUpdateId"])
    book: Book = {side: {Decimal(p): Decimal(q) for p, q in snapshot[side]}
                  for side in ("bids", "asks")}
    newer = [d for d in diffs if d["u"] > last_update_id]
    assert newer, "no diff after the snapshot"
    assert newer[0]["U"] <= last_update_id + 1 <= newer[0]["u"]
    previous = None
    for diff in newer:
        assert previous is None or diff["U"] == previous + 1, "a gap in the depth diffs"
        previous = diff["u"]
        for side, levels in (("bids", diff["b"]), ("asks", diff["a"])):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    book[side].pop(Decimal(price), None)
                else:
                    book[side][Decimal(price)] = Decimal(qty)
    return book


def exchange_book(db: Conn) -> Book:
    """Open orders in PostgreSQL, aggregated by level."""
    book: Book = {"bids": {}, "asks": {}}
    for side, price, remaining in db.execute(
            "SELECT side, price, sum(quantity - executed_qty) FROM orders"
            " WHERE market = %s AND status IN ('NEW', 'PARTIALLY_FILLED')"
            " AND accepted_seq IS NOT NULL GROUP BY side, price", (SYMBOL,)):
        levels = book["bids" if side == "BUY" else "asks"]
        levels[Decimal(format_units(int(price), 6))] = Decimal(format_units(int(remaining), 8))
    return book


def check_tickers(db: Conn, stream: StreamClient, book: Book, last_sequence: int) -> None:
    """The best bid and ask after the last batch; the 24 h ticker after the last trade."""
    def book_tickers() -> list[dict[str, Any]]:
        return [e for e in list(stream.events) if "u" in e and "e" not in e]

    wait_until(lambda: any(t["u"] == last_sequence for t in book_tickers()), timeout=WAIT_SECONDS,
               what="the book ticker")
    best = book_tickers()[-1]
    best_bid, best_ask = max(book["bids"]), min(book["asks"])
    assert (Decimal(best["b"]), Decimal(best["B"]), Decimal(best["a"]), Decimal(best["A"])) == (
        best_bid, book["bids"][best_bid], best_ask, book["asks"][best_ask])
    # A newly published trade makes the next ticker recompute its 24 h statistics.
    trades = db.execute("SELECT id, price, sum(quantity) OVER (ORDER BY id) FROM trades"
                        " WHERE market = %s ORDER BY id", (SYMBOL,)).fetchall()
    last_id = int(trades[-1][0])
    wait_until(lambda: any(t["L"] == last_id for t in stream.of_type("24hrTicker")),
               timeout=WAIT_SECONDS, what="the ticker of the last trade")
    ticker = stream.of_type("24hrTicker")[-1]
    trade_id, price, volume = trades[ticker["n"] - 1]
    assert (ticker["s"], ticker["L"], ticker["c"], ticker["v"]) == (
        SYMBOL, trade_id, format_units(int(price), 6), format_units(int(volume), 8))


def check_user_stream(db: Conn, trader: Caller, stream: StreamClient) -> None:
    """Every change of the trader's orders, in order, and nobody else's."""
    orders = {int(r[0]): (r[1], Decimal(format_units(int(r[2]), 8))) for r in db.execute(
        "SELECT id, status, executed_qty FROM orders WHERE user_id = %s AND market = %s"
        " AND (accepted_seq IS NOT NULL OR status = 'REJECTED')", (trader.user_id, SYMBOL))}

    def final_states() -> dict[int, tuple[str, Decimal]]:
        last: dict[int, tuple[str, Decimal]] = {}
        for report in stream.of_type("executionReport"):
            last[report["i"]] = (report["X"], Decimal(report["z"]))
        return last

    wait_until(final_states, until=lambda seen: seen == orders, timeout=WAIT_SECONDS,
               what=f"user {trader.user_id}'s order updates")
    reports = stream.of_type("executionReport")
    assert {r["i"] for r in reports} == set(orders)
    for order_id in orders:
        mine = [r for r in reports if r["i"] == order_id]
        assert mine[0]["x"] in ("NEW", "REJECTED")
        filled = [Decimal(r["z"]) for r in mine]
        assert filled == sorted(filled), [(r["x"], r["X"], r["l"], r["z"], r["t"]) for r in mine]
        assert sum(Decimal(r["l"]) for r in mine) == filled[-1]
    positions = stream.of_type("outboundAccountPosition")
    assert positions
    balances = {a: (Decimal(format_units(int(f), 8 if a == "BTC" else 6)),
                    Decimal(format_units(int(lk), 8 if a == "BTC" else 6)))
                for a, f, lk in db.execute(
                    "SELECT asset, available, locked FROM balances WHERE user_id = %s",
                    (trader.user_id,))}
    assert {b["a"]: (Decimal(b["f"]), Decimal(b["l"])) for b in positions[-1]["B"]} == balances


def test_kline_streams_carry_the_candles_the_klines_endpoint_serves(
        streaming: Settings, gateway: Gateway, clients: list[StreamClient],
        admin: Caller, alice: Caller, bob: Caller, btcusdt: str, db: Conn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    function_settings = as_role(streaming, "functions")
    monkeypatch.setattr(candles, "get_settings", lambda: function_settings)
    runner = MskRunner(candles.handler, bootstrap_servers=streaming.kafka_bootstrap_servers,
                       topics=[streaming.market_events_topic],
                       group=f"candles-{uuid.uuid4().hex[:8]}", function_name="candles",
                       retry_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        stream = open_client(gateway, clients)
        assert stream.request({"method": "SUBSCRIBE", "id": 1,
                               "params": ["btcusdt@kline_1m", "btcusdt@kline_1d"]}
                              )["result"] is None
        fund(admin, alice, "USDT", "100000")
        fund(admin, bob, "BTC", "1")
        seller, buyer = bob.new_api_key(["TRADE"]), alice.new_api_key(["TRADE"])
        for price in ("20000", "20010", "19990"):
            assert seller.post_form("/api/v3/order", {
                "symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "0.1", "price": price}).status_code == 200
            assert buyer.post_form("/api/v3/order", {
                "symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.1"}
                                   ).status_code == 200
        wait_until(lambda: sum(1 for e in stream.of_type("kline")
                               if e["k"]["i"] == "1d" and e["k"]["n"] == 3) == 1,
                   timeout=WAIT_SECONDS, what="the daily candle with all three trades")
    finally:
        stop.set()
        thread.join(WAIT_SECONDS)
        candles.components(function_settings).repository.close()
        candles.components.cache_clear()

    for interval in ("1m", "1d"):
        newest = [e["k"] for e in stream.of_type("kline") if e["k"]["i"] == interval][-1]
        rows = streaming_klines(alice, interval)
        open_time = newest["t"]
        (row,) = [r for r in rows if r[0] == open_time]
        assert [newest["o"], newest["h"], newest["l"], newest["c"], newest["v"],
                newest["q"]] == [row[1], row[2], row[3], row[4], row[5], row[7]]
        assert newest["n"] == row[8]
    daily = [e["k"] for e in stream.of_type("kline") if e["k"]["i"] == "1d"][-1]
    assert (Decimal(daily["o"]), Decimal(daily["h"]), Decimal(daily["l"]),
            Decimal(daily["c"]), Decimal(daily["v"])) == (
        Decimal(20000), Decimal(20010), Decimal(19990), Decimal(19990), Decimal("0.3"))


def streaming_klines(caller: Caller, interval: str) -> list[list[Any]]:
    response = caller.client.http.get(f"/api/v3/klines?symbol={SYMBOL}&interval={interval}")
    assert response.status_code == 200, response.body
    rows: list[list[Any]] = response.json_body
    return rows

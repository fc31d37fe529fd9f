"""User data streams through Binance's own libraries: the listenKey's REST life
(python-binance's ``stream_get_listen_key``/``stream_keepalive``/``stream_close``, the
connector's ``new_listen_key``/``renew_listen_key``/``close_listen_key``), then the
key's stream at ``/ws/<listenKey>`` (as CCXT opens it), subscribed on ``/ws`` (the
connector's ``user_data``) and combined (``/stream?streams=<listenKey>``). Events are
checked field by field against Binance's documented examples and their values against
the orders the user placed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from binance.error import ClientError
from binance.exceptions import BinanceAPIException
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient
from websockets.sync.client import ClientConnection, connect

from tests.e2e.clients.conftest import Trader, connector
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
from tests.e2e.conftest import Caller, fund
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]


def test_a_listen_key_is_opened_kept_alive_and_closed_through_both_libraries(
        api_url: str, maker: Trader, taker: Trader) -> None:
    listen_key = maker.pb.stream_get_listen_key()
    assert len(listen_key) == 60
    assert listen_key.isalnum()
    answer = maker.spot.new_listen_key()
    assert_like_example(answer, example("user_listenKey"))
    assert answer == {"listenKey": listen_key}  # the same key while it is valid
    assert maker.pb.stream_keepalive(listen_key) == {}
    assert maker.spot.renew_listen_key(listen_key) == {}

    with pytest.raises(ClientError) as not_theirs:
        taker.spot.renew_listen_key(listen_key)
    assert (not_theirs.value.status_code, not_theirs.value.error_code) == (400, -1125)
    with pytest.raises(ClientError) as keyless:
        connector(api_url).new_listen_key()
    assert (keyless.value.status_code, keyless.value.error_code) == (401, -2014)

    assert maker.spot.close_listen_key(listen_key) == {}
    with pytest.raises(BinanceAPIException) as closed:
        maker.pb.stream_keepalive(listen_key)
    assert (closed.value.code, closed.value.message) == (-1125, "This listenKey does not exist.")
    with pytest.raises(ClientError):
        maker.spot.close_listen_key(listen_key)
    assert maker.pb.stream_get_listen_key() != listen_key


class RawStream:
    """A plain WebSocket client, reading in the test's thread (CCXT's way)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.seen: list[Any] = []

    def ask(self, request: dict[str, Any]) -> Any:
        self.socket.send(json.dumps(request))
        return self.until(lambda m: isinstance(m, dict) and m.get("id") == request["id"])

    def until(self, wanted: Any) -> Any:
        while True:
            message = json.loads(self.socket.recv(WAIT_SECONDS))
            self.seen.append(message)
            if wanted(message):
                return message


@pytest.fixture
def key_stream(stream_url: str, maker: Trader) -> Iterator[tuple[str, RawStream]]:
    listen_key = maker.pb.stream_get_listen_key()
    with connect(f"{stream_url}/ws/{listen_key}") as socket:
        yield listen_key, RawStream(socket)


def test_ws_listen_key_streams_the_users_reports_and_balances(
        key_stream: tuple[str, RawStream], maker: Trader, taker: Trader, db: Conn) -> None:
    listen_key, stream = key_stream
    assert stream.ask({"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {
        "result": [listen_key], "id": 1}
    placed = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                   quantity="0.1", price="20000")
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.1")
    filled = stream.until(lambda m: m.get("e") == "executionReport" and m["X"] == "FILLED")
    reports = [m for m in stream.seen if m.get("e") == "executionReport"]
    for report in reports:
        assert_like_example(report, example("user_executionReport"))
    assert [(r["x"], r["X"], r["i"], r["c"]) for r in reports] == [
        ("NEW", "NEW", placed["orderId"], placed["clientOrderId"]),
        ("TRADE", "FILLED", placed["orderId"], placed["clientOrderId"])]
    assert (filled["l"], filled["z"], filled["L"], filled["m"], filled["Z"]) == (
        "0.10000000", "0.10000000", "20000.000000", True, "2000.000000")
    position = stream.until(lambda m: m.get("e") == "outboundAccountPosition")
    assert_like_example(position, example("user_outboundAccountPosition"))
    assert {b["a"] for b in position["B"]} == {"BTC", "USDT"}

    resting = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT",
                                    timeInForce="GTC", quantity="0.2", price="21000")
    maker.pb.cancel_order(symbol=SYMBOL, orderId=resting["orderId"])
    canceled = stream.until(lambda m: m.get("e") == "executionReport" and m["x"] == "CANCELED")
    assert (canceled["i"], canceled["X"], canceled["C"], canceled["w"]) == (
        resting["orderId"], "CANCELED", resting["clientOrderId"], False)
    assert not [m for m in stream.seen if m.get("e") == "executionReport"
                and m["i"] not in (placed["orderId"], resting["orderId"])]  # only the maker's
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


def test_a_cancel_names_the_cancel_requests_client_id_and_the_orders(
        key_stream: tuple[str, RawStream], maker: Trader) -> None:
    _, stream = key_stream
    orders = [maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT",
                                    timeInForce="GTC", quantity="0.1", price=price)
              for price in ("21000", "21100", "21200")]
    answers = [
        maker.pb.cancel_order(symbol=SYMBOL, orderId=orders[0]["orderId"],
                              newClientOrderId="pb-cancel"),
        maker.spot.cancel_order(SYMBOL, origClientOrderId=orders[1]["clientOrderId"],
                                newClientOrderId="connector-cancel"),
        maker.spot.cancel_order(SYMBOL, orderId=orders[2]["orderId"])]
    canceled: dict[int, tuple[str, str]] = {}
    while len(canceled) < 3:
        report = stream.until(lambda m: m.get("x") == "CANCELED")
        canceled[report["i"]] = (report["c"], report["C"])
    # The same client ids the cancel answers showed (without one: the order's own).
    assert [canceled[o["orderId"]] for o in orders] == [
        (a["clientOrderId"], a["origClientOrderId"]) for a in answers] == [
        ("pb-cancel", orders[0]["clientOrderId"]),
        ("connector-cancel", orders[1]["clientOrderId"]),
        (orders[2]["clientOrderId"], orders[2]["clientOrderId"])]


def test_a_stop_order_reports_new_waiting_then_new_working_when_triggered(
        key_stream: tuple[str, RawStream], maker: Trader, taker: Trader, db: Conn) -> None:
    _, stream = key_stream
    trade(taker, maker, "0.1", "20000")  # the last price: 20000
    stop = maker.pb.create_order(symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT",
                                 timeInForce="GTC", quantity="0.1", price="19800",
                                 stopPrice="19900")
    waiting = stream.until(lambda m: m.get("i") == stop["orderId"])
    assert (waiting["x"], waiting["o"], waiting["P"], waiting["w"], "W" in waiting) == (
        "NEW", "STOP_LOSS_LIMIT", "19900.000000", False, False)
    # A trade at 19900 reaches the stop; the triggered sell (19800) takes the bid left.
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                          quantity="0.2", price="19900")
    maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                          quantity="0.1", price="19900")
    stream.until(lambda m: m.get("i") == stop["orderId"] and m["X"] == "FILLED")
    reports = [m for m in stream.seen
               if m.get("e") == "executionReport" and m["i"] == stop["orderId"]]
    for report in reports:  # W: "only visible if the order has been placed on the book"
        assert_like_example(report, example("user_executionReport"), conditional=("W",))
    assert [(r["x"], r["X"], r["w"], r["L"]) for r in reports] == [
        ("NEW", "NEW", False, "0.000000"), ("NEW", "NEW", True, "0.000000"),
        ("TRADE", "FILLED", False, "19900.000000")]
    assert reports[1]["W"] >= reports[0]["O"]
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


def test_a_closed_listen_key_ends_its_stream_with_listen_key_expired(
        key_stream: tuple[str, RawStream], maker: Trader) -> None:
    listen_key, stream = key_stream
    maker.spot.close_listen_key(listen_key)
    expired = stream.until(lambda m: m.get("e") == "listenKeyExpired")
    assert_like_example(expired, example("user_listenKeyExpired"))
    assert expired["listenKey"] == listen_key
    assert stream.ask({"method": "LIST_SUBSCRIPTIONS", "id": 1})["result"] == []


def test_a_listen_key_that_timed_out_ends_its_stream_at_the_next_event(
        key_stream: tuple[str, RawStream], redis_client: redis.Redis, maker: Trader,
        taker: Trader) -> None:
    listen_key, stream = key_stream
    # What Redis's expiry does 60 minutes after the last keep-alive.
    redis_client.delete(f"listenkey:{listen_key}", f"listenkey:user:{maker.caller.user_id}")
    trade(maker, taker)
    expired = stream.until(lambda m: m.get("e") == "listenKeyExpired")
    assert expired["listenKey"] == listen_key
    assert stream.ask({"method": "LIST_SUBSCRIPTIONS", "id": 1})["result"] == []
    assert [m for m in stream.seen if m.get("e") != "listenKeyExpired" and "id" not in m] == []


def test_a_deposit_reaches_the_users_stream_as_a_balance_update(
        key_stream: tuple[str, RawStream], admin: Caller, maker: Trader) -> None:
    _, stream = key_stream
    fund(admin, maker.caller, "BTC", "0.5")
    update = stream.until(lambda m: m.get("e") == "balanceUpdate")
    assert_like_example(update, example("user_balanceUpdate"))
    assert (update["a"], update["d"]) == ("BTC", "0.50000000")
    position = stream.until(lambda m: m.get("e") == "outboundAccountPosition")
    assert_like_example(position, example("user_outboundAccountPosition"))
    (btc,) = position["B"]
    balance = maker.pb.get_asset_balance(asset="BTC")
    assert (btc["a"], btc["f"], btc["l"]) == ("BTC", balance["free"], balance["locked"])


def test_the_connector_subscribes_to_a_listen_key_raw_and_combined(
        stream_url: str, maker: Trader, taker: Trader) -> None:
    listen_key = maker.spot.new_listen_key()["listenKey"]
    raw, combined = Inbox(), Inbox()
    on_ws = SpotWebsocketStreamClient(stream_url=stream_url, on_message=raw.on_message)
    on_stream = SpotWebsocketStreamClient(stream_url=stream_url, on_message=combined.on_message,
                                          is_combined=True)
    try:
        on_ws.user_data(listen_key=listen_key, id=1)
        on_stream.user_data(listen_key=listen_key, id=1)
        assert raw.wait_reply(1) == combined.wait_reply(1) == {"result": None, "id": 1}
        trade(maker, taker)
        wait_until(lambda: settled(raw.events) and settled([e["data"] for e in combined.events]),
                   timeout=WAIT_SECONDS, what="the fill and the balances after it, on both")
        on_ws.unsubscribe(listen_key, id=2)
        raw.wait_reply(2)
        on_ws.list_subscribe(id=3)
        assert raw.wait_reply(3) == {"result": [], "id": 3}
    finally:
        on_ws.stop()
        on_stream.stop()
    assert {e["stream"] for e in combined.events} == {listen_key}
    assert [e["data"] for e in combined.events] == raw.events


def settled(events: list[Any]) -> bool:
    """Whether the maker's order filled and the balances after the fill came."""
    kinds = [(e["e"], e.get("X")) for e in events]
    return ("executionReport", "FILLED") in kinds and kinds[-1][0] == "outboundAccountPosition"

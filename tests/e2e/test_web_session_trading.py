"""The web app trades through Binance's /api/v3 routes with its session: a request with
`Authorization: Bearer <access token>` and no X-MBX-APIKEY is the session's user, with
READ and TRADE (never WITHDRAW), no timestamp and no signature. A refused token is the
/v1 routes' 401 (-5007); a request with an API key is checked as it always was."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from chalice.test import Client

from chalicelib.settings import Settings
from tests.e2e.clients.streams_support import stream_url_fixture  # noqa: F401 - fixture
from tests.e2e.conftest import ApiKey, Caller, fund, now_ms
from tests.e2e.test_websockets import StreamClient, gateway, streaming  # noqa: F401 - fixtures
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
LIMIT_BUY = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.5", "price": "20000"}


class WebSession:
    """The web app's calls to the Binance routes: its access token, no API key."""

    def __init__(self, caller: Caller, token: str | None = None) -> None:
        self.client: Client = caller.client
        self.token = token or caller.access_token

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        return self.client.http.get(f"{path}?{urlencode(params or {})}",
                                    headers=self.headers())

    def delete(self, path: str, params: Mapping[str, object]) -> Any:
        return self.client.http.delete(f"{path}?{urlencode(params)}", headers=self.headers())

    def post_form(self, path: str, params: Mapping[str, object]) -> Any:
        return self.client.http.post(path, body=urlencode(params), headers=self.headers(
            {"Content-Type": "application/x-www-form-urlencoded"}))


def balances(answer: Any) -> dict[str, tuple[str, str]]:
    assert answer.status_code == 200, answer.body
    return {b["asset"]: (b["free"], b["locked"]) for b in answer.json_body["balances"]}


def user_balances(db: Conn, user_id: int) -> list[tuple[str, int, int]]:
    return [(asset, int(available), int(locked)) for asset, available, locked in db.execute(
        "SELECT asset, available, locked FROM balances WHERE account_kind = 'USER'"
        " AND user_id = %s ORDER BY asset", (user_id,)).fetchall()]


def orders_of(db: Conn, user_id: int) -> int:
    row = db.execute("SELECT count(*) FROM orders WHERE user_id = %s", (user_id,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def buyer(admin: Caller, alice: Caller, btcusdt: str) -> WebSession:
    """Alice, signed in to the web app with 15,000 USDT."""
    fund(admin, alice, "USDT", "15000")
    return WebSession(alice)


@pytest.fixture
def seller(admin: Caller, bob: Caller, btcusdt: str) -> ApiKey:
    """Bob, trading through an API key with 1 BTC."""
    fund(admin, bob, "BTC", "1")
    return bob.new_api_key(["READ", "TRADE"])


def test_a_session_places_sees_fills_and_cancels_an_order_without_a_key(
        buyer: WebSession, seller: ApiKey, matcher: Settings, db: Conn) -> None:
    placed = buyer.post_form("/api/v3/order", {**LIMIT_BUY, "newOrderRespType": "RESULT"})

    assert placed.status_code == 200, placed.body
    assert placed.json_body["status"] == "NEW"
    assert placed.headers["X-MBX-ORDER-COUNT-10S"] == "1"  # the account's order count
    assert int(placed.headers["X-MBX-USED-WEIGHT-1M"]) >= 1  # and the IP's weight
    order_id = placed.json_body["orderId"]
    open_orders = buyer.get("/api/v3/openOrders", {"symbol": SYMBOL})
    assert open_orders.status_code == 200, open_orders.body
    assert [(o["orderId"], o["status"], o["origQty"]) for o in open_orders.json_body] == [
        (order_id, "NEW", "0.50000000")]
    account = buyer.get("/api/v3/account")
    assert balances(account) == {"USDT": ("5000.000000", "10000.000000")}
    assert (account.json_body["canTrade"], account.json_body["canWithdraw"]) == (True, False)
    amended = buyer.client.http.put(
        f"/api/v3/order/amend/keepPriority?symbol={SYMBOL}&orderId={order_id}&newQty=0.4",
        headers=buyer.headers())
    assert amended.status_code == 200, amended.body
    assert amended.json_body["amendedOrder"]["origQty"] == "0.40000000"
    assert balances(buyer.get("/api/v3/account")) == {"USDT": ("7000.000000", "8000.000000")}
    commission = buyer.get("/api/v3/account/commission", {"symbol": SYMBOL})
    assert commission.json_body["standardCommission"]["maker"] == "0.00100000", commission.body
    limits = buyer.get("/api/v3/rateLimit/order")
    assert limits.status_code == 200, limits.body
    # The day's count: the 10-second window may have turned since the placement.
    assert {(w["interval"], w["count"]) for w in limits.json_body} >= {("DAY", 1)}

    sold = seller.post_form("/api/v3/order", {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT",
                                              "timeInForce": "GTC", "quantity": "0.2",
                                              "price": "20000", "newOrderRespType": "FULL"})
    assert (sold.status_code, sold.json_body["status"]) == (200, "FILLED"), sold.body

    trades = buyer.get("/api/v3/myTrades", {"symbol": SYMBOL})
    assert trades.status_code == 200, trades.body
    assert [(t["orderId"], t["isBuyer"], t["isMaker"], t["qty"], t["price"])
            for t in trades.json_body] == [(order_id, True, True, "0.20000000", "20000.000000")]
    queried = buyer.get("/api/v3/order", {"symbol": SYMBOL, "orderId": order_id})
    assert queried.json_body["status"] == "PARTIALLY_FILLED", queried.body

    cancelled = buyer.delete("/api/v3/order", {"symbol": SYMBOL, "orderId": order_id})
    assert (cancelled.status_code, cancelled.json_body["status"]) == (200, "CANCELED")
    assert buyer.get("/api/v3/openOrders", {"symbol": SYMBOL}).json_body == []
    assert balances(buyer.get("/api/v3/account")) == {
        "USDT": ("11000.000000", "0.000000"), "BTC": ("0.19980000", "0.00000000")}
    history = buyer.get("/api/v3/allOrders", {"symbol": SYMBOL})
    assert [(o["orderId"], o["status"]) for o in history.json_body] == [(order_id, "CANCELED")]
    assert_ledger_invariants(db)


def test_a_session_may_send_a_timestamp_which_is_then_checked(buyer: WebSession,
                                                              db: Conn) -> None:
    stale = buyer.get("/api/v3/account", {"timestamp": now_ms() - 120_000})
    fresh = buyer.get("/api/v3/account", {"timestamp": now_ms(), "recvWindow": 10_000})

    assert (stale.status_code, stale.json_body["code"]) == (400, -1021)
    assert fresh.status_code == 200, fresh.body


@pytest.mark.parametrize("token", ["logged-out", "garbage"])
def test_a_refused_token_places_nothing_and_moves_no_money(
        buyer: WebSession, alice: Caller, db: Conn, token: str) -> None:
    if token == "logged-out":
        assert alice.post("/v1/auth/logout", {}).status_code == 200
        session = buyer
    else:
        session = WebSession(alice, "not.a.token")
    before = user_balances(db, alice.user_id)

    refused = [session.post_form("/api/v3/order", LIMIT_BUY),
               session.get("/api/v3/openOrders"), session.get("/api/v3/account"),
               session.post_form("/api/v3/userDataStream", {})]

    assert [(r.status_code, r.json_body["code"]) for r in refused] == [(401, -5007)] * 4
    assert orders_of(db, alice.user_id) == 0
    assert user_balances(db, alice.user_id) == before
    assert_ledger_invariants(db)


def test_without_a_key_or_a_token_the_answer_is_as_before(client: Client) -> None:
    response = client.http.get(f"/api/v3/account?timestamp={now_ms()}")

    assert (response.status_code, response.json_body["code"]) == (401, -2014)


def test_a_session_cannot_withdraw_or_describe_an_api_key(buyer: WebSession, alice: Caller,
                                                          db: Conn) -> None:
    before = user_balances(db, alice.user_id)

    withdrawal = buyer.post_form("/sapi/v1/capital/withdraw/apply", {
        "coin": "USDT", "address": "0x" + "ab" * 20, "amount": "100"})
    restrictions = buyer.get("/sapi/v1/account/apiRestrictions")

    assert (withdrawal.status_code, withdrawal.json_body["code"]) == (401, -2015)
    assert (restrictions.status_code, restrictions.json_body["code"]) == (401, -2015)
    assert db.execute("SELECT count(*) FROM withdrawals").fetchone() == (0,)
    assert user_balances(db, alice.user_id) == before
    assert_ledger_invariants(db)


def test_an_api_key_with_a_bad_signature_fails_even_beside_a_valid_token(
        buyer: WebSession, alice: Caller, db: Conn) -> None:
    key = alice.new_api_key(["READ", "TRADE"])
    query = urlencode({**LIMIT_BUY, "timestamp": now_ms()})

    response = buyer.client.http.post(
        "/api/v3/order", body=f"{query}&signature={key.sign(query, secret='wrong')}",
        headers=buyer.headers({"X-MBX-APIKEY": key.api_key,
                               "Content-Type": "application/x-www-form-urlencoded"}))

    assert (response.status_code, response.json_body["code"]) == (400, -1022)
    assert orders_of(db, alice.user_id) == 0


@pytest.fixture
def user_stream(buyer: WebSession, stream_url: str) -> Iterator[StreamClient]:
    """The buyer's /ws/<listenKey>, the key opened with the session's token."""
    opened = buyer.post_form("/api/v3/userDataStream", {})
    assert opened.status_code == 200, opened.body
    listen_key = opened.json_body["listenKey"]
    assert buyer.client.http.put(f"/api/v3/userDataStream?listenKey={listen_key}",
                                 headers=buyer.headers()).status_code == 200
    stream = StreamClient(f"{stream_url}/ws/{listen_key}")
    yield stream
    stream.close()
    closed = buyer.delete("/api/v3/userDataStream", {"listenKey": listen_key})
    assert closed.status_code == 200, closed.body


def test_a_listen_key_opened_with_the_session_streams_its_orders(
        buyer: WebSession, user_stream: StreamClient, db: Conn) -> None:
    placed = buyer.post_form("/api/v3/order", LIMIT_BUY)
    assert placed.status_code == 200, placed.body

    reports = wait_until(lambda: user_stream.of_type("executionReport"), timeout=30,
                         what="the order's executionReport on the session's stream")
    assert [(r["i"], r["x"], r["X"], r["q"], r["p"]) for r in reports] == [
        (placed.json_body["orderId"], "NEW", "NEW", "0.50000000", "20000.000000")]
    assert_ledger_invariants(db)

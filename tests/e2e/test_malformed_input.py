"""Whatever a client sends, the API answers with a 4xx in its error format, never a
500 or a stack trace, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import ApiKey, Caller, fund
from tests.support.ledger import assert_ledger_invariants

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["email", "password", "asset", "amount", "address", "permissions", "ipAllowlist",
          "symbol", "scale", "tickSize", "userId", "txid", "refreshToken", "code", "totpCode"]
BODIES = st.one_of(
    JSON_VALUES.map(json.dumps),
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6).map(json.dumps),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
)
ROUTES = [("post", "/v1/auth/signup"), ("post", "/v1/auth/login"),
          ("post", "/v1/auth/refresh"), ("post", "/v1/api-keys"),
          ("post", "/v1/withdrawals"), ("post", "/v1/admin/assets"),
          ("post", "/v1/admin/deposits"), ("post", "/v1/auth/totp/confirm"),
          ("get", "/v1/ledger?limit=abc"), ("get", "/v1/withdrawals/999999999999999999999"),
          ("get", "/api/v3/exchangeInfo?symbols=[1,2]"), ("get", "/api/v3/account?timestamp=x")]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_malformed_requests_get_a_4xx_in_the_error_format(
    client: Client, alice: Caller, db: psycopg.Connection[Any], route: tuple[str, str], body: str
) -> None:
    method, path = route
    headers = {**alice.headers(), "Idempotency-Key": "fuzz"}
    call = getattr(client.http, method)
    response = call(path, headers=headers, body=body) if method == "post" else call(
        path, headers=headers)

    assert response.status_code < 500, (path, body, response.body)
    if response.status_code >= 400:  # a random body is, very rarely, a valid request
        assert set(response.json_body) == {"code", "msg"}
        assert response.json_body["code"] < 0
    assert_ledger_invariants(db)


@pytest.fixture
def trader(admin: Caller, alice: Caller, btcusdt: str) -> ApiKey:
    fund(admin, alice, "USDT", "1000")
    return alice.new_api_key(["READ", "TRADE"])


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.5", "price": "20000", "newOrderRespType": "ACK"}
BIGINT_PLUS_ONE = str(2**63)


@pytest.mark.parametrize(("method", "path", "params", "code"), [
    ("get", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": "²"}, -1100),
    ("get", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": "٣"}, -1100),
    ("get", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": BIGINT_PLUS_ONE}, -1102),
    ("get", "/api/v3/order", {"symbol": "BTC\x00USDT", "orderId": "1"}, -1100),
    ("delete", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": "²"}, -1100),
    ("delete", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": BIGINT_PLUS_ONE}, -1102),
    ("get", "/api/v3/allOrders", {"symbol": "BTCUSDT", "limit": "²"}, -1100),
    ("get", "/api/v3/allOrders", {"symbol": "BTCUSDT", "orderId": "²"}, -1100),
    ("get", "/api/v3/allOrders", {"symbol": "BTCUSDT", "orderId": BIGINT_PLUS_ONE}, -1102),
    ("get", "/api/v3/openOrders", {"symbol": "BTC\x00"}, -1100),
    ("get", "/api/v3/myTrades", {"symbol": "BTCUSDT", "fromId": "²"}, -1100),
    ("get", "/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": "²"}, -1100),
    ("get", "/api/v3/myTrades", {"symbol": "BTCUSDT", "fromId": BIGINT_PLUS_ONE}, -1102),
    ("get", "/api/v3/myTrades", {"symbol": "BTCUSDT", "limit": "1e3"}, -1100),
    ("post_form", "/api/v3/order", {**ORDER, "symbol": "BTCUSDT\x00"}, -1100),
    ("post_form", "/api/v3/order", {**ORDER, "price": "99999999999999999999",
                                    "quantity": "999999"}, -1013),
    ("post_form", "/api/v3/order", {**ORDER, "price": "9" * 31, "quantity": "1000"}, -1013),
    ("post_form", "/api/v3/order", {**ORDER, "price": "9" * 39}, -1102),
    ("post_form", "/api/v3/order", {**ORDER, "type": "MARKET", "price": "", "timeInForce": "",
                                    "quantity": "", "quoteOrderQty": "9" * 39}, -1102),
    ("post_form", "/api/v3/order/test", {**ORDER, "price": "9" * 31, "quantity": "1000"}, -1013),
])
def test_bad_signed_parameters_get_a_4xx_not_a_500(
    trader: ApiKey, db: psycopg.Connection[Any], method: str, path: str,
    params: dict[str, str], code: int
) -> None:
    call = getattr(trader, method)
    response = call(path, params)

    assert (response.status_code, response.json_body["code"]) == (400, code), response.body
    assert set(response.json_body) == {"code", "msg"}
    assert db.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    assert_ledger_invariants(db)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v3/allOrders", {"symbol": "BTCUSDT", "endTime": "9223372036854775806"}),
    ("/api/v3/myTrades", {"symbol": "BTCUSDT", "startTime": "9223372036854775806"}),
    ("/api/v3/allOrderList", {"endTime": "9223372036854775806"}),
])
def test_history_takes_any_time_up_to_bigint(
    trader: ApiKey, path: str, params: dict[str, str]
) -> None:
    # Past the year 9999 PostgreSQL's timestamps overflow: a 500, once (found by fuzzing).
    response = trader.get(path, params)

    assert response.status_code == 200, response.body
    assert response.json_body == []


@pytest.mark.parametrize(("path", "code"), [
    ("/api/v3/depth?symbol=BTCUSDT&limit=%C2%B2", None),
    ("/api/v3/exchangeInfo?symbol=BTC%00USDT", -1100),
    ("/api/v3/ticker/price?symbol=BTC%00USDT", -1100),
    ("/api/v3/depth?symbol=BTC%00USDT", -1100),
    ("/v1/ledger?beforeId=1e20", -1102),
    ("/v1/ledger?beforeId=99999999999999999999", -1102),
    ("/v1/ledger?asset=BTC%00", -1100),
    ("/v1/deposits?beforeId=9223372036854775808", -1102),
    ("/v1/withdrawals?beforeId=9223372036854775808", -1102),
    ("/v1/withdrawals/%C2%B2", -1100),
    ("/v1/withdrawals/9223372036854775808", -1102),
    ("/v1/deposit-address?asset=BTC%00", -1100),
    ("/api/v3/exchangeInfo?symbols=" + "%5B" * 5000 + "%5D" * 5000, -1102),
    ("/api/v3/ticker/price?symbols=" + "%5B" * 5000 + "%5D" * 5000, -1102),
])
def test_bad_query_parameters_get_a_4xx_not_a_500(
    client: Client, alice: Caller, btcusdt: str, path: str, code: int | None
) -> None:
    response = client.http.get(path, headers=alice.headers())

    assert 400 <= response.status_code < 500, response.body
    assert set(response.json_body) == {"code", "msg"}
    if code is not None:
        assert response.json_body["code"] == code


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/auth/signup", {"email": "eve\x00@example.com", "password": "long enough pw"}),
    ("/v1/auth/login", {"email": "alice@example.com\x00", "password": "x"}),
    ("/v1/api-keys", {"permissions": ["READ"], "label": "k\x00"}),
    ("/v1/api-keys", {"permissions": ["READ\x00"]}),
    ("/v1/withdrawals", {"asset": "BTC\x00", "amount": "1", "address": "bc1q"}),
])
def test_a_nul_in_a_json_body_is_refused_at_the_edge(
    client: Client, alice: Caller, db: psycopg.Connection[Any], path: str,
    body: dict[str, object]
) -> None:
    response = client.http.post(path, body=json.dumps(body),
                                headers={**alice.headers(), "Idempotency-Key": "nul"})

    assert (response.status_code, response.json_body) == (
        400, {"code": -1100, "msg": "Illegal characters found in a parameter."})
    assert db.execute("SELECT count(*) FROM users").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)


def test_a_nul_in_a_form_body_is_refused_at_the_edge(trader: ApiKey) -> None:
    response = trader.post_form("/api/v3/order", {**ORDER, "newClientOrderId": "a\x00b"})

    assert (response.status_code, response.json_body["code"]) == (400, -1100)
    assert trader.get("/api/v3/openOrders", {"symbol": "BTCUSDT"}).json_body == []


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("post", "/v1/auth/login", {"Content-Type": "text/plain"}, 415),
    ("put", "/api/v3/ping", {}, 405),
])
def test_what_chalice_refuses_itself_answers_in_the_error_format(
    client: Client, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = getattr(client.http, method)(path, headers=headers, body="{}")

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json_body) == {"code", "msg"}
    assert response.json_body["code"] < 0

"""Whatever a client sends, the API answers with a 4xx in its error format, never a
500 or a stack trace, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Caller
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

"""Binance-style signed requests: HMAC-SHA256 over the query string then the body,
`timestamp` within `recvWindow`, `X-MBX-APIKEY`, and the key's permissions."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from chalice.test import Client

from tests.e2e.conftest import ApiKey, Caller, now_ms


@pytest.fixture
def key(alice: Caller) -> ApiKey:
    return alice.new_api_key(["READ"])


def account_with(key: ApiKey, query: str, api_key: str | None = None) -> tuple[int, int]:
    response = key.client.http.get(f"/api/v3/account?{query}",
                                   headers={"X-MBX-APIKEY": api_key or key.api_key})
    return response.status_code, (response.json_body or {}).get("code", 0)


def test_a_valid_signature_reads_the_account(key: ApiKey) -> None:
    response = key.get("/api/v3/account")

    assert response.status_code == 200, response.body
    assert response.json_body["accountType"] == "SPOT"


def test_a_signature_over_query_and_form_body_together(key: ApiKey) -> None:
    query = urlencode({"recvWindow": 10000})
    body = urlencode({"timestamp": now_ms()})
    signature = key.sign(query + body)

    response = key.client.http.get(
        f"/api/v3/account?{query}&signature={signature}", body=body,
        headers={"X-MBX-APIKEY": key.api_key,
                 "Content-Type": "application/x-www-form-urlencoded"})

    assert response.status_code == 200, response.body


def test_one_changed_byte_breaks_the_signature(key: ApiKey) -> None:
    query = key.query({"recvWindow": 5000})
    tampered = query.replace("recvWindow=5000", "recvWindow=5001")

    assert account_with(key, query) == (200, 0)
    assert account_with(key, tampered) == (400, -1022)


def test_a_flipped_signature_character_is_refused(key: ApiKey) -> None:
    query = key.query({})
    last = query[-1]
    flipped = query[:-1] + ("0" if last != "0" else "1")

    assert account_with(key, flipped) == (400, -1022)


def test_a_signature_made_with_the_wrong_secret_is_refused(key: ApiKey) -> None:
    query = urlencode({"timestamp": now_ms()})
    forged = f"{query}&signature={key.sign(query, secret='f' * 64)}"

    assert account_with(key, forged) == (400, -1022)


def test_an_expired_timestamp_is_refused(key: ApiKey) -> None:
    assert account_with(key, key.query({}, timestamp_ms=now_ms() - 5001)) == (400, -1021)


def test_a_timestamp_1001_ms_ahead_is_refused(key: ApiKey) -> None:
    assert account_with(key, key.query({}, timestamp_ms=now_ms() + 1001 + 200)) == (400, -1021)


def test_a_timestamp_within_1000_ms_ahead_is_accepted(key: ApiKey) -> None:
    assert account_with(key, key.query({}, timestamp_ms=now_ms() + 500)) == (200, 0)


def test_a_missing_timestamp_is_refused(key: ApiKey) -> None:
    query = urlencode({"recvWindow": 5000})

    assert account_with(key, f"{query}&signature={key.sign(query)}") == (400, -1102)


def test_a_missing_signature_is_refused(key: ApiKey) -> None:
    assert account_with(key, urlencode({"timestamp": now_ms()})) == (400, -1102)


def test_a_replayed_request_outside_its_window_is_refused(key: ApiKey) -> None:
    captured = key.query({"recvWindow": 1000}, timestamp_ms=now_ms() - 1500)

    assert account_with(key, captured) == (400, -1021)


def test_recv_window_above_60000_is_refused(key: ApiKey) -> None:
    assert account_with(key, key.query({"recvWindow": 60001})) == (400, -1131)


@pytest.mark.parametrize("api_key", ["", "not a key!", "a" * 64])
def test_missing_malformed_or_unknown_keys_are_refused(key: ApiKey, api_key: str) -> None:
    status, code = account_with(key, key.query({}), api_key=api_key or None)
    if not api_key:
        response = key.client.http.get(f"/api/v3/account?{key.query({})}")
        status, code = response.status_code, response.json_body["code"]

    assert status == 401
    assert code in (-2014, -2015)


def test_a_deleted_key_stops_working(alice: Caller, key: ApiKey) -> None:
    key_id = alice.get("/v1/api-keys").json_body["apiKeys"][0]["id"]
    alice.delete(f"/v1/api-keys/{key_id}")

    assert account_with(key, key.query({})) == (401, -2015)


def test_a_key_limited_to_other_ips_is_refused(alice: Caller) -> None:
    key = alice.new_api_key(["READ"], allowlist=["203.0.113.0/24"])

    assert account_with(key, key.query({})) == (401, -2015)


def test_a_key_allowed_from_this_ip_works(alice: Caller, client: Client) -> None:
    key = alice.new_api_key(["READ"], allowlist=["127.0.0.1"])

    assert account_with(key, key.query({})) == (200, 0)


def test_a_trade_only_key_cannot_read_the_account(alice: Caller) -> None:
    key = alice.new_api_key(["TRADE"])

    assert account_with(key, key.query({})) == (401, -2015)


def account_with_body(key: ApiKey, query: str, body: str) -> tuple[int, int]:
    response = key.client.http.get(
        f"/api/v3/account?{query}" if query else "/api/v3/account", body=body,
        headers={"X-MBX-APIKEY": key.api_key,
                 "Content-Type": "application/x-www-form-urlencoded"})
    return response.status_code, (response.json_body or {}).get("code", 0)


def test_every_parameter_in_the_form_body_is_signed_too(key: ApiKey) -> None:
    assert account_with_body(key, "", key.query({"recvWindow": 5000})) == (200, 0)


def test_distinct_parameters_split_between_query_and_body_as_python_binance_sends(
    key: ApiKey,
) -> None:
    query = urlencode({"omitZeroBalances": "true", "recvWindow": 10000})
    body = urlencode({"timestamp": now_ms()})

    assert account_with_body(key, query, f"{body}&signature={key.sign(query + body)}") == (200, 0)


def test_the_signature_in_upper_case_is_the_same_signature(key: ApiKey) -> None:
    query = urlencode({"timestamp": now_ms()})

    assert account_with(key, f"{query}&signature={key.sign(query).upper()}") == (200, 0)


@pytest.mark.parametrize("name", ["timestamp", "recvWindow"])
@pytest.mark.parametrize("value", ["²", "٣", "-1", "1e3", " 1", "1" * 20])
def test_a_time_parameter_that_is_not_ascii_digits_is_refused(
    key: ApiKey, name: str, value: str,
) -> None:
    params = {"timestamp": now_ms(), name: value}
    query = urlencode(params)

    status, code = account_with(key, f"{query}&signature={key.sign(query)}")

    assert status == 400
    assert code in (-1100, -1102)


@pytest.mark.parametrize(("query", "body"), [
    ("recvWindow=5000&recvWindow=5000", ""),
    ("", "recvWindow=5000&recvWindow=5000"),
    ("recvWindow=5000", "recvWindow=5000"),
])
def test_a_parameter_sent_twice_is_refused(key: ApiKey, query: str, body: str) -> None:
    stamped = f"{body}&timestamp={now_ms()}" if body else f"timestamp={now_ms()}"
    stamp_in_body = f"{stamped}&signature={key.sign(query + stamped)}"

    assert account_with_body(key, query, stamp_in_body) == (400, -1101)


@pytest.mark.parametrize("body", ["recvWindow", "=5000", "&recvWindow=5000",
                                  "recvWindow=5000&", "recvWindow=5000&&omitZeroBalances=true"])
def test_a_body_that_is_not_a_well_formed_form_is_refused(key: ApiKey, body: str) -> None:
    query = urlencode({"timestamp": now_ms()})

    status, code = account_with_body(key, query, f"{body}&signature={key.sign(query + body)}")

    assert status == 400
    assert code == -1102

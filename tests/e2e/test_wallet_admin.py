"""Wallet and admin through the API: deposits, withdrawals, balances, markets,
halts and the audit log, with the ledger invariants checked after each scenario."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pyotp
import pytest
from chalice.test import Client

from tests.e2e.conftest import Caller
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]


@pytest.fixture
def funded_alice(admin: Caller, alice: Caller, db: Conn) -> Iterator[Caller]:
    credit = admin.post("/v1/admin/deposits", {"userId": alice.user_id, "asset": "BTC",
                                               "amount": "1.5", "txid": "chain-tx-1"})
    assert credit.status_code == 201, credit.body
    yield alice
    assert_ledger_invariants(db)


def balance_of(user: Caller, asset: str) -> dict[str, str]:
    listed = user.get("/v1/balances").json_body["balances"]
    return next((b for b in listed if b["asset"] == asset),
                {"asset": asset, "free": "0", "locked": "0"})


def withdraw(user: Caller, amount: str, key: str, **extra: object) -> Any:
    return user.client.http.post(
        "/v1/withdrawals", headers={**user.headers(), "Idempotency-Key": key},
        body=json.dumps({"asset": "BTC", "amount": amount, "address": "bc1qdest",
                                       **extra}))


def test_a_deposit_is_credited_once_per_txid(admin: Caller, funded_alice: Caller) -> None:
    again = admin.post("/v1/admin/deposits", {"userId": funded_alice.user_id, "asset": "BTC",
                                              "amount": "1.5", "txid": "chain-tx-1"})
    different = admin.post("/v1/admin/deposits", {"userId": funded_alice.user_id,
                                                  "asset": "BTC", "amount": "2",
                                                  "txid": "chain-tx-1"})

    assert again.status_code == 200
    assert different.status_code == 409
    assert balance_of(funded_alice, "BTC") == {"asset": "BTC", "free": "1.50000000",
                                               "locked": "0.00000000"}
    assert funded_alice.get("/v1/deposits").json_body["items"][0]["amount"] == "1.50000000"


def test_withdrawal_locks_then_approval_pays_out(admin: Caller, funded_alice: Caller) -> None:
    requested = withdraw(funded_alice, "0.4", "w-1")
    assert requested.status_code == 201, requested.body
    repeat = withdraw(funded_alice, "0.4", "w-1")
    assert (repeat.status_code, repeat.json_body["id"]) == (200, requested.json_body["id"])
    assert balance_of(funded_alice, "BTC") == {"asset": "BTC", "free": "1.10000000",
                                               "locked": "0.40000000"}

    approved = admin.post(f"/v1/admin/withdrawals/{requested.json_body['id']}/approve", {})

    assert approved.json_body["status"] == "APPROVED"
    assert balance_of(funded_alice, "BTC")["locked"] == "0.00000000"
    twice = admin.post(f"/v1/admin/withdrawals/{requested.json_body['id']}/reject", {})
    assert twice.status_code == 409


def test_a_rejected_withdrawal_unlocks_the_funds(admin: Caller, funded_alice: Caller) -> None:
    requested = withdraw(funded_alice, "1.5", "w-2").json_body

    admin.post(f"/v1/admin/withdrawals/{requested['id']}/reject", {})

    assert balance_of(funded_alice, "BTC") == {"asset": "BTC", "free": "1.50000000",
                                               "locked": "0.00000000"}


@pytest.mark.parametrize(("amount", "status", "code"), [
    ("1.50000001", 400, -5009),
    ("abc", 400, -1102),
    ("0.000000001", 400, -1111),
    ("-1", 400, -1102),
])
def test_bad_withdrawals_change_nothing(funded_alice: Caller, amount: str, status: int,
                                        code: int) -> None:
    response = withdraw(funded_alice, amount, "w-bad")

    assert (response.status_code, response.json_body["code"]) == (status, code)
    assert balance_of(funded_alice, "BTC")["free"] == "1.50000000"


def test_a_withdrawal_needs_an_idempotency_key(funded_alice: Caller) -> None:
    response = funded_alice.post("/v1/withdrawals",
                                 {"asset": "BTC", "amount": "1", "address": "bc1q"})

    assert (response.status_code, response.json_body["code"]) == (400, -1102)


def test_nobody_sees_or_decides_anothers_withdrawals(admin: Caller, funded_alice: Caller,
                                                     bob: Caller) -> None:
    mine = withdraw(funded_alice, "0.1", "w-3").json_body

    assert bob.get(f"/v1/withdrawals/{mine['id']}").status_code == 404
    assert bob.get("/v1/withdrawals").json_body["items"] == []
    assert bob.get("/v1/ledger").json_body["items"] == []
    assert bob.post(f"/v1/admin/withdrawals/{mine['id']}/approve", {}).status_code == 403
    assert funded_alice.get(f"/v1/withdrawals/{mine['id']}").json_body["status"] == "PENDING"


def test_non_admins_cannot_reach_admin_routes(funded_alice: Caller) -> None:
    for method, path in (("post", "/v1/admin/assets"), ("post", "/v1/admin/markets"),
                         ("post", "/v1/admin/deposits"), ("get", "/v1/admin/audit-log"),
                         ("post", "/v1/admin/markets/BTCUSDT/halt"),
                         ("get", "/v1/admin/withdrawals/pending")):
        response = getattr(funded_alice.client.http, method)(path,
                                                              headers=funded_alice.headers())
        assert response.status_code == 403, path
    assert balance_of(funded_alice, "BTC")["free"] == "1.50000000"


def test_markets_are_created_halted_and_resumed_with_an_audit_trail(
    admin: Caller, client: Client
) -> None:
    created = admin.post("/v1/admin/markets", {
        "symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT", "tickSize": "0.01",
        "stepSize": "0.0001", "minQty": "0.0001", "maxQty": "100", "minNotional": "5",
        "makerFeePpm": 1000, "takerFeePpm": 2000})
    assert created.status_code == 201, created.body

    info = client.http.get("/api/v3/exchangeInfo?symbol=BTCUSDT").json_body["symbols"][0]
    filters = {f["filterType"]: f for f in info["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.010000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00010000"
    assert info["status"] == "TRADING"

    assert admin.post("/v1/admin/markets/BTCUSDT/halt", {}).json_body["status"] == "HALT"
    halted = client.http.get("/api/v3/exchangeInfo?symbol=BTCUSDT").json_body
    assert halted["symbols"][0]["status"] == "HALT"
    assert admin.post("/v1/admin/markets/BTCUSDT/resume", {}).json_body["status"] == "TRADING"
    patched = admin.client.http.patch("/v1/admin/markets/BTCUSDT", headers=admin.headers(),
                                      body='{"takerFeePpm": 1500}')
    assert patched.json_body["takerFeePpm"] == 1500

    actions = [e["action"] for e in admin.get("/v1/admin/audit-log").json_body["items"]]
    assert actions[:4] == ["MARKET_UPDATE", "MARKET_STATUS", "MARKET_STATUS", "MARKET_CREATE"]
    assert all(e["actorUserId"] == admin.user_id
               for e in admin.get("/v1/admin/audit-log").json_body["items"])


def test_exchange_info_rejects_unknown_symbols(client: Client, admin: Caller) -> None:
    response = client.http.get("/api/v3/exchangeInfo?symbol=NOPE")

    assert (response.status_code, response.json_body["code"]) == (400, -1121)


def test_account_endpoint_shows_balances_in_binance_shape(funded_alice: Caller) -> None:
    key = funded_alice.new_api_key(["READ"])

    account = key.get("/api/v3/account").json_body

    assert account["balances"] == [{"asset": "BTC", "free": "1.50000000",
                                    "locked": "0.00000000"}]
    assert account["canTrade"] is False
    assert account["uid"] == funded_alice.user_id


def test_api_key_withdrawal_needs_withdraw_permission_and_is_replay_safe(
    funded_alice: Caller,
) -> None:
    reader = funded_alice.new_api_key(["READ"])
    withdrawer = funded_alice.new_api_key(["WITHDRAW"], allowlist=["127.0.0.1/32"])
    params = {"coin": "BTC", "address": "bc1qdest", "amount": "0.5"}

    refused = reader.post_form("/sapi/v1/capital/withdraw/apply", params)
    assert (refused.status_code, refused.json_body["code"]) == (401, -2015)

    body = withdrawer.query(params)
    first, replay = (withdrawer.client.http.post(
        "/sapi/v1/capital/withdraw/apply", body=body,
        headers={"X-MBX-APIKEY": withdrawer.api_key,
                 "Content-Type": "application/x-www-form-urlencoded"}) for _ in range(2))

    assert first.status_code == 200, first.body
    assert replay.json_body == first.json_body
    assert balance_of(funded_alice, "BTC") == {"asset": "BTC", "free": "1.00000000",
                                               "locked": "0.50000000"}


def test_ledger_history_is_paginated_newest_first(admin: Caller, funded_alice: Caller) -> None:
    for n in range(3):
        withdraw(funded_alice, "0.1", f"page-{n}")

    first = funded_alice.get("/v1/ledger?limit=4").json_body
    rest = funded_alice.get(f"/v1/ledger?limit=4&beforeId={first['nextBeforeId']}").json_body

    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 7
    assert rest["nextBeforeId"] is None


def test_withdrawals_need_the_second_factor_once_enabled(funded_alice: Caller) -> None:
    enrol = funded_alice.post("/v1/auth/totp/enrol", {}).json_body
    totp = pyotp.TOTP(enrol["secret"])
    funded_alice.post("/v1/auth/totp/confirm", {"code": totp.now()})

    response = withdraw(funded_alice, "0.1", "w-totp")

    assert (response.status_code, response.json_body["code"]) == (401, -5003)
    assert balance_of(funded_alice, "BTC")["locked"] == "0.00000000"

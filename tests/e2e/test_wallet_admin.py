"""Wallet and admin through the API: deposits, withdrawals, balances, markets,
halts and the audit log, with the ledger invariants checked after each scenario."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pyotp
import pytest
from chalice.test import Client

from tests.e2e.conftest import PASSWORD, Admin, Caller
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
                         ("get", "/v1/admin/withdrawals/pending"),
                         ("patch", "/v1/admin/assets/BTC"),
                         ("get", "/v1/admin/deposits/pending"),
                         ("post", "/v1/admin/deposits/1/approve")):
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
    enrol = funded_alice.post("/v1/auth/totp/enrol", {"password": PASSWORD}).json_body
    totp = pyotp.TOTP(enrol["secret"])
    funded_alice.post("/v1/auth/totp/confirm", {"code": totp.now()})

    response = withdraw(funded_alice, "0.1", "w-totp")

    assert (response.status_code, response.json_body["code"]) == (401, -5003)
    assert balance_of(funded_alice, "BTC")["locked"] == "0.00000000"


# Operator safety: step-up, no self-dealing, four eyes above a threshold


def credit(admin: Caller, user: Caller, amount: str, txid: str) -> Any:
    return admin.post("/v1/admin/deposits", {"userId": user.user_id, "asset": "BTC",
                                             "amount": amount, "txid": txid})


def audit_actions(admin: Caller) -> list[str]:
    return [e["action"] for e in admin.get("/v1/admin/audit-log").json_body["items"]]


def set_threshold(admin: Caller, asset: str, threshold: str | None) -> Any:
    return admin.client.http.patch(f"/v1/admin/assets/{asset}", headers=admin.headers(),
                                   body=json.dumps({"fourEyesThreshold": threshold}))


def test_money_actions_need_a_recent_step_up(admin: Caller, alice: Caller, db: Conn) -> None:
    without = Caller(admin.client, "ops3@example.com")
    db.execute("UPDATE users SET is_admin = true WHERE id = %s", (without.user_id,))
    requested = withdraw_for(admin, alice, "0.1", "w-step")

    responses = [credit(without, alice, "1", "no-step-up"),
                 without.post(f"/v1/admin/withdrawals/{requested}/approve", {}),
                 without.post(f"/v1/admin/withdrawals/{requested}/reject", {}),
                 set_threshold(without, "BTC", "1")]

    assert [(r.status_code, r.json_body["code"]) for r in responses] == [(401, -5003)] * 4
    assert balance_of(alice, "BTC") == {"asset": "BTC", "free": "0.90000000",
                                        "locked": "0.10000000"}
    assert_ledger_invariants(db)


def withdraw_for(admin: Caller, user: Caller, amount: str, key: str, **extra: object) -> int:
    """Fund ``user`` with 1 BTC and have them request a withdrawal; its id."""
    assert credit(admin, user, "1", f"fund-{key}").status_code == 201
    requested = withdraw(user, amount, key, **extra)
    assert requested.status_code == 201, requested.body
    return int(requested.json_body["id"])


def test_an_admin_cannot_credit_their_own_account(admin: Caller, db: Conn) -> None:
    response = credit(admin, admin, "5", "self-credit")

    assert (response.status_code, response.json_body["code"]) == (403, -5005)
    assert balance_of(admin, "BTC")["free"] == "0"
    assert audit_actions(admin)[0] == "DEPOSIT_CREDIT_REFUSED"
    assert_ledger_invariants(db)


def test_an_admin_cannot_approve_their_own_withdrawal(
    admin: Admin, second_admin: Admin, db: Conn
) -> None:
    # The previous window's code (still accepted): the current and next were spent.
    code = admin.totp.at(int(time.time()) - 30)
    requested = withdraw_for(second_admin, admin, "0.4", "w-self", totpCode=code)

    mine = admin.post(f"/v1/admin/withdrawals/{requested}/approve", {})

    assert (mine.status_code, mine.json_body["code"]) == (403, -5005)
    assert balance_of(admin, "BTC") == {"asset": "BTC", "free": "0.60000000",
                                        "locked": "0.40000000"}
    assert audit_actions(admin)[0] == "WITHDRAWAL_APPROVAL_REFUSED"
    theirs = second_admin.post(f"/v1/admin/withdrawals/{requested}/approve", {})
    assert (theirs.status_code, theirs.json_body["status"]) == (200, "APPROVED")
    assert balance_of(admin, "BTC")["locked"] == "0.00000000"
    assert_ledger_invariants(db)


def test_a_threshold_is_set_on_an_asset_and_changed(admin: Caller, client: Client) -> None:
    created = admin.post("/v1/admin/assets", {"symbol": "ETH", "scale": 8,
                                              "fourEyesThreshold": "10"})
    bad = admin.post("/v1/admin/assets", {"symbol": "XRP", "scale": 6,
                                          "fourEyesThreshold": "-1"})
    changed = set_threshold(admin, "ETH", "2.5")
    cleared = set_threshold(admin, "ETH", None)
    unknown = set_threshold(admin, "NOPE", "1")

    assert (created.status_code, created.json_body) == (201, {
        "symbol": "ETH", "scale": 8, "name": "", "fourEyesThreshold": "10.00000000"})
    assert (bad.status_code, bad.json_body["code"]) == (400, -1102)
    assert (changed.status_code, changed.json_body["fourEyesThreshold"]) == (200, "2.50000000")
    assert (cleared.status_code, cleared.json_body["fourEyesThreshold"]) == (200, None)
    assert (unknown.status_code, unknown.json_body["code"]) == (400, -1102)
    assert audit_actions(admin)[:3] == ["ASSET_UPDATE", "ASSET_UPDATE", "ASSET_CREATE"]
    assert client.http.get("/api/v3/exchangeInfo").status_code == 200


def test_a_credit_above_the_threshold_needs_a_second_admin(
    admin: Caller, second_admin: Caller, alice: Caller, db: Conn
) -> None:
    assert set_threshold(admin, "BTC", "1").status_code == 200

    first = credit(admin, alice, "1.5", "big-credit")

    assert first.status_code == 202, first.body
    assert first.json_body["state"] == "AWAITING_SECOND_ADMIN"
    assert balance_of(alice, "BTC")["free"] == "0"
    pending = second_admin.get("/v1/admin/deposits/pending").json_body["items"]
    assert [(p["id"], p["amount"], p["requestedBy"]) for p in pending] == [
        (first.json_body["id"], "1.50000000", admin.user_id)]
    request_id = first.json_body["id"]
    same = admin.post(f"/v1/admin/deposits/{request_id}/approve", {})
    assert (same.status_code, same.json_body["code"]) == (403, -5005)
    assert balance_of(alice, "BTC")["free"] == "0"

    second = second_admin.post(f"/v1/admin/deposits/{request_id}/approve", {})
    again = second_admin.post(f"/v1/admin/deposits/{request_id}/approve", {})

    assert (second.status_code, second.json_body["amount"]) == (201, "1.50000000")
    assert (again.status_code, again.json_body) == (200, second.json_body)
    assert balance_of(alice, "BTC") == {"asset": "BTC", "free": "1.50000000",
                                        "locked": "0.00000000"}
    assert second_admin.get("/v1/admin/deposits/pending").json_body["items"] == []
    assert audit_actions(admin)[:3] == ["DEPOSIT_CREDIT", "DEPOSIT_CREDIT_REFUSED",
                                        "DEPOSIT_CREDIT_REQUESTED"]
    assert_ledger_invariants(db)


def test_a_withdrawal_above_the_threshold_needs_a_second_admin(
    admin: Caller, second_admin: Caller, alice: Caller, db: Conn
) -> None:
    assert set_threshold(admin, "BTC", "1").status_code == 200
    assert credit(admin, alice, "1", "part-1").status_code == 201
    requested = withdraw_for(admin, alice, "1.5", "w-big")

    first = admin.post(f"/v1/admin/withdrawals/{requested}/approve", {})

    assert first.status_code == 202, first.body
    assert (first.json_body["status"], first.json_body["state"],
            first.json_body["firstApprovedBy"]) == ("PENDING", "AWAITING_SECOND_ADMIN",
                                                    admin.user_id)
    assert balance_of(alice, "BTC")["locked"] == "1.50000000"
    same = admin.post(f"/v1/admin/withdrawals/{requested}/approve", {})
    assert (same.status_code, same.json_body["code"]) == (403, -5005)

    second = second_admin.post(f"/v1/admin/withdrawals/{requested}/approve", {})
    again = second_admin.post(f"/v1/admin/withdrawals/{requested}/approve", {})

    assert (second.status_code, second.json_body["status"]) == (200, "APPROVED")
    assert again.status_code == 409
    assert balance_of(alice, "BTC") == {"asset": "BTC", "free": "0.50000000",
                                        "locked": "0.00000000"}
    assert audit_actions(admin)[:3] == ["WITHDRAWAL_APPROVED", "WITHDRAWAL_APPROVAL_REFUSED",
                                        "WITHDRAWAL_FIRST_APPROVAL"]
    assert_ledger_invariants(db)


def test_the_second_admin_needs_a_step_up_too(admin: Caller, alice: Caller, db: Conn) -> None:
    assert set_threshold(admin, "BTC", "1").status_code == 200
    request_id = credit(admin, alice, "3", "needs-two").json_body["id"]
    lazy = Caller(admin.client, "lazy-ops@example.com")
    db.execute("UPDATE users SET is_admin = true WHERE id = %s", (lazy.user_id,))

    response = lazy.post(f"/v1/admin/deposits/{request_id}/approve", {})

    assert (response.status_code, response.json_body["code"]) == (401, -5003)
    assert balance_of(alice, "BTC")["free"] == "0"

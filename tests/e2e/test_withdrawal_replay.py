"""A signed withdrawal cannot be replayed into a second one by respelling it: the
signature's case, a parameter split across query and body, or a duplicated name."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest

from tests.e2e.conftest import ApiKey, Caller, fund, now_ms
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
APPLY = "/sapi/v1/capital/withdraw/apply"
FORM = "application/x-www-form-urlencoded"
WITHDRAWAL = {"coin": "BTC", "address": "bc1qdest", "amount": "0.5"}


@pytest.fixture
def withdrawer(admin: Caller, alice: Caller, db: Conn) -> Any:
    fund(admin, alice, "BTC", "1.5")
    yield alice.new_api_key(["WITHDRAW"], allowlist=["127.0.0.1/32"])
    assert_ledger_invariants(db)


def send(key: ApiKey, query: str = "", body: str = "") -> tuple[int, dict[str, Any]]:
    response = key.client.http.post(f"{APPLY}?{query}" if query else APPLY, body=body,
                                    headers={"X-MBX-APIKEY": key.api_key, "Content-Type": FORM})
    return response.status_code, response.json_body


def signed_payload(key: ApiKey, params: dict[str, str]) -> tuple[str, str]:
    """The payload a client signs (timestamp last, as python-binance orders it), and
    its signature."""
    payload = urlencode({**params, "timestamp": now_ms()})
    return payload, key.sign(payload)


def withdrawals(db: Conn, alice: Caller) -> list[tuple[str, str]]:
    rows = db.execute("SELECT idempotency_key, amount::text FROM withdrawals WHERE user_id = %s",
                      (alice.user_id,)).fetchall()
    return [(str(key), str(amount)) for key, amount in rows]


def locked_btc(alice: Caller) -> str:
    balances = alice.get("/v1/balances").json_body["balances"]
    return str(next(b["locked"] for b in balances if b["asset"] == "BTC"))


def test_the_idempotent_repeat_returns_the_same_withdrawal(
    withdrawer: ApiKey, alice: Caller, db: Conn,
) -> None:
    payload, signature = signed_payload(withdrawer, WITHDRAWAL)

    first = send(withdrawer, body=f"{payload}&signature={signature}")
    repeat = send(withdrawer, body=f"{payload}&signature={signature}")

    assert first[0] == 200, first
    assert repeat == first
    assert len(withdrawals(db, alice)) == 1


def test_the_signature_in_upper_or_mixed_case_withdraws_nothing_more(
    withdrawer: ApiKey, alice: Caller, db: Conn,
) -> None:
    payload, signature = signed_payload(withdrawer, WITHDRAWAL)
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(signature))

    answers = [send(withdrawer, body=f"{payload}&signature={spelling}")
               for spelling in (signature, signature.upper(), mixed)]

    assert answers[0][0] == 200, answers[0]
    assert answers[1] == answers[2] == answers[0]
    assert len(withdrawals(db, alice)) == 1
    assert locked_btc(alice) == "0.50000000"


def test_a_parameter_split_across_query_and_body_is_refused(
    withdrawer: ApiKey, alice: Caller, db: Conn,
) -> None:
    payload, signature = signed_payload(withdrawer, {**WITHDRAWAL, "withdrawOrderId": "wd12345"})
    query, rest = payload.split("345", 1)

    status, body = send(withdrawer, query=query, body=f"345{rest}&signature={signature}")

    assert status == 400, body
    assert body["code"] < 0
    assert withdrawals(db, alice) == []
    assert locked_btc(alice) == "0.00000000"


@pytest.mark.parametrize("placement", ["twice in the query", "twice in the body",
                                       "in the query and the body"])
def test_a_duplicated_parameter_is_refused(
    withdrawer: ApiKey, alice: Caller, db: Conn, placement: str,
) -> None:
    query = "amount=0.1" if placement == "in the query and the body" else ""
    body_params = [*WITHDRAWAL.items(), ("timestamp", str(now_ms()))]
    if placement != "in the query and the body":
        body_params.insert(2, ("amount", "0.1"))
    body = urlencode(body_params)
    signature = withdrawer.sign(query + body)
    if placement == "twice in the query":
        query, body = f"{body}&signature={signature}", ""
    else:
        body = f"{body}&signature={signature}"

    status, answer = send(withdrawer, query=query, body=body)

    assert (status, answer["code"]) == (400, -1101), answer
    assert withdrawals(db, alice) == []


def test_a_body_that_is_not_a_form_is_refused(
    withdrawer: ApiKey, alice: Caller, db: Conn,
) -> None:
    payload, _ = signed_payload(withdrawer, WITHDRAWAL)
    body = f"{payload}&&junk"

    status, answer = send(withdrawer, body=f"{body}&signature={withdrawer.sign(body)}")

    assert status == 400, answer
    assert answer["code"] in (-1101, -1102)
    assert withdrawals(db, alice) == []


def test_the_same_signature_over_a_respelt_request_is_refused(
    withdrawer: ApiKey, alice: Caller, db: Conn,
) -> None:
    # python-binance style: some parameters in the query, the rest in the body; the
    # signed text (query then body, nothing between) also reads as one form in which
    # `network` swallows the rest, a different request under the same signature.
    query = urlencode({**WITHDRAWAL, "timestamp": now_ms(), "network": "BTC"})
    body = urlencode({"walletType": "0"})
    signature = withdrawer.sign(query + body)

    first = send(withdrawer, query=query, body=f"{body}&signature={signature}")
    respelt = send(withdrawer, body=f"{query}{body}&signature={signature}")

    assert first[0] == 200, first
    assert (respelt[0], respelt[1]["code"]) == (400, -1022), respelt
    assert len(withdrawals(db, alice)) == 1


def test_a_signature_that_is_not_64_hex_characters_is_refused(
    withdrawer: ApiKey, alice: Caller, db: Conn,
) -> None:
    payload, signature = signed_payload(withdrawer, WITHDRAWAL)

    answers = [send(withdrawer, body=f"{payload}&signature={spelling}")
               for spelling in (signature[:63], signature + "0", "g" * 64)]

    assert all(status == 400 and body["code"] in (-1022, -1102) for status, body in answers)
    assert withdrawals(db, alice) == []

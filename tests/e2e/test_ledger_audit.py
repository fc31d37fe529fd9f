"""The ledger auditor end to end: users deposit and trade through the API (the matcher in
process), a pass finds every invariant holding; then money is created from nothing with the
schema owner's login (an entry with no counterpart, its balance moved with it), and the
next pass sees it: the metric drops to 0, the admin API shows the break and the halt, the
audit log has the exchange's own entry, a withdrawal is refused with nothing reserved and
the halt cannot be cleared; once repaired and audited, an admin clears it and withdrawals
work again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.adapters.postgres import FUNCTION_LIMITS, Database
from chalicelib.bootstrap import AuditorServices
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.settings import Settings
from lambdas.ledger_auditor import audit
from tests.conftest import as_role
from tests.e2e.conftest import ApiKey, Caller, fund
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]


@pytest.fixture
def auditor(matcher: Settings) -> Iterator[AuditorServices]:
    """The auditor as its process has it (the functions' role), with metrics to read."""
    settings = as_role(matcher, "functions")
    resources = ExitStack()
    database = resources.enter_context(Database(settings.database_url, FUNCTION_LIMITS,
                                                min_size=0, max_size=1, autocommit=True))
    services = AuditorServices(database.transaction,
                               PrometheusMetrics("ledger-auditor", process_metrics=False),
                               resources)
    yield services
    services.close()


def sample(services: AuditorServices, spec: catalogue.MetricSpec, **labels: str) -> float | None:
    assert isinstance(services.metrics, PrometheusMetrics)
    return services.metrics.sample(spec, **labels)


def trade(admin: Caller, buyer: Caller, seller: Caller) -> None:
    fund(admin, buyer, "USDT", "10000")
    fund(admin, seller, "BTC", "1")
    bid, ask = buyer.new_api_key(["READ", "TRADE"]), seller.new_api_key(["READ", "TRADE"])
    place(ask, side="SELL", quantity="0.5", price="20000")
    place(bid, side="BUY", quantity="0.2", price="20100")


def place(key: ApiKey, **params: str) -> None:
    response = key.post_form("/api/v3/order", {"symbol": "BTCUSDT", "type": "LIMIT",
                                               "timeInForce": "GTC", **params})
    assert response.status_code == 200, response.body


def withdraw(user: Caller, key: str) -> Any:
    return user.client.http.post(
        "/v1/withdrawals", headers={**user.headers(), "Idempotency-Key": key},
        body=json.dumps({"asset": "BTC", "amount": "0.1", "address": "bc1qdest"}))


def btc(user: Caller) -> tuple[str, str]:
    listed = user.get("/v1/balances").json_body["balances"]
    found = next(b for b in listed if b["asset"] == "BTC")
    return found["free"], found["locked"]


def unbalanced(db: Conn, user_id: int, amount: int, reference: str,
               account: str = "USER") -> None:
    """One ledger entry with no counterpart, and its balance moved by it: what a writer
    that forgot a leg would leave (the owner turns the balancing trigger off to do it)."""
    db.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_balanced")
    try:
        with db.transaction():
            balance = db.execute(
                "UPDATE balances SET available = available + %s WHERE asset = 'BTC'"
                " AND account_kind = %s AND (account_kind <> 'USER' OR user_id = %s)"
                " RETURNING id", (amount, account, user_id)).fetchone()
            assert balance is not None
            tx = db.execute(
                "INSERT INTO ledger_transactions (kind, reference) VALUES ('MANUAL', %s)"
                " ON CONFLICT (kind, reference) DO UPDATE SET kind = EXCLUDED.kind"
                " RETURNING id", (reference,)).fetchone()
            assert tx is not None
            db.execute(
                "INSERT INTO ledger_entries (transaction_id, balance_id, asset, bucket, amount)"
                " VALUES (%s, %s, 'BTC', 'AVAILABLE', %s)", (tx[0], balance[0], amount))
    finally:
        db.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_balanced")


def test_a_ledger_break_halts_withdrawals_until_repaired_and_cleared(
        admin: Caller, alice: Caller, bob: Caller, btcusdt: str, auditor: AuditorServices,
        db: Conn) -> None:
    trade(admin, alice, bob)
    wait_until_settled(db, btcusdt)

    first = audit(auditor).result
    status = admin.get("/v1/admin/ledger-audit").json_body

    assert (first.ok, first.full, first.halted) == (True, True, False)
    assert sample(auditor, catalogue.LEDGER_AUDIT_OK) == 1
    assert sample(auditor, catalogue.FEES_COLLECTED, asset="BTC") == 40_000
    assert (status["status"], status["withdrawalsHalted"], status["breaks"]) == ("ok", False, [])

    unbalanced(db, alice.user_id, 100_000, "forgot-a-leg")
    broken = audit(auditor).result
    status = admin.get("/v1/admin/ledger-audit").json_body

    assert (broken.ok, broken.full, broken.halted) == (False, False, True)
    assert sample(auditor, catalogue.LEDGER_AUDIT_OK) == 0
    assert sample(auditor, catalogue.LEDGER_AUDIT_BREAKS, invariant="asset_sum") == 1
    assert sample(auditor, catalogue.WITHDRAWALS_HALTED) == 1
    assert (status["status"], status["withdrawalsHalted"]) == ("broken", True)
    assert status["breaks"] == [{"invariant": "asset_sum", "asset": "BTC", "balanceId": None,
                                 "userId": None, "bucket": None, "expected": "0.00000000",
                                 "actual": "0.00100000"}]
    logged = admin.get("/v1/admin/audit-log").json_body["items"][0]
    assert (logged["actorUserId"], logged["action"]) == (None, "LEDGER_AUDIT_HALT")
    assert logged["details"]["breaks"][0]["actual"] == "100000"
    before = btc(alice)
    refused = withdraw(alice, "w-halted")
    assert (refused.status_code, refused.json_body["code"]) == (400, -5010), refused.body
    assert btc(alice) == before
    assert admin.post("/v1/admin/ledger-audit/clear", {}).status_code == 409

    # The repair: the missing leg, in the same ledger transaction, on the deposit clearing
    # account (as if the amount had been deposited).
    unbalanced(db, alice.user_id, -100_000, "forgot-a-leg", account="DEPOSIT_CLEARING")
    repaired = audit(auditor).result
    assert (repaired.ok, repaired.full, repaired.halted) == (True, True, True)
    assert withdraw(alice, "w-still-halted").status_code == 400

    cleared = admin.post("/v1/admin/ledger-audit/clear", {})

    assert cleared.status_code == 200, cleared.body
    assert (cleared.json_body["status"], cleared.json_body["withdrawalsHalted"]) == ("ok", False)
    assert admin.get("/v1/admin/audit-log").json_body["items"][0]["action"] == (
        "LEDGER_AUDIT_CLEAR")
    assert withdraw(alice, "w-after").status_code == 201
    assert audit(auditor).result.ok
    assert sample(auditor, catalogue.WITHDRAWALS_HALTED) == 0
    assert sample(auditor, catalogue.WITHDRAWALS_PENDING, asset="BTC") == 1
    assert_ledger_invariants(db)


def test_only_admins_see_or_clear_the_audit(alice: Caller, admin: Caller) -> None:
    assert alice.get("/v1/admin/ledger-audit").status_code == 403
    assert alice.post("/v1/admin/ledger-audit/clear", {}).status_code == 403
    never = admin.get("/v1/admin/ledger-audit").json_body
    assert (never["status"], never["lastPass"], never["withdrawalsHalted"]) == (
        "never", None, False)

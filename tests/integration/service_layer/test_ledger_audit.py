"""The ledger auditor on the real database, as the functions' role: incremental passes read
exactly the entries committed since the last one (whatever order their transactions commit
in), a full pass agrees with them, and a break halts withdrawals until an admin clears it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from chalicelib.adapters.ledger import post_transaction
from chalicelib.adapters.ledger_audit_repo import PASS_LOCK_KEY
from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.adapters.postgres import FUNCTION_LIMITS, Database
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, Posting
from chalicelib.domain.ledger_audit import Invariant
from chalicelib.service_layer import ledger_audit, wallet
from chalicelib.service_layer.retries import UnitOfWork
from chalicelib.settings import Settings
from tests.conftest import as_role
from tests.support.ledger import assert_ledger_invariants

from . import Conn, make_assets, make_user, user_account

AVAILABLE, LOCKED = Bucket.AVAILABLE, Bucket.LOCKED
CLEARING = AccountKind.DEPOSIT_CLEARING


@pytest.fixture
def auditor(test_settings: Settings, db_url: str) -> Iterator[UnitOfWork]:
    """Units of work as the auditor has them: the functions' role, autocommit."""
    settings = as_role(test_settings, "functions")
    with Database(settings.database_url, FUNCTION_LIMITS, min_size=0, max_size=2,
                  autocommit=True) as database:
        yield database.transaction


@pytest.fixture
def alice(db: Conn) -> int:
    make_assets(db, ("BTC", 8), ("USDT", 6))
    return make_user(db)


def deposit(db: Conn, user_id: int, amount: int, reference: str, asset: str = "BTC") -> None:
    with db.transaction():
        post_transaction(db, "DEPOSIT", reference, [
            Posting(AccountRef.user(user_id, asset), AVAILABLE, amount),
            Posting(AccountRef.system(CLEARING, asset), AVAILABLE, -amount)])


def audit(auditor: UnitOfWork, **options: Any) -> ledger_audit.Audited:
    return ledger_audit.run_pass(auditor, **options)


def kept_sums(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT balance_id, asset, available, locked FROM ledger_audit_balance_sums"
                      " ORDER BY balance_id").fetchall() + db.execute(
        "SELECT asset, total FROM ledger_audit_asset_sums ORDER BY asset").fetchall()


def test_the_first_pass_is_full_and_then_each_pass_reads_only_new_entries(
        auditor: UnitOfWork, db: Conn, alice: int) -> None:
    deposit(db, alice, 100, "d-1")
    deposit(db, alice, 50, "d-2")

    first = audit(auditor).result
    nothing_new = audit(auditor, full_every=0).result
    deposit(db, alice, 7, "d-3")
    one_more = audit(auditor, full_every=0).result

    assert (first.full, first.entries, first.ok) == (True, 4, True)
    assert (nothing_new.full, nothing_new.entries, nothing_new.ok) == (False, 0, True)
    assert (one_more.full, one_more.entries, one_more.ok) == (False, 2, True)
    assert db.execute("SELECT total FROM ledger_audit_asset_sums WHERE asset = 'BTC'"
                      ).fetchone() == (0,)
    assert db.execute("SELECT s.available FROM ledger_audit_balance_sums s"
                      " JOIN balances b ON b.id = s.balance_id WHERE b.user_id = %s",
                      (alice,)).fetchone() == (157,)


def test_an_entry_committed_after_a_later_id_is_not_skipped(
        auditor: UnitOfWork, db: Conn, db_url: str, alice: int) -> None:
    deposit(db, alice, 1, "d-0")
    audit(auditor)
    with psycopg.connect(db_url) as slow:
        # Takes its entry ids first and commits last.
        slow.execute("SELECT 1")
        post_transaction(slow, "DEPOSIT", "d-slow", [
            Posting(AccountRef.user(alice, "BTC"), AVAILABLE, 30),
            Posting(AccountRef.system(CLEARING, "BTC"), AVAILABLE, -30)])
        # Other accounts than the slow one's, which holds its accounts' row locks.
        deposit(db, alice, 20, "d-fast", asset="USDT")

        while_open = audit(auditor, full_every=0).result
        slow.commit()
    after_commit = audit(auditor, full_every=0).result
    incremental = kept_sums(db)
    full = audit(auditor, full=True).result

    ids = dict(db.execute("SELECT t.reference, max(e.id) FROM ledger_entries e JOIN"
                          " ledger_transactions t ON t.id = e.transaction_id GROUP BY 1"))
    assert ids["d-slow"] < ids["d-fast"]
    assert (while_open.entries, while_open.ok) == (2, True)
    assert (after_commit.entries, after_commit.ok) == (2, True)
    assert (full.full, full.entries, full.ok) == (True, 6, True)
    assert kept_sums(db) == incremental
    assert (user_account(db, alice, "BTC"), user_account(db, alice, "USDT")) == ((31, 0), (20, 0))


def test_entries_posted_around_the_balances_halt_withdrawals_until_cleared(
        auditor: UnitOfWork, db: Conn, alice: int) -> None:
    operator = make_user(db, admin=True)
    deposit(db, alice, 1000, "d-1")
    audit(auditor)
    # A writer that skips the balances: balanced entries, no balance change.
    balance_id = db.execute("SELECT id FROM balances WHERE user_id = %s", (alice,)).fetchone()
    clearing_id = db.execute("SELECT id FROM balances WHERE account_kind = 'DEPOSIT_CLEARING'"
                             ).fetchone()
    assert balance_id
    assert clearing_id
    tx = db.execute("INSERT INTO ledger_transactions (kind, reference) VALUES ('BAD', 'x')"
                    " RETURNING id").fetchone()
    assert tx
    db.execute("INSERT INTO ledger_entries (transaction_id, balance_id, asset, bucket, amount)"
               " VALUES (%s, %s, 'BTC', 'AVAILABLE', 5), (%s, %s, 'BTC', 'AVAILABLE', -5)",
               (tx[0], balance_id[0], tx[0], clearing_id[0]))
    metrics = PrometheusMetrics("ledger-auditor", process_metrics=False)

    broken = audit(auditor, full_every=0)
    ledger_audit.record_metrics(metrics, broken, 1.0)

    assert not broken.result.ok
    assert broken.result.halted
    assert {(b.invariant, b.balance_id, b.expected, b.actual) for b in broken.result.breaks} == {
        (Invariant.BALANCE_ENTRIES, balance_id[0], 1005, 1000),
        (Invariant.BALANCE_ENTRIES, clearing_id[0], -1005, -1000)}
    assert metrics.sample(catalogue.LEDGER_AUDIT_OK) == 0
    assert metrics.sample(catalogue.LEDGER_AUDIT_BREAKS, invariant="balance_entries") == 2
    assert metrics.sample(catalogue.LEDGER_AUDIT_BREAKS, invariant="locks") == 0
    assert metrics.sample(catalogue.WITHDRAWALS_HALTED) == 1
    assert metrics.sample(catalogue.DEPOSITS_CREDITED, asset="BTC") == 1000
    assert metrics.sample(catalogue.DEPOSITS_CREDITED, asset="USDT") == 0
    logged = db.execute("SELECT actor_user_id, action, details->'breaks'->0->>'invariant'"
                        " FROM audit_log").fetchall()
    assert logged == [(None, "LEDGER_AUDIT_HALT", "balance_entries")]

    with pytest.raises(ApiError) as refused:
        wallet.request_withdrawal(db, user_id=alice, asset="BTC", amount=10, address="bc1q",
                                  idempotency_key="w-1")
    assert (refused.value.status, refused.value.code) == (400, ErrorCode.WITHDRAWALS_HALTED)
    assert user_account(db, alice, "BTC") == (1000, 0)
    with pytest.raises(ApiError) as too_soon:
        ledger_audit.clear_halt(db, actor_id=operator)
    assert too_soon.value.status == 409

    # Repaired: the balances take what the entries moved.
    db.execute("UPDATE balances SET available = available + 5 WHERE id = %s", balance_id)
    db.execute("UPDATE balances SET available = available - 5 WHERE id = %s", clearing_id)
    repaired = audit(auditor, full_every=0).result
    assert (repaired.full, repaired.ok, repaired.halted) == (True, True, True)

    status = ledger_audit.clear_halt(db, actor_id=operator)

    assert (status.ok, status.withdrawals_halted) == (True, False)
    assert db.execute("SELECT actor_user_id, action FROM audit_log ORDER BY id DESC LIMIT 1"
                      ).fetchone() == (operator, "LEDGER_AUDIT_CLEAR")
    _withdrawal, created = wallet.request_withdrawal(
        db, user_id=alice, asset="BTC", amount=10, address="bc1q", idempotency_key="w-1")
    assert created
    assert user_account(db, alice, "BTC") == (995, 10)
    assert audit(auditor, full_every=0).result.ok
    assert_ledger_invariants(db)


def test_a_balance_changed_around_the_ledger_is_found_by_the_next_full_pass(
        auditor: UnitOfWork, db: Conn, alice: int) -> None:
    deposit(db, alice, 1000, "d-1")
    audit(auditor)
    db.execute("UPDATE balances SET available = available + 1 WHERE user_id = %s", (alice,))

    incremental = audit(auditor, full_every=0).result
    full = audit(auditor, full=True).result

    assert incremental.ok
    assert {(b.invariant, b.asset, b.expected, b.actual) for b in full.breaks} == {
        (Invariant.ASSET_SUM, "BTC", 0, 1),
        (Invariant.BALANCE_ENTRIES, "BTC", 1000, 1001)}


def test_a_lock_with_nothing_behind_it_breaks_invariant_3(
        auditor: UnitOfWork, db: Conn, alice: int) -> None:
    deposit(db, alice, 1000, "d-1")
    wallet.request_withdrawal(db, user_id=alice, asset="BTC", amount=300, address="bc1q",
                              idempotency_key="w-1")
    assert audit(auditor).result.ok
    # Rejected without the unlock: 300 stay locked for no pending withdrawal.
    db.execute("UPDATE withdrawals SET status = 'REJECTED', decided_at = now()")

    found = audit(auditor, full=True).result

    assert [(b.invariant, b.user_id, b.asset, b.expected, b.actual) for b in found.breaks] == [
        (Invariant.LOCKS, alice, "BTC", 0, 300)]


def test_one_pass_at_a_time(auditor: UnitOfWork, db: Conn, db_url: str, alice: int) -> None:
    deposit(db, alice, 1, "d-1")
    with psycopg.connect(db_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (PASS_LOCK_KEY,))

        skipped = audit(auditor).result

    assert skipped.skipped
    assert not audit(auditor).result.skipped


def test_a_restarted_auditor_reports_what_the_database_holds_before_its_first_pass(
        auditor: UnitOfWork, db: Conn, alice: int) -> None:
    fresh = PrometheusMetrics("ledger-auditor", process_metrics=False)
    ledger_audit.record_last_known(fresh, auditor)
    assert (fresh.sample(catalogue.LEDGER_AUDIT_OK),
            fresh.sample(catalogue.WITHDRAWALS_HALTED)) == (1, 0)
    deposit(db, alice, 10, "d-1")
    db.execute("UPDATE balances SET available = available + 1 WHERE user_id = %s", (alice,))
    assert audit(auditor).result.halted

    restarted = PrometheusMetrics("ledger-auditor", process_metrics=False)
    ledger_audit.record_last_known(restarted, auditor)

    assert (restarted.sample(catalogue.LEDGER_AUDIT_OK),
            restarted.sample(catalogue.WITHDRAWALS_HALTED)) == (0, 1)

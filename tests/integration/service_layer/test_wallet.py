"""Wallet: deposits, addresses, withdrawals, balances and history, with exact balances,
idempotent repeats (also concurrent ones) and no access to another user's rows."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from threading import Barrier
from typing import Any, TypeVar

import psycopg
import pytest

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.ledger import AccountKind, Bucket
from chalicelib.service_layer import admin as admin_module
from chalicelib.service_layer import wallet
from chalicelib.service_layer.wallet import WithdrawalStatus
from tests.support.ledger import assert_ledger_invariants

from . import Conn, account, count, make_assets, make_user, user_account

T = TypeVar("T")


@pytest.fixture(autouse=True)
def ledger_stays_consistent(db: Conn) -> Iterator[None]:
    """Whatever a test did, the ledger invariants hold after it."""
    yield
    assert_ledger_invariants(db)


@pytest.fixture
def admin(db: Conn) -> int:
    make_assets(db, ("BTC", 8), ("USDT", 6))
    return make_user(db, admin=True)


@pytest.fixture
def alice(db: Conn, admin: int) -> int:
    return make_user(db)


@pytest.fixture
def bob(db: Conn, admin: int) -> int:
    return make_user(db)


def deposit(db: Conn, admin: int, user_id: int, amount: int, txid: str = "tx-1",
            asset: str = "BTC") -> tuple[wallet.Deposit | wallet.PendingCredit, bool]:
    return wallet.credit_deposit(db, actor_id=admin, user_id=user_id, asset=asset,
                                 amount=amount, external_txid=txid)


def withdraw(db: Conn, user_id: int, amount: int, key: str = "w-1", asset: str = "BTC",
             address: str = "bc1-destination") -> tuple[wallet.Withdrawal, bool]:
    return wallet.request_withdrawal(db, user_id=user_id, asset=asset, amount=amount,
                                     address=address, idempotency_key=key)


def api_error(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call()
    return raised.value


@pytest.fixture
def pending(db: Conn, admin: int, alice: int) -> wallet.Withdrawal:
    """Alice deposited 1000 and asked to withdraw 400, which awaits a decision."""
    deposit(db, admin, alice, 1_000)
    return withdraw(db, alice, 400)[0]


def concurrently(db_url: str, times: int, call: Callable[[Conn], T]) -> list[T | ApiError]:
    """Run ``call`` ``times`` at once, each on its own connection; errors are returned."""
    barrier = Barrier(times)

    def run(_: int) -> T | ApiError:
        with psycopg.connect(db_url, autocommit=True) as conn:
            barrier.wait()
            try:
                return call(conn)
            except ApiError as error:
                return error

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(run, range(times)))


def the_one_created(results: list[tuple[T, bool] | ApiError]) -> T:
    """What concurrent repeats of one request all returned: nothing failed, and exactly
    one of them created it."""
    assert [r for r in results if isinstance(r, ApiError)] == []
    returned = [r for r in results if not isinstance(r, ApiError)]
    assert len({item for item, _ in returned}) == 1
    assert sorted(new for _, new in returned) == [False] * (len(returned) - 1) + [True]
    return returned[0][0]


# Deposits


def test_a_deposit_credits_the_user_against_deposit_clearing(
    db: Conn, admin: int, alice: int
) -> None:
    credited, new = deposit(db, admin, alice, 150_000_000)

    assert new
    assert (credited.user_id, credited.asset, credited.amount, credited.external_txid) == (
        alice, "BTC", 150_000_000, "tx-1")
    assert user_account(db, alice, "BTC") == (150_000_000, 0)
    assert account(db, AccountKind.DEPOSIT_CLEARING, "BTC") == (-150_000_000, 0)
    audit = db.execute("SELECT actor_user_id, action, target, details FROM audit_log").fetchall()
    assert audit == [(admin, "DEPOSIT_CREDIT", f"user:{alice}",
                      {"deposit_id": credited.id, "asset": "BTC", "amount": 150_000_000,
                       "external_txid": "tx-1"})]


def test_a_repeated_deposit_returns_the_original_and_moves_nothing(
    db: Conn, admin: int, alice: int
) -> None:
    original, _ = deposit(db, admin, alice, 100)

    repeat, new = deposit(db, admin, alice, 100)

    assert (repeat, new) == (original, False)
    assert user_account(db, alice, "BTC") == (100, 0)
    assert count(db, "audit_log") == 1


def test_a_repeated_txid_with_other_details_is_a_conflict(
    db: Conn, admin: int, alice: int, bob: int
) -> None:
    deposit(db, admin, alice, 100)

    other_amount = api_error(lambda: deposit(db, admin, alice, 101))
    other_user = api_error(lambda: deposit(db, admin, bob, 100))

    assert (other_amount.status, other_amount.code) == (409, ErrorCode.CONFLICT)
    assert other_user.status == 409
    assert user_account(db, alice, "BTC") == (100, 0)
    assert user_account(db, bob, "BTC") == (0, 0)


def test_the_same_txid_in_another_asset_is_another_deposit(
    db: Conn, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 100, asset="BTC")

    _, new = deposit(db, admin, alice, 5, asset="USDT")

    assert new
    assert user_account(db, alice, "USDT") == (5, 0)


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"user_id": 10**9}, 404, ErrorCode.NOT_FOUND),
    ({"asset": "NOPE"}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    ({"amount": 0}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    ({"amount": -5}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    ({"amount": 10**38}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    ({"external_txid": ""}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    ({"external_txid": "has space"}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
    ({"external_txid": "x" * 129}, 400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED),
])
def test_an_invalid_deposit_is_refused_and_changes_nothing(
    db: Conn, admin: int, alice: int, change: dict[str, Any], status: int, code: ErrorCode
) -> None:
    params: dict[str, Any] = {"actor_id": admin, "user_id": alice, "asset": "BTC",
                                 "amount": 100, "external_txid": "tx-1", **change}

    error = api_error(lambda: wallet.credit_deposit(db, **params))

    assert (error.status, error.code) == (status, code)
    assert count(db, "deposits") == count(db, "ledger_transactions") == count(db, "balances") == 0


def test_the_unknown_asset_error_names_the_asset(db: Conn, admin: int, alice: int) -> None:
    error = api_error(lambda: deposit(db, admin, alice, 100, asset="NOPE"))

    assert error.msg == "Parameter 'asset' is not a known asset ('NOPE')."


def test_only_an_admin_credits_deposits(db: Conn, admin: int, alice: int) -> None:
    error = api_error(lambda: deposit(db, alice, alice, 100))

    assert (error.status, error.code) == (403, ErrorCode.FORBIDDEN)
    assert user_account(db, alice, "BTC") == (0, 0)


def test_list_deposits_shows_the_users_own_newest_first(
    db: Conn, admin: int, alice: int, bob: int
) -> None:
    for txid in ("a", "b", "c"):
        deposit(db, admin, alice, 10, txid=txid)
    deposit(db, admin, bob, 10, txid="d")

    first = wallet.list_deposits(db, alice, limit=2)
    second = wallet.list_deposits(db, alice, limit=2, before_id=first.next_before_id)

    assert [d.external_txid for d in first.items] == ["c", "b"]
    assert [d.external_txid for d in second.items] == ["a"]
    assert second.next_before_id is None


# Deposit addresses


def test_a_deposit_address_is_stable_per_user_and_asset(
    db: Conn, admin: int, alice: int, bob: int
) -> None:

    address = wallet.deposit_address(db, alice, "BTC")

    assert wallet.deposit_address(db, alice, "BTC") == address
    assert len({address, wallet.deposit_address(db, alice, "USDT"),
                wallet.deposit_address(db, bob, "BTC")}) == 3
    assert len(address) == 40


def test_no_deposit_address_for_an_unknown_asset(db: Conn, admin: int, alice: int) -> None:
    error = api_error(lambda: wallet.deposit_address(db, alice, "NOPE"))

    assert error.status == 400
    assert count(db, "deposit_addresses") == 0


# Withdrawals


def test_a_withdrawal_request_locks_the_amount(db: Conn, admin: int, alice: int) -> None:
    deposit(db, admin, alice, 1_000)

    withdrawal, new = withdraw(db, alice, 400)

    assert new
    assert (withdrawal.user_id, withdrawal.asset, withdrawal.amount, withdrawal.address,
            withdrawal.idempotency_key, withdrawal.status, withdrawal.decided_at) == (
        alice, "BTC", 400, "bc1-destination", "w-1", WithdrawalStatus.PENDING, None)
    assert user_account(db, alice, "BTC") == (600, 400)


def test_a_repeated_withdrawal_key_returns_the_original_and_locks_nothing_more(
    db: Conn, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 1_000)
    original, _ = withdraw(db, alice, 400)

    repeat, new = withdraw(db, alice, 400)

    assert (repeat, new) == (original, False)
    assert user_account(db, alice, "BTC") == (600, 400)


@pytest.mark.parametrize("change", [{"amount": 401}, {"asset": "USDT"}, {"address": "elsewhere"}])
def test_a_repeated_withdrawal_key_with_other_details_is_a_conflict(
    db: Conn, admin: int, alice: int, change: dict[str, Any]
) -> None:
    deposit(db, admin, alice, 1_000)
    deposit(db, admin, alice, 1_000, asset="USDT")
    withdraw(db, alice, 400)
    params: dict[str, Any] = {"amount": 400, **change}

    error = api_error(lambda: withdraw(db, alice, **params))

    assert (error.status, error.code) == (409, ErrorCode.CONFLICT)
    assert user_account(db, alice, "BTC") == (600, 400)
    assert user_account(db, alice, "USDT") == (1_000, 0)


def test_withdrawing_more_than_available_is_refused_and_changes_nothing(
    db: Conn, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 1_000)
    withdraw(db, alice, 600, key="w-1")

    error = api_error(lambda: withdraw(db, alice, 401, key="w-2"))

    assert (error.status, error.code) == (400, ErrorCode.INSUFFICIENT_BALANCE)
    assert user_account(db, alice, "BTC") == (400, 600)
    assert count(db, "withdrawals") == 1


def test_withdrawing_an_asset_never_held_is_insufficient(db: Conn, admin: int, alice: int) -> None:
    error = api_error(lambda: withdraw(db, alice, 1, asset="USDT"))

    assert error.code == ErrorCode.INSUFFICIENT_BALANCE
    assert count(db, "withdrawals") == 0


@pytest.mark.parametrize("change", [
    {"asset": "NOPE"}, {"amount": 0}, {"address": ""}, {"address": "a b"},
    {"address": "x" * 129}, {"key": ""}, {"key": "k" * 65},
])
def test_an_invalid_withdrawal_is_refused_and_changes_nothing(
    db: Conn, admin: int, alice: int, change: dict[str, Any]
) -> None:
    deposit(db, admin, alice, 1_000)
    params: dict[str, Any] = {"amount": 1, **change}

    error = api_error(lambda: withdraw(db, alice, **params))

    assert (error.status, error.code) == (400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED)
    assert user_account(db, alice, "BTC") == (1_000, 0)
    assert count(db, "withdrawals") == 0


@pytest.mark.parametrize(("decide", "decision", "alices_btc", "paid_out"), [
    (wallet.approve_withdrawal, WithdrawalStatus.APPROVED, (600, 0), 400),
    (wallet.reject_withdrawal, WithdrawalStatus.REJECTED, (1_000, 0), 0),
])
def test_approval_pays_the_locked_funds_out_and_rejection_unlocks_them(
    db: Conn, admin: int, alice: int, pending: wallet.Withdrawal,
    decide: Callable[..., wallet.Withdrawal], decision: WithdrawalStatus,
    alices_btc: tuple[int, int], paid_out: int,
) -> None:
    decided = decide(db, actor_id=admin, withdrawal_id=pending.id)

    assert decided.status == decision
    assert decided.decided_at is not None
    assert user_account(db, alice, "BTC") == alices_btc
    assert account(db, AccountKind.WITHDRAWAL_CLEARING, "BTC") == (paid_out, 0)
    assert audit_actions(db)[-1] == (admin, f"WITHDRAWAL_{decision}", f"withdrawal:{pending.id}")


@pytest.mark.parametrize("first", [wallet.approve_withdrawal, wallet.reject_withdrawal])
def test_a_withdrawal_is_decided_only_once(
    db: Conn, admin: int, alice: int, pending: wallet.Withdrawal,
    first: Callable[..., wallet.Withdrawal],
) -> None:
    first(db, actor_id=admin, withdrawal_id=pending.id)
    balance_after_decision = user_account(db, alice, "BTC")

    for second in (wallet.approve_withdrawal, wallet.reject_withdrawal):
        error = api_error(partial(second, db, actor_id=admin, withdrawal_id=pending.id))
        assert (error.status, error.code) == (409, ErrorCode.CONFLICT)

    assert user_account(db, alice, "BTC") == balance_after_decision
    assert count(db, "audit_log") == 2  # the deposit and the one decision


def test_deciding_an_unknown_withdrawal_is_not_found(db: Conn, admin: int) -> None:
    error = api_error(lambda: wallet.approve_withdrawal(db, actor_id=admin, withdrawal_id=999))

    assert (error.status, error.code) == (404, ErrorCode.NOT_FOUND)


def test_only_an_admin_decides_withdrawals(
    db: Conn, alice: int, pending: wallet.Withdrawal
) -> None:
    for decide in (wallet.approve_withdrawal, wallet.reject_withdrawal):
        error = api_error(partial(decide, db, actor_id=alice, withdrawal_id=pending.id))
        assert (error.status, error.code) == (403, ErrorCode.FORBIDDEN)

    assert wallet.get_withdrawal(db, alice, pending.id).status == WithdrawalStatus.PENDING
    assert user_account(db, alice, "BTC") == (600, 400)


def test_withdrawal_lists_page_newest_first(db: Conn, admin: int, alice: int) -> None:
    deposit(db, admin, alice, 1_000)
    ids = [withdraw(db, alice, 10, key=f"w-{n}")[0].id for n in range(5)]
    wallet.approve_withdrawal(db, actor_id=admin, withdrawal_id=ids[0])

    pages, before = [], None
    while True:
        page = wallet.list_withdrawals(db, alice, limit=2, before_id=before)
        pages.append([w.id for w in page.items])
        if page.next_before_id is None:
            break
        before = page.next_before_id
    pending = wallet.pending_withdrawals(db, limit=1000)

    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    assert [w.id for w in pending.items] == ids[:0:-1]


@pytest.mark.parametrize("limit", [0, 1001])
def test_a_page_holds_1_to_1000_items(db: Conn, alice: int, limit: int) -> None:
    for listing in (wallet.list_withdrawals, wallet.list_deposits, wallet.ledger_history):
        error = api_error(partial(listing, db, alice, limit=limit))
        assert error.msg == "Parameter 'limit' must be between 1 and 1000."


def test_a_refusal_leaves_a_pooled_connection_usable(
    db: Conn, db_url: str, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 1_000)

    # Like the API's pool: not autocommit, and already inside a transaction.
    with psycopg.connect(db_url) as conn:
        wallet.balances(conn, alice)
        refused = api_error(lambda: withdraw(conn, alice, 5_000, key="too-much"))
        withdraw(conn, alice, 100, key="fine")
        conn.commit()

    assert refused.code == ErrorCode.INSUFFICIENT_BALANCE
    assert count(db, "withdrawals") == 1
    assert user_account(db, alice, "BTC") == (900, 100)


# Balances and history


def test_balances_list_only_the_users_own_accounts(
    db: Conn, admin: int, alice: int, bob: int
) -> None:
    deposit(db, admin, alice, 1_000)
    deposit(db, admin, alice, 5, txid="u", asset="USDT")
    deposit(db, admin, bob, 7, txid="b")
    withdraw(db, alice, 300)

    assert wallet.balances(db, alice) == [
        wallet.Balance("BTC", 8, 700, 300), wallet.Balance("USDT", 6, 5, 0)]
    assert wallet.balances(db, bob) == [wallet.Balance("BTC", 8, 7, 0)]
    assert wallet.balances(db, make_user(db)) == []


def test_ledger_history_pages_the_users_entries_newest_first(
    db: Conn, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 1_000)
    deposit(db, admin, alice, 5, txid="u", asset="USDT")
    requested, _ = withdraw(db, alice, 300)

    first = wallet.ledger_history(db, alice, limit=3)
    rest = wallet.ledger_history(db, alice, limit=3, before_id=first.next_before_id)
    btc_only = wallet.ledger_history(db, alice, asset="BTC")

    entries = [(e.kind, e.reference, e.asset, e.bucket, e.amount)
               for e in first.items + rest.items]
    assert entries == [
        ("WITHDRAWAL_REQUESTED", str(requested.id), "BTC", Bucket.LOCKED, 300),
        ("WITHDRAWAL_REQUESTED", str(requested.id), "BTC", Bucket.AVAILABLE, -300),
        ("DEPOSIT", "USDT:u", "USDT", Bucket.AVAILABLE, 5),
        ("DEPOSIT", "BTC:tx-1", "BTC", Bucket.AVAILABLE, 1_000),
    ]
    assert rest.next_before_id is None
    assert [e.asset for e in btc_only.items] == ["BTC"] * 3


# Object-level access


def test_a_user_never_sees_or_reuses_another_users_withdrawal(
    db: Conn, admin: int, alice: int, bob: int
) -> None:
    deposit(db, admin, alice, 1_000)
    deposit(db, admin, bob, 50, txid="b")
    alices, _ = withdraw(db, alice, 400, key="same-key")

    hidden = api_error(lambda: wallet.get_withdrawal(db, bob, alices.id))
    bobs, new = withdraw(db, bob, 50, key="same-key")

    assert (hidden.status, hidden.msg) == (404, "Unknown withdrawal.")
    assert new
    assert bobs.id != alices.id
    assert bobs.user_id == bob
    assert [w.id for w in wallet.list_withdrawals(db, bob).items] == [bobs.id]
    assert [w.id for w in wallet.list_withdrawals(db, alice).items] == [alices.id]
    assert {e.amount for e in wallet.ledger_history(db, bob).items} == {50, -50}
    assert {d.user_id for d in wallet.list_deposits(db, bob).items} == {bob}
    assert wallet.get_withdrawal(db, alice, alices.id) == alices
    assert user_account(db, alice, "BTC") == (600, 400)
    assert user_account(db, bob, "BTC") == (0, 50)


# Concurrency


def test_concurrent_withdrawals_of_the_full_balance_lock_it_once(
    db: Conn, db_url: str, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 1_000)

    results = concurrently(db_url, 200,
                           lambda conn: withdraw(conn, alice, 1_000, key=uuid.uuid4().hex))

    outcomes = Counter(
        r.code if isinstance(r, ApiError) else "created" for r in results)
    assert outcomes == {"created": 1, ErrorCode.INSUFFICIENT_BALANCE: 199}
    assert user_account(db, alice, "BTC") == (0, 1_000)
    assert count(db, "withdrawals") == 1


def test_concurrent_repeats_of_a_deposit_credit_it_once(
    db: Conn, db_url: str, admin: int, alice: int
) -> None:
    results = concurrently(db_url, 50, lambda conn: deposit(conn, admin, alice, 1_000))

    assert the_one_created(results).amount == 1_000
    assert user_account(db, alice, "BTC") == (1_000, 0)
    assert count(db, "deposits") == count(db, "ledger_transactions") == 1


def test_concurrent_repeats_of_a_withdrawal_key_lock_once(
    db: Conn, db_url: str, admin: int, alice: int
) -> None:
    deposit(db, admin, alice, 1_000)

    results = concurrently(db_url, 50, lambda conn: withdraw(conn, alice, 300))

    assert the_one_created(results).amount == 300
    assert user_account(db, alice, "BTC") == (700, 300)
    assert count(db, "withdrawals") == 1


def test_concurrent_decisions_on_a_withdrawal_apply_one(
    db: Conn, db_url: str, admin: int, alice: int, pending: wallet.Withdrawal
) -> None:
    decisions = [wallet.approve_withdrawal, wallet.reject_withdrawal] * 10
    calls = iter(decisions)

    results = concurrently(db_url, len(decisions), lambda conn: next(calls)(
        conn, actor_id=admin, withdrawal_id=pending.id))

    decided = [r for r in results if not isinstance(r, ApiError)]
    assert len(decided) == 1
    assert all(r.status == 409 for r in results if isinstance(r, ApiError))
    final = wallet.get_withdrawal(db, alice, pending.id)
    assert final == decided[0]
    expected = (600, 0) if final.status == WithdrawalStatus.APPROVED else (1_000, 0)
    assert user_account(db, alice, "BTC") == expected


# Operator safety: no admin moves their own money; four eyes above a threshold


def audit_actions(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT actor_user_id, action, target FROM audit_log ORDER BY id"
                      ).fetchall()


def audit_details(db: Conn, action_prefix: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(actor, action, details) of the audit entries whose action starts so, oldest first."""
    return db.execute("SELECT actor_user_id, action, details FROM audit_log"
                      " WHERE action LIKE %s ORDER BY id", (f"{action_prefix}%",)).fetchall()


@pytest.fixture
def second_admin(db: Conn, admin: int) -> int:
    return make_user(db, admin=True)


@pytest.fixture
def four_eyes_above_1000(db: Conn, admin: int) -> None:
    """BTC credits and withdrawals above 1000 units need a second admin."""
    admin_module.set_four_eyes_threshold(db, actor_id=admin, symbol="BTC", threshold=1_000)


def test_an_admin_cannot_credit_their_own_account(db: Conn, admin: int) -> None:
    error = api_error(lambda: deposit(db, admin, admin, 100))

    assert (error.status, error.code) == (403, ErrorCode.FORBIDDEN)
    assert user_account(db, admin, "BTC") == (0, 0)
    assert count(db, "deposits") == count(db, "ledger_transactions") == 0
    assert audit_actions(db) == [(admin, "DEPOSIT_CREDIT_REFUSED", f"user:{admin}")]


def test_an_admin_cannot_approve_their_own_withdrawal(
    db: Conn, admin: int, second_admin: int
) -> None:
    deposit(db, second_admin, admin, 1_000)
    requested, _ = withdraw(db, admin, 400)

    error = api_error(lambda: wallet.approve_withdrawal(db, actor_id=admin,
                                                        withdrawal_id=requested.id))

    assert (error.status, error.code) == (403, ErrorCode.FORBIDDEN)
    assert wallet.get_withdrawal(db, admin, requested.id).status == WithdrawalStatus.PENDING
    assert user_account(db, admin, "BTC") == (600, 400)
    assert audit_actions(db)[-1] == (admin, "WITHDRAWAL_APPROVAL_REFUSED",
                                     f"withdrawal:{requested.id}")


def test_a_refusal_is_audited_even_when_the_caller_rolls_back_on_errors(
    db: Conn, db_url: str, admin: int
) -> None:
    # Like the API's pool: not autocommit, rolled back when the request fails.
    with psycopg.connect(db_url) as conn:
        wallet.balances(conn, admin)
        api_error(lambda: deposit(conn, admin, admin, 100))
        conn.rollback()

    assert audit_actions(db) == [(admin, "DEPOSIT_CREDIT_REFUSED", f"user:{admin}")]
    assert count(db, "deposits") == 0


def test_a_credit_at_the_threshold_needs_one_admin(
    db: Conn, admin: int, alice: int, four_eyes_above_1000: None
) -> None:
    credited, new = deposit(db, admin, alice, 1_000)

    assert isinstance(credited, wallet.Deposit)
    assert new
    assert user_account(db, alice, "BTC") == (1_000, 0)


def test_a_credit_above_the_threshold_waits_for_a_second_admin(
    db: Conn, admin: int, second_admin: int, alice: int, four_eyes_above_1000: None
) -> None:
    requested, new = deposit(db, admin, alice, 1_001)
    repeat, repeat_new = deposit(db, admin, alice, 1_001)

    assert isinstance(requested, wallet.PendingCredit)
    assert (new, repeat, repeat_new) == (True, requested, False)
    assert (requested.user_id, requested.asset, requested.amount, requested.requested_by) == (
        alice, "BTC", 1_001, admin)
    assert user_account(db, alice, "BTC") == (0, 0)
    assert count(db, "deposits") == count(db, "ledger_transactions") == 0
    assert [c.id for c in wallet.pending_credits(db).items] == [requested.id]

    def execute_as(actor: int) -> tuple[wallet.Deposit, bool]:
        return wallet.approve_credit(db, actor_id=actor, request_id=requested.id)

    same = api_error(lambda: execute_as(admin))
    assert (same.status, same.code) == (403, ErrorCode.FORBIDDEN)
    assert user_account(db, alice, "BTC") == (0, 0)

    credited, executed = execute_as(second_admin)
    again, again_executed = execute_as(second_admin)

    assert executed
    assert (again, again_executed) == (credited, False)
    assert (credited.user_id, credited.amount, credited.external_txid) == (alice, 1_001, "tx-1")
    assert user_account(db, alice, "BTC") == (1_001, 0)
    assert count(db, "deposits") == count(db, "ledger_transactions") == 1
    assert wallet.pending_credits(db).items == []
    audit = audit_details(db, "DEPOSIT")
    assert [(actor, action) for actor, action, _ in audit] == [
        (admin, "DEPOSIT_CREDIT_REQUESTED"), (admin, "DEPOSIT_CREDIT_REFUSED"),
        (second_admin, "DEPOSIT_CREDIT")]
    assert audit[-1][2]["requested_by"] == admin
    assert deposit(db, admin, alice, 1_001) == (credited, False)


def test_a_withdrawal_above_the_threshold_waits_for_a_second_admin(
    db: Conn, admin: int, second_admin: int, alice: int, four_eyes_above_1000: None
) -> None:
    deposit(db, admin, alice, 1_000, txid="a")
    deposit(db, admin, alice, 1_000, txid="b")
    requested, _ = withdraw(db, alice, 1_500)

    def approve_as(actor: int) -> wallet.Withdrawal:
        return wallet.approve_withdrawal(db, actor_id=actor, withdrawal_id=requested.id)

    first = approve_as(admin)

    assert (first.status, first.first_approved_by) == (WithdrawalStatus.PENDING, admin)
    assert user_account(db, alice, "BTC") == (500, 1_500)
    same = api_error(lambda: approve_as(admin))
    assert (same.status, same.code) == (403, ErrorCode.FORBIDDEN)
    assert user_account(db, alice, "BTC") == (500, 1_500)

    approved = approve_as(second_admin)
    twice = api_error(lambda: approve_as(second_admin))

    assert approved.status == WithdrawalStatus.APPROVED
    assert twice.status == 409
    assert user_account(db, alice, "BTC") == (500, 0)
    assert account(db, AccountKind.WITHDRAWAL_CLEARING, "BTC") == (1_500, 0)
    audit = audit_details(db, "WITHDRAWAL")
    assert [(actor, action) for actor, action, _ in audit] == [
        (admin, "WITHDRAWAL_FIRST_APPROVAL"), (admin, "WITHDRAWAL_APPROVAL_REFUSED"),
        (second_admin, "WITHDRAWAL_APPROVED")]
    assert audit[-1][2]["first_approved_by"] == admin


def test_concurrent_second_approvals_move_the_money_once(
    db: Conn, db_url: str, admin: int, alice: int, four_eyes_above_1000: None
) -> None:
    others = [make_user(db, admin=True) for _ in range(8)]
    requested, _ = deposit(db, admin, alice, 5_000)
    approvers = iter(others)

    results = concurrently(db_url, len(others), lambda conn: wallet.approve_credit(
        conn, actor_id=next(approvers), request_id=requested.id))

    assert the_one_created(results).amount == 5_000
    assert user_account(db, alice, "BTC") == (5_000, 0)
    assert count(db, "deposits") == 1

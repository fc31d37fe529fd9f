"""The ledger adapter: balanced, idempotent, all-or-nothing postings on the real database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import psycopg
import pytest

from chalicelib.adapters.ledger import post_transaction, post_transactions
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, LedgerTransaction, Posting
from tests.support.ledger import assert_ledger_invariants

from . import Conn, account, count, make_assets, make_user, user_account

AVAILABLE, LOCKED = Bucket.AVAILABLE, Bucket.LOCKED
CLEARING = AccountKind.DEPOSIT_CLEARING


@pytest.fixture
def alice(db: Conn) -> int:
    make_assets(db, ("BTC", 8), ("USDT", 6))
    return make_user(db)


def deposit(user_id: int, asset: str, amount: int) -> list[Posting]:
    return [Posting(AccountRef.user(user_id, asset), AVAILABLE, amount),
            Posting(AccountRef.system(CLEARING, asset), AVAILABLE, -amount)]


def transfer(source: int, target: int, asset: str, amount: int) -> list[Posting]:
    return [Posting(AccountRef.user(source, asset), AVAILABLE, -amount),
            Posting(AccountRef.user(target, asset), AVAILABLE, amount)]


def post(db: Conn, kind: str, reference: str, postings: list[Posting]) -> int | None:
    with db.transaction():
        return post_transaction(db, kind, reference, postings)


def test_a_posting_creates_the_accounts_and_moves_the_money(db: Conn, alice: int) -> None:
    tx_id = post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 150))

    assert tx_id is not None
    assert user_account(db, alice, "BTC") == (150, 0)
    assert account(db, CLEARING, "BTC") == (-150, 0)
    entries = db.execute("SELECT bucket, amount FROM ledger_entries WHERE transaction_id = %s"
                         " ORDER BY amount", (tx_id,)).fetchall()
    assert entries == [("AVAILABLE", -150), ("AVAILABLE", 150)]
    assert_ledger_invariants(db)


def test_amounts_beyond_64_bits_move_exactly(db: Conn, alice: int) -> None:
    huge = 10**37 + 1

    post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", huge))
    post(db, "LOCK", "order-1", [Posting(AccountRef.user(alice, "BTC"), AVAILABLE, -(huge - 1)),
                                 Posting(AccountRef.user(alice, "BTC"), LOCKED, huge - 1)])

    assert user_account(db, alice, "BTC") == (1, huge - 1)
    assert account(db, CLEARING, "BTC") == (-huge, 0)
    assert_ledger_invariants(db)


def test_moving_between_buckets_of_one_account(db: Conn, alice: int) -> None:
    post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 100))

    post(db, "LOCK", "order-1", [Posting(AccountRef.user(alice, "BTC"), AVAILABLE, -30),
                                 Posting(AccountRef.user(alice, "BTC"), LOCKED, 30)])

    assert user_account(db, alice, "BTC") == (70, 30)
    assert_ledger_invariants(db)


def test_a_repeated_reference_moves_nothing(db: Conn, alice: int) -> None:
    first = post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 100))

    again = post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 100))
    other_kind = post(db, "BONUS", "tx-1", deposit(alice, "BTC", 5))

    assert first is not None
    assert again is None
    assert other_kind not in (None, first)
    assert user_account(db, alice, "BTC") == (105, 0)
    assert count(db, "ledger_transactions") == 2
    assert_ledger_invariants(db)


def test_overdrawing_available_is_refused_and_changes_nothing(db: Conn, alice: int) -> None:
    bob = make_user(db)
    post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 100))

    with pytest.raises(ApiError) as raised:
        post(db, "TRANSFER", "t-1", transfer(alice, bob, "BTC", 101))

    assert (raised.value.status, raised.value.code) == (400, ErrorCode.INSUFFICIENT_BALANCE)
    assert raised.value.msg == "Account has insufficient balance for requested action."
    assert user_account(db, alice, "BTC") == (100, 0)
    assert user_account(db, bob, "BTC") == (0, 0)
    assert count(db, "ledger_transactions") == 1
    assert_ledger_invariants(db)


def test_unlocking_more_than_is_locked_is_refused(db: Conn, alice: int) -> None:
    post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 100))

    with pytest.raises(ApiError) as raised:
        post(db, "UNLOCK", "order-1", [Posting(AccountRef.user(alice, "BTC"), LOCKED, -1),
                                       Posting(AccountRef.user(alice, "BTC"), AVAILABLE, 1)])

    assert raised.value.code == ErrorCode.INSUFFICIENT_BALANCE
    assert user_account(db, alice, "BTC") == (100, 0)
    assert_ledger_invariants(db)


def test_the_callers_own_writes_roll_back_with_a_refused_posting(db: Conn, alice: int) -> None:
    bob = make_user(db)

    def write_then_overdraw() -> None:
        with db.transaction():
            db.execute("INSERT INTO deposit_addresses (user_id, asset, address)"
                       " VALUES (%s, 'BTC', 'addr-1')", (alice,))
            post_transaction(db, "TRANSFER", "t-1", transfer(alice, bob, "BTC", 1))

    with pytest.raises(ApiError):
        write_then_overdraw()

    assert count(db, "deposit_addresses") == 0
    assert count(db, "ledger_transactions") == 0
    assert_ledger_invariants(db)


def test_unbalanced_postings_are_a_programming_error(db: Conn, alice: int) -> None:
    unbalanced = [Posting(AccountRef.user(alice, "BTC"), AVAILABLE, 10),
                  Posting(AccountRef.system(CLEARING, "BTC"), AVAILABLE, -9)]
    across_assets = [Posting(AccountRef.user(alice, "BTC"), AVAILABLE, 10),
                     Posting(AccountRef.system(CLEARING, "USDT"), AVAILABLE, -10)]

    for postings in (unbalanced, across_assets, []):
        with pytest.raises(ValueError, match=r"does not balance|no postings"):
            post(db, "DEPOSIT", "tx-1", postings)

    assert count(db, "ledger_transactions") == 0
    assert_ledger_invariants(db)


def test_malformed_postings_are_a_programming_error(db: Conn, alice: int) -> None:
    with pytest.raises(ValueError, match="non-zero int"):
        Posting(AccountRef.user(alice, "BTC"), AVAILABLE, 0)
    with pytest.raises(ValueError, match="USER accounts need user_id"):
        AccountRef(AccountKind.USER, None, "BTC")
    with pytest.raises(ValueError, match="FEE accounts have no user_id"):
        AccountRef(AccountKind.FEE, alice, "BTC")
    assert_ledger_invariants(db)


def test_posting_outside_a_transaction_is_refused(db: Conn, alice: int) -> None:
    with pytest.raises(RuntimeError, match="inside a transaction"):
        post_transaction(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 1))

    assert count(db, "ledger_transactions") == 0
    assert_ledger_invariants(db)


def test_a_batch_posts_many_transactions_and_skips_those_already_posted(
    db: Conn, alice: int
) -> None:
    bob = make_user(db)
    post(db, "DEPOSIT", "tx-2", deposit(bob, "USDT", 7))
    fee = AccountRef.system(AccountKind.FEE, "BTC")
    batch = [
        LedgerTransaction("DEPOSIT", "tx-1", deposit(alice, "BTC", 1_000)),
        LedgerTransaction("DEPOSIT", "tx-2", deposit(bob, "USDT", 7)),
        # The same accounts in several transactions of one batch add up.
        LedgerTransaction("TRADE", "t-1", [*transfer(alice, bob, "BTC", 300),
                                           Posting(AccountRef.user(bob, "BTC"), AVAILABLE, -3),
                                           Posting(fee, AVAILABLE, 3)]),
        LedgerTransaction("TRADE", "t-2", transfer(alice, bob, "BTC", 200)),
    ]

    with db.transaction():
        ids = post_transactions(db, batch)

    assert ids[1] is None
    assert all(isinstance(tx_id, int) for tx_id in (ids[0], ids[2], ids[3]))
    assert user_account(db, alice, "BTC") == (500, 0)
    assert user_account(db, bob, "BTC") == (497, 0)
    assert user_account(db, bob, "USDT") == (7, 0)
    assert account(db, AccountKind.FEE, "BTC") == (3, 0)
    assert_ledger_invariants(db)


def test_a_batch_fails_as_a_whole(db: Conn, alice: int) -> None:
    bob = make_user(db)
    batch = [LedgerTransaction("DEPOSIT", "tx-1", deposit(alice, "BTC", 100)),
             LedgerTransaction("TRANSFER", "t-1", transfer(alice, bob, "BTC", 101))]

    with pytest.raises(ApiError), db.transaction():
        post_transactions(db, batch)

    assert user_account(db, alice, "BTC") == (0, 0)
    assert count(db, "ledger_transactions") == 0
    assert_ledger_invariants(db)


def test_a_batch_must_not_repeat_a_reference(db: Conn, alice: int) -> None:
    twice = LedgerTransaction("DEPOSIT", "tx-1", deposit(alice, "BTC", 100))

    with pytest.raises(ValueError, match="must not repeat"), db.transaction():
        post_transactions(db, [twice, twice])

    assert_ledger_invariants(db)


def test_opposite_concurrent_transfers_neither_deadlock_nor_lose_money(
    db: Conn, db_url: str, alice: int
) -> None:
    bob = make_user(db)
    post(db, "DEPOSIT", "a", deposit(alice, "BTC", 1_000))
    post(db, "DEPOSIT", "b", deposit(bob, "BTC", 1_000))
    workers, rounds = 16, 10
    barrier = Barrier(workers)

    def run(worker: int) -> None:
        source, target = (alice, bob) if worker % 2 else (bob, alice)
        with psycopg.connect(db_url, autocommit=True) as conn:
            barrier.wait()
            for round_ in range(rounds):
                with conn.transaction():
                    # Both accounts in one transaction, locked in opposite posting order.
                    post_transaction(conn, "TRANSFER", f"{worker}-{round_}",
                                     transfer(source, target, "BTC", worker + 1))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(workers)))

    sent_by_alice = sum(w + 1 for w in range(workers) if w % 2) * rounds
    sent_by_bob = sum(w + 1 for w in range(workers) if not w % 2) * rounds
    assert user_account(db, alice, "BTC") == (1_000 - sent_by_alice + sent_by_bob, 0)
    assert user_account(db, bob, "BTC") == (1_000 - sent_by_bob + sent_by_alice, 0)
    assert count(db, "ledger_transactions") == 2 + workers * rounds
    assert_ledger_invariants(db)


def test_an_account_id_remembered_from_before_a_refill_moves_the_right_account(
    db: Conn, alice: int
) -> None:
    """The connection remembers alice's balance row id; after the tables are emptied and
    refilled (ids restarting), that id is bob's row and must not receive her money."""
    post(db, "DEPOSIT", "tx-1", deposit(alice, "BTC", 100))
    db.execute("TRUNCATE balances, ledger_entries, ledger_transactions RESTART IDENTITY CASCADE")
    bob = make_user(db)
    post(db, "DEPOSIT", "tx-2", deposit(bob, "BTC", 7))

    post(db, "DEPOSIT", "tx-3", deposit(alice, "BTC", 40))
    post(db, "DEPOSIT", "tx-4", deposit(alice, "BTC", 2))

    assert user_account(db, alice, "BTC") == (42, 0)
    assert user_account(db, bob, "BTC") == (7, 0)
    assert account(db, CLEARING, "BTC") == (-49, 0)
    assert_ledger_invariants(db)

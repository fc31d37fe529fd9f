"""The one way money moves: balanced, idempotent ledger transactions, written.

A ledger transaction (``chalicelib.domain.ledger``) is a set of postings that sums to
zero per asset. Posting one writes its ``ledger_transactions`` row, all its
``ledger_entries`` and the matching balance changes together, inside a database
transaction the caller owns, so the caller's own rows (a deposit, a withdrawal, a
trade) commit or roll back with the money.

Everything is set-based: a batch of any size costs the same few statements, which
is what the matcher's settlement needs. Accounts (``balances`` rows) are created on
first use and locked in ascending id order, the one lock order every writer uses,
so concurrent postings do not deadlock on each other. A database transaction that
moves money for several causes should post them as one batch (``post_transactions``)
rather than in several calls, which would each lock in order but not all together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus

from chalicelib.domain.ledger import (
    AccountKind,
    AccountRef,
    Bucket,
    LedgerTransaction,
    Posting,
    insufficient_balance,
)

_NON_NEGATIVE_CHECKS = frozenset({"balances_available_nonnegative", "balances_locked_nonnegative"})


def post_transaction(
    conn: psycopg.Connection[Any], kind: str, reference: str, postings: Sequence[Posting]
) -> int | None:
    """Post one ledger transaction; return its id, or None if ``(kind, reference)`` was
    already posted (then nothing moves: a repeat is harmless). See ``post_transactions``."""
    (posted,) = post_transactions(conn, [LedgerTransaction(kind, reference, postings)])
    return posted


def post_transactions(
    conn: psycopg.Connection[Any], transactions: Sequence[LedgerTransaction]
) -> list[int | None]:
    """Post a batch of ledger transactions in a constant number of statements.

    Returns each transaction's new id, or None for one whose ``(kind, reference)`` was
    already posted (it moves nothing). Must run inside a transaction the caller owns.

    If a user balance would go negative this raises ``INSUFFICIENT_BALANCE``
    (``ApiError``) and the caller's transaction is left aborted: no savepoint is
    taken (it would cost two more round trips per call), so the caller lets the error
    leave its ``with conn.transaction():`` block, which rolls everything back and
    leaves nothing changed. Unbalanced or malformed postings raise ValueError.
    """
    # ACTIVE: inside a transaction in pipeline mode, with statements still in flight.
    if conn.info.transaction_status not in (TransactionStatus.INTRANS, TransactionStatus.ACTIVE):
        raise RuntimeError("post_transactions must run inside a transaction the caller owns")
    if len({tx.key for tx in transactions}) != len(transactions):
        raise ValueError("a batch must not repeat a (kind, reference)")
    if not transactions:
        return []
    # The INSERT and the account lock are sent together: in pipeline mode they share
    # one round trip. The lock covers every account the batch names, so a repeat's
    # accounts are locked too (in the same id order) though they do not change.
    inserted = _insert_transactions(conn, transactions)
    known = _known_ids(conn)
    accounts = {p.account for tx in transactions for p in tx.postings}
    locked_rows = _select_for_update(conn, accounts, known)
    new_ids = _new_ids(inserted)
    locked = _ids(locked_rows, known)
    new_transactions = [tx for tx in transactions if tx.key in new_ids]
    if new_transactions:
        postings = [(new_ids[tx.key], p) for tx in new_transactions for p in tx.postings]
        balance_ids = _lock_accounts(conn, {p.account for _, p in postings}, locked, known)
        _apply(conn, postings, balance_ids)
    return [new_ids.get(tx.key) for tx in transactions]


class _KnownIds:
    """The balance row id of each account this connection has locked before.

    An account's row keeps its id for good, so a later lock finds it by primary key
    instead of by (kind, user, asset), the larger part of locking a batch. A row
    locked this way only counts for the account it really belongs to (``_ids``
    checks), so an id that is wrong by now (say the table was emptied and refilled)
    just sends its account through the (kind, user, asset) lookup again.
    """

    LIMIT = 200_000  # accounts; forgotten all at once beyond it

    def __init__(self) -> None:
        self.by_account: dict[AccountRef, int] = {}
        self.by_id: dict[int, AccountRef] = {}

    def remember(self, ids: dict[AccountRef, int]) -> None:
        if len(self.by_account) + len(ids) > self.LIMIT:
            self.by_account.clear()
            self.by_id.clear()
        self.by_account.update(ids)
        self.by_id.update({balance_id: account for account, balance_id in ids.items()})


_known_by_connection: WeakKeyDictionary[psycopg.Connection[Any], _KnownIds] = (
    WeakKeyDictionary())


def _known_ids(conn: psycopg.Connection[Any]) -> _KnownIds:
    known = _known_by_connection.get(conn)
    if known is None:
        known = _known_by_connection[conn] = _KnownIds()
    return known


def _insert_transactions(
    conn: psycopg.Connection[Any], transactions: Sequence[LedgerTransaction]
) -> psycopg.Cursor[Any]:
    """Insert the transactions' rows; ``_new_ids`` reads the ids of those that were new.

    A concurrent duplicate waits here for the first writer to commit and then comes
    back without an id, so it never touches a balance. Sorting the keys gives
    concurrent batches one order for these waits.
    """
    keys = sorted(tx.key for tx in transactions)
    return conn.execute(
        "INSERT INTO ledger_transactions (kind, reference)"
        " SELECT kind, reference FROM unnest(%b::text[], %b::text[]) AS t(kind, reference)"
        " ORDER BY kind, reference"
        " ON CONFLICT (kind, reference) DO NOTHING RETURNING kind, reference, id",
        ([kind for kind, _ in keys], [reference for _, reference in keys]),
    )


def _new_ids(cursor: psycopg.Cursor[Any]) -> dict[tuple[str, str], int]:
    return {(kind, reference): int(tx_id) for kind, reference, tx_id in cursor.fetchall()}


def _lock_accounts(
    conn: psycopg.Connection[Any],
    accounts: set[AccountRef],
    locked: dict[AccountRef, int],
    known: _KnownIds,
) -> dict[AccountRef, int]:
    """Ids of the accounts' balance rows, ``locked`` (already locked in id order) plus
    any missing ones, created and locked now.

    Missing accounts are created after locking the existing ones, then everything is
    locked again (locks already held cost nothing). Only a brand-new account comes out
    of id order, and only its concurrent creator can hold it; in that rare race
    PostgreSQL detects the deadlock and aborts one of the two transactions.
    """
    missing = accounts - locked.keys()
    if not missing:
        return locked
    _create_accounts(conn, missing)
    return _ids(_select_for_update(conn, accounts | locked.keys(), _KnownIds()), known)


def _select_for_update(
    conn: psycopg.Connection[Any], accounts: Iterable[AccountRef], known: _KnownIds
) -> psycopg.Cursor[Any]:
    """Lock the accounts' balance rows in ascending id order, in one statement.

    Accounts with a known id are found by primary key. The others take one index
    lookup each: a user's by user_id, the exchange's by "user_id IS NULL". A single
    "IS NOT DISTINCT FROM" join would be shorter but cannot use the (account_kind,
    user_id, asset) index and scans every balance row.
    """
    ids: list[int] = []
    unknown: list[AccountRef] = []
    for account in accounts:
        balance_id = known.by_account.get(account)
        if balance_id is None:
            unknown.append(account)
        else:
            ids.append(balance_id)
    return conn.execute(
        "SELECT b.id, b.account_kind, b.user_id, b.asset FROM balances b"
        # One array of ids, the lookups' run once before: the rows are then found by
        # primary key, never by scanning the table and joining (the planner's choice
        # for a set of ids joined to it).
        " WHERE b.id = ANY(%s::bigint[] || ARRAY("
        "  SELECT found.id"
        "  FROM unnest(%b::text[], %b::bigint[], %b::text[]) AS a(kind, user_id, asset),"
        "  LATERAL ("
        "   SELECT id FROM balances"
        "   WHERE account_kind = a.kind AND user_id = a.user_id AND asset = a.asset"
        "   UNION ALL"
        "   SELECT id FROM balances"
        "   WHERE account_kind = a.kind AND user_id IS NULL AND asset = a.asset"
        "    AND a.user_id IS NULL) AS found))"
        " ORDER BY b.id FOR UPDATE OF b",
        (whole_numbers(ids), *_columns(unknown)),
    )


def _ids(cursor: psycopg.Cursor[Any], known: _KnownIds) -> dict[AccountRef, int]:
    """Each locked row's account and id; remembers the accounts that were not known."""
    ids: dict[AccountRef, int] = {}
    found: dict[AccountRef, int] = {}
    for balance_id, kind, user_id, asset in cursor.fetchall():
        account = known.by_id.get(balance_id)
        if (
            account is None
            or account.kind.value != kind
            or account.user_id != user_id
            or account.asset != asset
        ):
            account = found_account = AccountRef(AccountKind(kind), user_id, asset)
            found[found_account] = balance_id
        ids[account] = balance_id
    if found:
        known.remember(found)
    return ids


def _create_accounts(conn: psycopg.Connection[Any], accounts: set[AccountRef]) -> None:
    # Sorted so that concurrent creators of the same accounts wait in one order.
    conn.execute(
        "INSERT INTO balances (account_kind, user_id, asset)"
        " SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[])"
        " ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING",
        _columns(accounts),
    )


def _apply(
    conn: psycopg.Connection[Any],
    postings: Sequence[tuple[int, Posting]],
    balance_ids: dict[AccountRef, int],
) -> None:
    """Write every entry in one INSERT (the balance trigger checks per statement) and
    every balance change in one UPDATE, as a single statement."""
    # One row per balance: UPDATE ... FROM applies only one of several matching rows.
    available: dict[int, int] = defaultdict(int)
    locked: dict[int, int] = defaultdict(int)
    for _, posting in postings:
        bucket = locked if posting.bucket is Bucket.LOCKED else available
        bucket[balance_ids[posting.account]] += posting.amount
    changed = sorted(available.keys() | locked.keys())
    changed_ids = whole_numbers(changed)
    try:
        conn.execute(
            "WITH changed AS ("
            "  UPDATE balances b SET available = b.available + d.available,"
            "   locked = b.locked + d.locked, updated_at = now()"
            "  FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) AS d(id, available, locked)"
            # "= ANY": found by primary key, not by scanning every balance (see
            # repository._update_orders in the matcher for the same reason).
            "  WHERE b.id = d.id AND b.id = ANY(%s::bigint[]))"
            " INSERT INTO ledger_entries (transaction_id, balance_id, asset, bucket, amount)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[],"
            "  %s::numeric[])",
            (
                changed_ids,
                whole_numbers(available[balance_id] for balance_id in changed),
                whole_numbers(locked[balance_id] for balance_id in changed),
                changed_ids,
                whole_numbers(tx_id for tx_id, _ in postings),
                whole_numbers(balance_ids[p.account] for _, p in postings),
                _text_array([p.account.asset for _, p in postings]),
                _text_array([p.bucket.value for _, p in postings]),
                whole_numbers(p.amount for _, p in postings),
            ),
        )
    except errors.CheckViolation as exc:
        if exc.diag.constraint_name in _NON_NEGATIVE_CHECKS:
            raise insufficient_balance() from exc
        raise


def _columns(accounts: Iterable[AccountRef]) -> tuple[list[str], list[int | None], list[str]]:
    ordered = list(accounts)
    return (
        [account.kind.value for account in ordered],
        [account.user_id for account in ordered],
        [account.asset for account in ordered],
    )


def whole_numbers(values: Iterable[int]) -> str:
    """An array literal of integers, for a ``%s::bigint[]`` or ``::numeric[]`` parameter:
    joining their decimal text costs about half of psycopg's dump of one element at a
    time, which was most of this module's own CPU in a settlement batch."""
    return "{" + ",".join([str(value) for value in values]) + "}"


def _text_array(values: Sequence[str]) -> str:
    """An array literal of strings, for a ``%s::text[]`` parameter; for columns of a few
    distinct values (assets, buckets), each quoted once."""
    quoted = {
        value: '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for value in set(values)
    }
    return "{" + ",".join([quoted[value] for value in values]) + "}"

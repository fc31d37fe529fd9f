"""Wallet: deposits, deposit addresses, withdrawals, balances and the ledger history.

Money only moves through ``chalicelib.adapters.ledger``:

* deposit: DEPOSIT_CLEARING -amount, user available +amount;
* withdrawal request: user available -amount, user locked +amount;
* approval: user locked -amount, WITHDRAWAL_CLEARING +amount (the money left);
* rejection: user locked -amount, user available +amount.

Repeats are harmless: a deposit is credited once per (asset, external txid) and a
withdrawal is requested once per (user, idempotency key), even when the repeats
arrive concurrently; a repeat returns the original, and a repeat that disagrees with
the original is a 409.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from psycopg import sql

from chalicelib.adapters.ledger import AccountKind, AccountRef, Bucket, Posting, post_transaction
from chalicelib.domain.errors import ApiError, conflict, malformed, not_found
from chalicelib.domain.money import MAX_UNITS
from chalicelib.service_layer import Conn, Page, check_limit, paginate
from chalicelib.service_layer.admin import asset_scale, record_audit, require_admin

EXTERNAL_TXID = re.compile(r"[\x21-\x7e]{1,128}")
"""Printable ASCII without spaces: what chains and payment rails use as ids."""
ADDRESS = re.compile(r"[A-Za-z0-9:._-]{1,128}")
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9:._-]{1,64}")


class WithdrawalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class Deposit:
    id: int
    user_id: int
    asset: str
    amount: int
    external_txid: str
    created_at: datetime


@dataclass(frozen=True)
class Withdrawal:
    id: int
    user_id: int
    asset: str
    amount: int
    address: str
    idempotency_key: str
    status: WithdrawalStatus
    requested_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class Balance:
    asset: str
    scale: int
    free: int
    locked: int


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    transaction_id: int
    kind: str
    """What moved the money: DEPOSIT, WITHDRAWAL_REQUESTED, WITHDRAWAL_APPROVED, ..."""
    reference: str
    asset: str
    bucket: Bucket
    amount: int
    created_at: datetime


_DEPOSIT_COLUMNS = sql.SQL("id, user_id, asset, amount, external_txid, created_at")
_WITHDRAWAL_COLUMNS = sql.SQL(
    "id, user_id, asset, amount, address, idempotency_key, status, requested_at, decided_at")


def credit_deposit(
    conn: Conn, *, actor_id: int, user_id: int, asset: str, amount: int, external_txid: str
) -> tuple[Deposit, bool]:
    """Credit a deposit (admin); return it and whether it is new.

    A repeat of ``(asset, external_txid)`` returns the original and moves nothing;
    a repeat for another user or amount is a 409.
    """
    _check_amount(amount)
    if not EXTERNAL_TXID.fullmatch(external_txid):
        raise malformed("external_txid", "must be 1 to 128 printable characters")
    with conn.transaction():
        require_admin(conn, actor_id)
        _require_user(conn, user_id)
        asset_scale(conn, asset)
        postings = [
            Posting(AccountRef.user(user_id, asset), Bucket.AVAILABLE, amount),
            Posting(AccountRef.system(AccountKind.DEPOSIT_CLEARING, asset), Bucket.AVAILABLE,
                    -amount),
        ]
        tx_id = post_transaction(conn, "DEPOSIT", f"{asset}:{external_txid}", postings)
        if tx_id is None:
            return _repeated_deposit(conn, user_id, asset, amount, external_txid), False
        deposit = _deposit(conn.execute(sql.SQL(
            "INSERT INTO deposits (user_id, asset, amount, external_txid, ledger_transaction_id,"
            " credited_by) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}"
        ).format(_DEPOSIT_COLUMNS), (user_id, asset, amount, external_txid, tx_id, actor_id)
        ).fetchone())
        record_audit(conn, actor_id=actor_id, action="DEPOSIT_CREDIT", target=f"user:{user_id}",
                     details={"deposit_id": deposit.id, "asset": asset, "amount": amount,
                              "external_txid": external_txid})
    return deposit, True


def list_deposits(
    conn: Conn, user_id: int, *, limit: int = 100, before_id: int | None = None
) -> Page[Deposit]:
    """The user's deposits, newest first."""
    rows = _newest_first(conn, "deposits", _DEPOSIT_COLUMNS, sql.SQL("user_id = %(user)s"),
                         {"user": user_id}, limit, before_id)
    return paginate([_deposit(row) for row in rows], limit, lambda deposit: deposit.id)


def deposit_address(conn: Conn, user_id: int, asset: str) -> str:
    """The user's deposit address for the asset, created on first request and then
    stable. Random (160 bits), so it reveals nothing and never collides in practice."""
    with conn.transaction():
        asset_scale(conn, asset)
        conn.execute(
            "INSERT INTO deposit_addresses (user_id, asset, address) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id, asset) DO NOTHING", (user_id, asset, secrets.token_hex(20)))
        row = conn.execute("SELECT address FROM deposit_addresses WHERE user_id = %s"
                           " AND asset = %s", (user_id, asset)).fetchone()
    return str(_present(row)[0])


def request_withdrawal(
    conn: Conn, *, user_id: int, asset: str, amount: int, address: str, idempotency_key: str
) -> tuple[Withdrawal, bool]:
    """Lock ``amount`` of the user's available balance for a new PENDING withdrawal;
    return it and whether it is new. The withdrawal and the lock commit together.

    A repeat of ``idempotency_key`` returns the original and locks nothing more; a
    repeat with another asset, amount or address is a 409.
    """
    _check_amount(amount)
    if not ADDRESS.fullmatch(address):
        raise malformed("address", "must be 1 to 128 characters A-Z, a-z, 0-9 or :._-")
    if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise malformed("idempotency_key", "must be 1 to 64 characters A-Z, a-z, 0-9 or :._-")
    with conn.transaction():
        asset_scale(conn, asset)
        # A concurrent request with the same key waits here until the first commits.
        row = conn.execute(sql.SQL(
            "INSERT INTO withdrawals (user_id, asset, amount, address, idempotency_key)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, idempotency_key) DO NOTHING"
            " RETURNING {}"
        ).format(_WITHDRAWAL_COLUMNS), (user_id, asset, amount, address, idempotency_key)
        ).fetchone()
        if row is None:
            return _repeated_withdrawal(conn, user_id, asset, amount, address,
                                        idempotency_key), False
        withdrawal = _withdrawal(row)
        post_transaction(conn, "WITHDRAWAL_REQUESTED", str(withdrawal.id), [
            Posting(AccountRef.user(user_id, asset), Bucket.AVAILABLE, -amount),
            Posting(AccountRef.user(user_id, asset), Bucket.LOCKED, amount),
        ])
    return withdrawal, True


def approve_withdrawal(conn: Conn, *, actor_id: int, withdrawal_id: int) -> Withdrawal:
    """Pay out a PENDING withdrawal (admin): its locked funds leave the exchange."""
    return _decide(conn, actor_id, withdrawal_id, WithdrawalStatus.APPROVED)


def reject_withdrawal(conn: Conn, *, actor_id: int, withdrawal_id: int) -> Withdrawal:
    """Refuse a PENDING withdrawal (admin): its locked funds become available again."""
    return _decide(conn, actor_id, withdrawal_id, WithdrawalStatus.REJECTED)


def get_withdrawal(conn: Conn, user_id: int, withdrawal_id: int) -> Withdrawal:
    """One of the user's withdrawals; 404 for anyone else's, as for a missing one."""
    row = conn.execute(
        sql.SQL("SELECT {} FROM withdrawals WHERE id = %s AND user_id = %s")
        .format(_WITHDRAWAL_COLUMNS), (withdrawal_id, user_id)).fetchone()
    if row is None:
        raise _unknown_withdrawal()
    return _withdrawal(row)


def list_withdrawals(
    conn: Conn, user_id: int, *, limit: int = 100, before_id: int | None = None
) -> Page[Withdrawal]:
    """The user's withdrawals, newest first."""
    rows = _newest_first(conn, "withdrawals", _WITHDRAWAL_COLUMNS,
                         sql.SQL("user_id = %(user)s"), {"user": user_id}, limit, before_id)
    return paginate([_withdrawal(row) for row in rows], limit, lambda item: item.id)


def pending_withdrawals(
    conn: Conn, *, limit: int = 100, before_id: int | None = None
) -> Page[Withdrawal]:
    """Every user's withdrawals awaiting a decision, newest first (admin)."""
    rows = _newest_first(conn, "withdrawals", _WITHDRAWAL_COLUMNS,
                         sql.SQL("status = 'PENDING'"), {}, limit, before_id)
    return paginate([_withdrawal(row) for row in rows], limit, lambda item: item.id)


def balances(conn: Conn, user_id: int) -> list[Balance]:
    """The user's balance in every asset they ever held, by asset symbol."""
    rows = conn.execute(
        "SELECT b.asset, a.scale, b.available, b.locked FROM balances b"
        " JOIN assets a ON a.symbol = b.asset"
        " WHERE b.account_kind = 'USER' AND b.user_id = %s ORDER BY b.asset",
        (user_id,)).fetchall()
    return [Balance(asset, int(scale), int(free), int(locked))
            for asset, scale, free, locked in rows]


def ledger_history(
    conn: Conn, user_id: int, *, asset: str | None = None, limit: int = 100,
    before_id: int | None = None,
) -> Page[LedgerEntry]:
    """The ledger entries of the user's accounts (optionally one asset's), newest first."""
    check_limit(limit)
    if asset is not None:
        asset_scale(conn, asset)
    rows = conn.execute(
        "SELECT e.id, e.transaction_id, t.kind, t.reference, e.asset, e.bucket, e.amount,"
        " e.created_at FROM balances b"
        " JOIN ledger_entries e ON e.balance_id = b.id"
        " JOIN ledger_transactions t ON t.id = e.transaction_id"
        " WHERE b.account_kind = 'USER' AND b.user_id = %(user)s"
        " AND (%(asset)s::text IS NULL OR b.asset = %(asset)s)"
        " AND (%(before)s::bigint IS NULL OR e.id < %(before)s)"
        " ORDER BY e.id DESC LIMIT %(n)s",
        {"user": user_id, "asset": asset, "before": before_id, "n": limit + 1}).fetchall()
    entries = [
        LedgerEntry(entry_id, tx_id, kind, reference, entry_asset, Bucket(bucket), int(amount),
                    created_at)
        for entry_id, tx_id, kind, reference, entry_asset, bucket, amount, created_at in rows
    ]
    return paginate(entries, limit, lambda entry: entry.id)


def _decide(
    conn: Conn, actor_id: int, withdrawal_id: int, decision: WithdrawalStatus
) -> Withdrawal:
    with conn.transaction():
        require_admin(conn, actor_id)
        pending = _lock_pending_withdrawal(conn, withdrawal_id)
        user_locked = AccountRef.user(pending.user_id, pending.asset)
        destination = (
            Posting(AccountRef.system(AccountKind.WITHDRAWAL_CLEARING, pending.asset),
                    Bucket.AVAILABLE, pending.amount)
            if decision is WithdrawalStatus.APPROVED
            else Posting(user_locked, Bucket.AVAILABLE, pending.amount))
        post_transaction(conn, f"WITHDRAWAL_{decision.value}", str(withdrawal_id), [
            Posting(user_locked, Bucket.LOCKED, -pending.amount), destination])
        decided = _withdrawal(conn.execute(sql.SQL(
            "UPDATE withdrawals SET status = %s, decided_at = now(), decided_by = %s"
            " WHERE id = %s RETURNING {}"
        ).format(_WITHDRAWAL_COLUMNS), (decision.value, actor_id, withdrawal_id)).fetchone())
        record_audit(conn, actor_id=actor_id, action=f"WITHDRAWAL_{decision.value}",
                     target=f"withdrawal:{withdrawal_id}",
                     details={"user_id": pending.user_id, "asset": pending.asset,
                              "amount": pending.amount})
    return decided


def _lock_pending_withdrawal(conn: Conn, withdrawal_id: int) -> Withdrawal:
    row = conn.execute(
        sql.SQL("SELECT {} FROM withdrawals WHERE id = %s FOR UPDATE")
        .format(_WITHDRAWAL_COLUMNS), (withdrawal_id,)).fetchone()
    if row is None:
        raise _unknown_withdrawal()
    withdrawal = _withdrawal(row)
    if withdrawal.status is not WithdrawalStatus.PENDING:
        raise conflict(f"Withdrawal {withdrawal_id} was already {withdrawal.status.lower()}.")
    return withdrawal


def _repeated_deposit(
    conn: Conn, user_id: int, asset: str, amount: int, external_txid: str
) -> Deposit:
    original = _deposit(conn.execute(
        sql.SQL("SELECT {} FROM deposits WHERE asset = %s AND external_txid = %s")
        .format(_DEPOSIT_COLUMNS), (asset, external_txid)).fetchone())
    if (original.user_id, original.amount) != (user_id, amount):
        raise conflict(f"Deposit {asset} {external_txid} was already credited with another"
                       " user or amount.")
    return original


def _repeated_withdrawal(
    conn: Conn, user_id: int, asset: str, amount: int, address: str, idempotency_key: str
) -> Withdrawal:
    original = _withdrawal(conn.execute(
        sql.SQL("SELECT {} FROM withdrawals WHERE user_id = %s AND idempotency_key = %s")
        .format(_WITHDRAWAL_COLUMNS), (user_id, idempotency_key)).fetchone())
    if (original.asset, original.amount, original.address) != (asset, amount, address):
        raise conflict(f"Idempotency key {idempotency_key} was already used for another"
                       " withdrawal.")
    return original


def _newest_first(
    conn: Conn, table: str, columns: sql.Composable, condition: sql.Composable,
    params: dict[str, Any], limit: int, before_id: int | None,
) -> list[tuple[Any, ...]]:
    """Up to ``limit + 1`` rows matching ``condition`` below ``before_id``, newest first
    (the extra row tells ``paginate`` that another page follows)."""
    check_limit(limit)
    return conn.execute(sql.SQL(
        "SELECT {} FROM {} WHERE {} AND (%(before)s::bigint IS NULL OR id < %(before)s)"
        " ORDER BY id DESC LIMIT %(n)s").format(columns, sql.Identifier(table), condition),
        {**params, "before": before_id, "n": limit + 1}).fetchall()


def _check_amount(amount: int) -> None:
    if not 0 < amount <= MAX_UNITS:
        raise malformed("amount", "must be positive")


def _require_user(conn: Conn, user_id: int) -> None:
    if conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is None:
        raise not_found(f"Unknown user {user_id}.")


def _unknown_withdrawal() -> ApiError:
    return not_found("Unknown withdrawal.")


def _deposit(row: tuple[Any, ...] | None) -> Deposit:
    deposit_id, user_id, asset, amount, external_txid, created_at = _present(row)
    return Deposit(deposit_id, user_id, asset, int(amount), external_txid, created_at)


def _withdrawal(row: tuple[Any, ...] | None) -> Withdrawal:
    (withdrawal_id, user_id, asset, amount, address, key, status, requested_at,
     decided_at) = _present(row)
    return Withdrawal(withdrawal_id, user_id, asset, int(amount), address, key,
                      WithdrawalStatus(status), requested_at, decided_at)


def _present(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """A row the statement must have produced (the schema guarantees it)."""
    if row is None:
        raise RuntimeError("expected a row: the wallet's tables disagree with each other")
    return row

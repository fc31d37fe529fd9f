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

Operator safety: no admin credits their own account or approves their own
withdrawal, and above an asset's four-eyes threshold a credit or an approval by one
admin only records it (a ``PendingCredit``, a withdrawal's ``first_approved_by``)
until a second, different admin executes it. Refusals are audited (``*_REFUSED``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NoReturn

from psycopg import sql

from chalicelib.adapters.ledger import post_transaction
from chalicelib.domain.errors import ApiError, conflict, malformed, not_found
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, Posting
from chalicelib.domain.money import MAX_UNITS
from chalicelib.service_layer import Conn, Page, check_limit, paginate
from chalicelib.service_layer.admin import (
    asset_scale,
    four_eyes_threshold,
    record_audit,
    refusal,
    require_admin,
    with_audit_kept,
)

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
class PendingCredit:
    """A deposit credit above the asset's four-eyes threshold: nothing has moved until a
    second admin approves it, which credits ``deposit_id``."""

    id: int
    user_id: int
    asset: str
    amount: int
    external_txid: str
    requested_by: int
    requested_at: datetime
    deposit_id: int | None


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
    first_approved_by: int | None = None
    """Above the four-eyes threshold: the admin who approved first (it is still PENDING)."""


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
    "id, user_id, asset, amount, address, idempotency_key, status, requested_at, decided_at,"
    " first_approved_by")
_CREDIT_COLUMNS = sql.SQL(
    "id, user_id, asset, amount, external_txid, requested_by, requested_at, deposit_id")


def credit_deposit(
    conn: Conn, *, actor_id: int, user_id: int, asset: str, amount: int, external_txid: str
) -> tuple[Deposit | PendingCredit, bool]:
    """Credit a deposit (admin); return it and whether it is new.

    Above the asset's four-eyes threshold nothing moves: a ``PendingCredit`` awaits a
    second admin (``approve_credit``). A repeat of ``(asset, external_txid)`` returns
    the original (deposit or pending credit) and moves nothing; a repeat for another
    user or amount is a 409. An admin crediting their own account is refused (403).
    """
    _check_amount(amount)
    if not EXTERNAL_TXID.fullmatch(external_txid):
        raise malformed("external_txid", "must be 1 to 128 printable characters")
    details = {"asset": asset, "amount": amount, "external_txid": external_txid}
    if user_id == actor_id:
        _refuse_self_credit(conn, actor_id, details)
    with conn.transaction():
        require_admin(conn, actor_id)
        _require_user(conn, user_id)
        threshold = four_eyes_threshold(conn, asset)
        request = _credit_request(conn, sql.SQL("asset = %s AND external_txid = %s"),
                                  (asset, external_txid))
        if request is not None and request.deposit_id is None:
            return _same_credit(request, user_id, amount), False
        if request is None and threshold is not None and amount > threshold:
            return _request_credit(conn, actor_id, user_id, asset, amount, external_txid)
        return _post_deposit(conn, actor_id, user_id, details, audit={})


def approve_credit(conn: Conn, *, actor_id: int, request_id: int) -> tuple[Deposit, bool]:
    """A second admin executes a pending credit: the deposit is credited once; return it
    and whether this call credited it. Its requester or its beneficiary is refused."""
    with conn.transaction():
        require_admin(conn, actor_id)
        request = _credit_request(conn, sql.SQL("id = %s"), (request_id,))
        if request is None:
            raise not_found("Unknown pending credit.")
        if request.deposit_id is not None:
            return _deposit_by_id(conn, request.deposit_id), False
        refused = _credit_approval_refusal(conn, actor_id, request)
        if refused is None:
            return _execute_credit(conn, actor_id, request), True
    raise with_audit_kept(conn, refused)


def pending_credits(
    conn: Conn, *, limit: int = 100, before_id: int | None = None
) -> Page[PendingCredit]:
    """Deposit credits awaiting a second admin, newest first (admin)."""
    rows = _newest_first(conn, "deposit_credit_requests", _CREDIT_COLUMNS,
                         sql.SQL("deposit_id IS NULL"), {}, limit, before_id)
    return paginate([_pending_credit(row) for row in rows], limit, lambda item: item.id)


def _refuse_self_credit(conn: Conn, actor_id: int, details: dict[str, Any]) -> NoReturn:
    with conn.transaction():
        require_admin(conn, actor_id)
        refused = refusal(conn, actor_id=actor_id, action="DEPOSIT_CREDIT",
                          target=f"user:{actor_id}", details=details,
                          msg="An administrator cannot credit their own account.")
    raise with_audit_kept(conn, refused)


def _credit_request(conn: Conn, condition: sql.Composable,
                    params: tuple[Any, ...]) -> PendingCredit | None:
    """The credit request matching ``condition``, locked until the transaction ends."""
    row = conn.execute(sql.SQL("SELECT {} FROM deposit_credit_requests WHERE {} FOR UPDATE")
                       .format(_CREDIT_COLUMNS, condition), params).fetchone()
    return None if row is None else _pending_credit(row)


def _same_credit(request: PendingCredit, user_id: int, amount: int) -> PendingCredit:
    if (request.user_id, request.amount) != (user_id, amount):
        raise conflict(f"Deposit {request.asset} {request.external_txid} is already awaiting"
                       " approval with another user or amount.")
    return request


def _request_credit(conn: Conn, actor_id: int, user_id: int, asset: str, amount: int,
                    external_txid: str) -> tuple[Deposit | PendingCredit, bool]:
    if _deposit_row(conn, asset, external_txid) is not None:
        # Credited before the threshold applied: a repeat of that deposit.
        return _repeated_deposit(conn, user_id, asset, amount, external_txid), False
    row = conn.execute(sql.SQL(
        "INSERT INTO deposit_credit_requests (user_id, asset, amount, external_txid,"
        " requested_by) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (asset, external_txid) DO NOTHING RETURNING {}"
    ).format(_CREDIT_COLUMNS), (user_id, asset, amount, external_txid, actor_id)).fetchone()
    if row is None:  # a concurrent request for the same txid committed first
        original = _credit_request(conn, sql.SQL("asset = %s AND external_txid = %s"),
                                   (asset, external_txid))
        return _same_credit(_present_credit(original), user_id, amount), False
    request = _pending_credit(row)
    record_audit(conn, actor_id=actor_id, action="DEPOSIT_CREDIT_REQUESTED",
                 target=f"user:{user_id}",
                 details={"request_id": request.id, "asset": asset, "amount": amount,
                          "external_txid": external_txid})
    return request, True


def _credit_approval_refusal(conn: Conn, actor_id: int,
                             request: PendingCredit) -> ApiError | None:
    if actor_id == request.user_id:
        msg = "An administrator cannot credit their own account."
    elif actor_id == request.requested_by:
        msg = "A second, different administrator must approve this credit."
    else:
        return None
    return refusal(conn, actor_id=actor_id, action="DEPOSIT_CREDIT",
                   target=f"user:{request.user_id}",
                   details={"request_id": request.id, "asset": request.asset,
                            "amount": request.amount}, msg=msg)


def _execute_credit(conn: Conn, actor_id: int, request: PendingCredit) -> Deposit:
    details = {"asset": request.asset, "amount": request.amount,
               "external_txid": request.external_txid}
    deposit, new = _post_deposit(conn, actor_id, request.user_id, details,
                                 audit={"request_id": request.id,
                                        "requested_by": request.requested_by})
    if not new:
        raise conflict(f"Deposit {request.asset} {request.external_txid} was already"
                       " credited.")
    conn.execute("UPDATE deposit_credit_requests SET approved_by = %s, deposit_id = %s"
                 " WHERE id = %s", (actor_id, deposit.id, request.id))
    return deposit


def _post_deposit(conn: Conn, actor_id: int, user_id: int, details: dict[str, Any],
                  audit: dict[str, Any]) -> tuple[Deposit, bool]:
    """Move a deposit's money and record it (inside the caller's transaction)."""
    asset, amount, external_txid = details["asset"], details["amount"], details["external_txid"]
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
                 details={"deposit_id": deposit.id, **details, **audit})
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
    """Pay out a PENDING withdrawal (admin): its locked funds leave the exchange.

    Above the asset's four-eyes threshold the first approval only records the admin
    (``first_approved_by``; still PENDING) and a second, different admin's pays out.
    Nobody approves their own withdrawal, nor approves one twice (403).
    """
    with conn.transaction():
        require_admin(conn, actor_id)
        pending = _lock_pending_withdrawal(conn, withdrawal_id)
        refused = _approval_refusal(conn, actor_id, pending)
        if refused is None:
            threshold = four_eyes_threshold(conn, pending.asset)
            if pending.first_approved_by is None and threshold is not None \
                    and pending.amount > threshold:
                return _first_approval(conn, actor_id, pending)
            return _decide(conn, actor_id, pending, WithdrawalStatus.APPROVED)
    raise with_audit_kept(conn, refused)


def reject_withdrawal(conn: Conn, *, actor_id: int, withdrawal_id: int) -> Withdrawal:
    """Refuse a PENDING withdrawal (admin): its locked funds become available again.
    One admin suffices, even after a first approval: no money leaves."""
    with conn.transaction():
        require_admin(conn, actor_id)
        pending = _lock_pending_withdrawal(conn, withdrawal_id)
        return _decide(conn, actor_id, pending, WithdrawalStatus.REJECTED)


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


def _decide(conn: Conn, actor_id: int, pending: Withdrawal,
            decision: WithdrawalStatus) -> Withdrawal:
    """Move the locked funds out (approval) or back (rejection); inside the caller's
    transaction, which holds the withdrawal's row lock."""
    user_locked = AccountRef.user(pending.user_id, pending.asset)
    destination = (
        Posting(AccountRef.system(AccountKind.WITHDRAWAL_CLEARING, pending.asset),
                Bucket.AVAILABLE, pending.amount)
        if decision is WithdrawalStatus.APPROVED
        else Posting(user_locked, Bucket.AVAILABLE, pending.amount))
    post_transaction(conn, f"WITHDRAWAL_{decision.value}", str(pending.id), [
        Posting(user_locked, Bucket.LOCKED, -pending.amount), destination])
    decided = _withdrawal(conn.execute(sql.SQL(
        "UPDATE withdrawals SET status = %s, decided_at = now(), decided_by = %s"
        " WHERE id = %s RETURNING {}"
    ).format(_WITHDRAWAL_COLUMNS), (decision.value, actor_id, pending.id)).fetchone())
    first = {} if pending.first_approved_by is None else {
        "first_approved_by": pending.first_approved_by}
    record_audit(conn, actor_id=actor_id, action=f"WITHDRAWAL_{decision.value}",
                 target=f"withdrawal:{pending.id}",
                 details={"user_id": pending.user_id, "asset": pending.asset,
                          "amount": pending.amount, **first})
    return decided


def _first_approval(conn: Conn, actor_id: int, pending: Withdrawal) -> Withdrawal:
    """Record the first of the two approvals above the threshold; nothing moves."""
    approved = _withdrawal(conn.execute(sql.SQL(
        "UPDATE withdrawals SET first_approved_by = %s, first_approved_at = now()"
        " WHERE id = %s RETURNING {}"
    ).format(_WITHDRAWAL_COLUMNS), (actor_id, pending.id)).fetchone())
    record_audit(conn, actor_id=actor_id, action="WITHDRAWAL_FIRST_APPROVAL",
                 target=f"withdrawal:{pending.id}",
                 details={"user_id": pending.user_id, "asset": pending.asset,
                          "amount": pending.amount})
    return approved


def _approval_refusal(conn: Conn, actor_id: int, pending: Withdrawal) -> ApiError | None:
    if actor_id == pending.user_id:
        msg = "An administrator cannot approve their own withdrawal."
    elif actor_id == pending.first_approved_by:
        msg = "A second, different administrator must approve this withdrawal."
    else:
        return None
    return refusal(conn, actor_id=actor_id, action="WITHDRAWAL_APPROVAL",
                   target=f"withdrawal:{pending.id}",
                   details={"user_id": pending.user_id, "asset": pending.asset,
                            "amount": pending.amount}, msg=msg)


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


def _deposit_row(conn: Conn, asset: str, external_txid: str) -> tuple[Any, ...] | None:
    return conn.execute(
        sql.SQL("SELECT {} FROM deposits WHERE asset = %s AND external_txid = %s")
        .format(_DEPOSIT_COLUMNS), (asset, external_txid)).fetchone()


def _deposit_by_id(conn: Conn, deposit_id: int) -> Deposit:
    return _deposit(conn.execute(sql.SQL("SELECT {} FROM deposits WHERE id = %s")
                                 .format(_DEPOSIT_COLUMNS), (deposit_id,)).fetchone())


def _repeated_deposit(
    conn: Conn, user_id: int, asset: str, amount: int, external_txid: str
) -> Deposit:
    original = _deposit(_deposit_row(conn, asset, external_txid))
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
     decided_at, first_approved_by) = _present(row)
    return Withdrawal(withdrawal_id, user_id, asset, int(amount), address, key,
                      WithdrawalStatus(status), requested_at, decided_at, first_approved_by)


def _pending_credit(row: tuple[Any, ...]) -> PendingCredit:
    request_id, user_id, asset, amount, txid, requested_by, requested_at, deposit_id = row
    return PendingCredit(request_id, user_id, asset, int(amount), txid, requested_by,
                         requested_at, deposit_id)


def _present_credit(request: PendingCredit | None) -> PendingCredit:
    if request is None:
        raise RuntimeError("expected a credit request: ON CONFLICT found one")
    return request


def _present(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """A row the statement must have produced (the schema guarantees it)."""
    if row is None:
        raise RuntimeError("expected a row: the wallet's tables disagree with each other")
    return row

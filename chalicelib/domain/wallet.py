"""The wallet's values and rules, without I/O: what deposits and withdrawals are, which
requests are well-formed, how each one moves money and who may approve it.

Money moves as ledger transactions (``chalicelib.domain.ledger``):

* deposit: DEPOSIT_CLEARING -amount, user available +amount;
* withdrawal request: user available -amount, user locked +amount;
* approval: user locked -amount, WITHDRAWAL_CLEARING +amount (the money left);
* rejection: user locked -amount, user available +amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import conflict, malformed
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, LedgerTransaction, Posting
from chalicelib.domain.money import MAX_UNITS

EXTERNAL_TXID = re.compile(r"[\x21-\x7e]{1,128}")
"""Printable ASCII without spaces: what chains and payment rails use as ids."""
ADDRESS = re.compile(r"[A-Za-z0-9:._-]{1,128}")
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9:._-]{1,64}")

DEPOSIT = "DEPOSIT"
"""Ledger kind of a credited deposit, referenced ``<asset>:<external txid>``."""
WITHDRAWAL_REQUESTED = "WITHDRAWAL_REQUESTED"
"""Ledger kind of a withdrawal's lock, referenced by the withdrawal's id (as are its
decision's, ``WITHDRAWAL_APPROVED`` or ``WITHDRAWAL_REJECTED``)."""


class WithdrawalStatus(StrEnum):
    PENDING = "PENDING"
    """Its amount is locked until an admin (above the threshold: a second one) decides."""
    APPROVED = "APPROVED"
    """Paid out: the money left the exchange."""
    REJECTED = "REJECTED"
    """Its amount is available to the user again."""


def check_amount(amount: int) -> None:
    if not 0 < amount <= MAX_UNITS:
        raise malformed("amount", "must be positive")


def check_withdrawal_target(address: str, idempotency_key: str) -> None:
    if not ADDRESS.fullmatch(address):
        raise malformed("address", "must be 1 to 128 characters A-Z, a-z, 0-9 or :._-")
    if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise malformed("idempotency_key", "must be 1 to 64 characters A-Z, a-z, 0-9 or :._-")


@dataclass(frozen=True)
class DepositCredit:
    """An admin's instruction to credit a deposit that arrived outside: the user, what
    and how much, and the chain's or payment rail's id for it (one credit per asset)."""

    user_id: int
    asset: str
    amount: int
    external_txid: str

    def check(self) -> None:
        check_amount(self.amount)
        if not EXTERNAL_TXID.fullmatch(self.external_txid):
            raise malformed("external_txid", "must be 1 to 128 printable characters")

    def ledger_transaction(self) -> LedgerTransaction:
        return LedgerTransaction(DEPOSIT, f"{self.asset}:{self.external_txid}", [
            Posting(AccountRef.user(self.user_id, self.asset), Bucket.AVAILABLE, self.amount),
            Posting(AccountRef.system(AccountKind.DEPOSIT_CLEARING, self.asset),
                    Bucket.AVAILABLE, -self.amount),
        ])

    def audit_details(self) -> dict[str, Any]:
        return {"asset": self.asset, "amount": self.amount, "external_txid": self.external_txid}


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

    @property
    def credit(self) -> DepositCredit:
        return DepositCredit(self.user_id, self.asset, self.amount, self.external_txid)

    def approval_refusal(self, actor_id: int) -> str | None:
        """Why ``actor_id`` may not execute this credit, or None if they may."""
        return credit_refusal(actor_id, self.user_id, self.requested_by)


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

    def approval_refusal(self, actor_id: int) -> str | None:
        """Why ``actor_id`` may not approve this withdrawal, or None if they may."""
        return _second_admin_refusal(actor_id, self.user_id, self.first_approved_by,
                                     own="approve their own withdrawal", subject="withdrawal")


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


def credit_refusal(actor_id: int, user_id: int, requested_by: int | None = None) -> str | None:
    """Why ``actor_id`` may not credit ``user_id`` (nor execute a credit ``requested_by``
    requested), or None if they may."""
    return _second_admin_refusal(actor_id, user_id, requested_by,
                                 own="credit their own account", subject="credit")


def needs_second_admin(amount: int, threshold: int | None) -> bool:
    """Above the asset's four-eyes threshold (None: no threshold) one admin is not enough."""
    return threshold is not None and amount > threshold


def withdrawal_lock(withdrawal: Withdrawal) -> LedgerTransaction:
    user = AccountRef.user(withdrawal.user_id, withdrawal.asset)
    return LedgerTransaction(WITHDRAWAL_REQUESTED, str(withdrawal.id), [
        Posting(user, Bucket.AVAILABLE, -withdrawal.amount),
        Posting(user, Bucket.LOCKED, withdrawal.amount),
    ])


def withdrawal_decision(withdrawal: Withdrawal, decision: WithdrawalStatus) -> LedgerTransaction:
    """Move the locked funds out (approval) or back to the user (rejection)."""
    user = AccountRef.user(withdrawal.user_id, withdrawal.asset)
    destination = (
        Posting(AccountRef.system(AccountKind.WITHDRAWAL_CLEARING, withdrawal.asset),
                Bucket.AVAILABLE, withdrawal.amount)
        if decision is WithdrawalStatus.APPROVED
        else Posting(user, Bucket.AVAILABLE, withdrawal.amount))
    return LedgerTransaction(f"WITHDRAWAL_{decision.value}", str(withdrawal.id), [
        Posting(user, Bucket.LOCKED, -withdrawal.amount), destination])


def same_deposit(original: Deposit, credit: DepositCredit) -> Deposit:
    """A repeat of ``original``'s (asset, external txid) returns it; for another user or
    amount it is a conflict."""
    if (original.user_id, original.amount) != (credit.user_id, credit.amount):
        raise conflict(f"Deposit {original.asset} {original.external_txid} was already"
                       " credited with another user or amount.")
    return original


def same_credit(request: PendingCredit, credit: DepositCredit) -> PendingCredit:
    """As ``same_deposit``, for a credit still awaiting its second admin."""
    if (request.user_id, request.amount) != (credit.user_id, credit.amount):
        raise conflict(f"Deposit {request.asset} {request.external_txid} is already awaiting"
                       " approval with another user or amount.")
    return request


def same_withdrawal(original: Withdrawal, asset: str, amount: int, address: str) -> Withdrawal:
    """A repeat of ``original``'s idempotency key returns it; with another asset, amount
    or address it is a conflict."""
    if (original.asset, original.amount, original.address) != (asset, amount, address):
        raise conflict(f"Idempotency key {original.idempotency_key} was already used for"
                       " another withdrawal.")
    return original


def _second_admin_refusal(actor_id: int, beneficiary_id: int, first_admin_id: int | None,
                          *, own: str, subject: str) -> str | None:
    if actor_id == beneficiary_id:
        return f"An administrator cannot {own}."
    if actor_id == first_admin_id:
        return f"A second, different administrator must approve this {subject}."
    return None

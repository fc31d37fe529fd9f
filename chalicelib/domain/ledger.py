"""Ledger values: accounts, postings and balanced transactions, without I/O.

A ledger transaction is a set of postings (account, bucket, signed amount) that sums
to zero per asset; ``chalicelib.adapters.ledger`` writes them. Everything that decides
how money moves (the wallet, order intake, the matcher's settlement) builds these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.errors import ApiError, ErrorCode


class Bucket(StrEnum):
    """Every account holds two amounts: what its owner may spend, and what open orders
    and pending withdrawals hold."""

    AVAILABLE = "AVAILABLE"
    LOCKED = "LOCKED"


class AccountKind(StrEnum):
    USER = "USER"
    FEE = "FEE"
    """The exchange's trading fees."""
    DEPOSIT_CLEARING = "DEPOSIT_CLEARING"
    """Goes negative by what users deposited: the other side of every deposit."""
    WITHDRAWAL_CLEARING = "WITHDRAWAL_CLEARING"
    """What approved withdrawals paid out."""


@dataclass(frozen=True, slots=True)
class AccountRef:
    """A ledger account: a user's (``user_id`` set) or the exchange's (``user_id`` None)."""

    kind: AccountKind
    user_id: int | None
    asset: str

    def __post_init__(self) -> None:
        if (self.kind is AccountKind.USER) != (self.user_id is not None):
            raise ValueError(f"{self.kind} accounts {'need' if self.user_id is None else 'have no'}"
                             " user_id")

    @classmethod
    def user(cls, user_id: int, asset: str) -> AccountRef:
        return cls(AccountKind.USER, user_id, asset)

    @classmethod
    def system(cls, kind: AccountKind, asset: str) -> AccountRef:
        return cls(kind, None, asset)


@dataclass(frozen=True, slots=True)
class Posting:
    account: AccountRef
    bucket: Bucket
    amount: int
    """Signed, in the asset's smallest unit; never zero."""

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount == 0:
            raise ValueError(f"a posting amount must be a non-zero int, got {self.amount!r}")


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    kind: str
    reference: str
    """What caused it (deposit, withdrawal, trade id...); unique per kind."""
    postings: Sequence[Posting]

    def __post_init__(self) -> None:
        if not self.postings:
            raise ValueError(f"ledger transaction {self.key} has no postings")
        totals: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.account.asset] += posting.amount
        unbalanced = {asset: total for asset, total in totals.items() if total}
        if unbalanced:
            raise ValueError(f"ledger transaction {self.key} does not balance: {unbalanced}")

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.reference


def insufficient_balance() -> ApiError:
    return ApiError(400, ErrorCode.INSUFFICIENT_BALANCE,
                    "Account has insufficient balance for requested action.")

"""What the ledger auditor checks and finds, without I/O.

SPEC's money invariants as the auditor reads them on the live database:

* ``ASSET_SUM`` (invariant 2's "sum of all accounts of an asset is zero"): the ledger
  entries of each asset sum to zero, and so do its balance rows.
* ``BALANCE_ENTRIES``: every balance row's available and locked equal the sums of its
  ledger entries in that bucket (no balance moved around the ledger).
* ``LOCKS`` (invariant 3): a user's locked amount of an asset equals what their open
  orders (NEW, PARTIALLY_FILLED, an OTO's PENDING_NEW) still lock in it plus their
  pending withdrawals of it.

A ``Break`` is one row that breaks one of them: what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import ApiError, ErrorCode, conflict

SYSTEM_ACTOR = None
"""The audit log's actor for what the exchange does by itself (no person)."""
HALT_ACTION = "LEDGER_AUDIT_HALT"
CLEAR_ACTION = "LEDGER_AUDIT_CLEAR"
AUDIT_TARGET = "ledger"


class Invariant(StrEnum):
    ASSET_SUM = "asset_sum"
    BALANCE_ENTRIES = "balance_entries"
    LOCKS = "locks"


@dataclass(frozen=True, slots=True)
class Break:
    invariant: Invariant
    asset: str
    expected: int
    actual: int
    balance_id: int | None = None
    user_id: int | None = None
    bucket: str | None = None
    """AVAILABLE or LOCKED, for a balance that differs from its entries."""

    def as_record(self) -> dict[str, Any]:
        """JSON for the audit log and the admin API: amounts as decimal strings of the
        smallest unit (they may exceed what a JSON number holds exactly)."""
        record: dict[str, Any] = {"invariant": self.invariant.value, "asset": self.asset,
                                  "expected": str(self.expected), "actual": str(self.actual)}
        for name in ("balance_id", "user_id", "bucket"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Break:
        return cls(Invariant(record["invariant"]), str(record["asset"]),
                   int(record["expected"]), int(record["actual"]),
                   record.get("balance_id"), record.get("user_id"), record.get("bucket"))


@dataclass(frozen=True)
class PassResult:
    """One audit pass: whether it re-read the whole ledger, how many ledger entries it
    read, and what it found broken."""

    full: bool
    entries: int
    breaks: tuple[Break, ...]
    halted: bool
    """Withdrawals are halted after this pass (by it or by an earlier one not cleared)."""
    skipped: bool = False
    """Another pass held the auditor's lock: this one did nothing."""

    @property
    def ok(self) -> bool:
        return not self.breaks

    def counts(self) -> dict[Invariant, int]:
        return {invariant: sum(1 for b in self.breaks if b.invariant is invariant)
                for invariant in Invariant}


@dataclass(frozen=True)
class AuditStatus:
    """The auditor's state as the admin API shows it."""

    last_pass_at: datetime | None
    last_pass_full: bool
    last_pass_entries: int
    last_full_at: datetime | None
    passes: int
    breaks: tuple[Break, ...]
    withdrawals_halted: bool
    halted_at: datetime | None

    @property
    def ok(self) -> bool:
        return not self.breaks


def needs_full_pass(*, passes: int, full_every: int, last_broken: bool) -> bool:
    """A pass re-reads the whole ledger every ``full_every`` passes, and while the last
    pass found a break: so that a repaired break is seen gone, and a balance or an order
    changed around the ledger (which the incremental passes cannot see) is found."""
    return last_broken or (full_every > 0 and passes % full_every == 0)


def withdrawals_halted() -> ApiError:
    """A withdrawal request or approval while the auditor has halted withdrawals.

    400, like an order refused on a halted market: the request was refused and nothing
    was reserved, which a 5xx would not say (Binance's 5xx means "execution status
    unknown", so a careful client would go looking for a withdrawal that does not exist).
    """
    return ApiError(400, ErrorCode.WITHDRAWALS_HALTED,
                    "Withdrawals are halted while the ledger is checked; nothing was reserved."
                    " Try again later.")


def breaks_remain() -> ApiError:
    return conflict("The last ledger audit still found a break: repair it and let a pass"
                    " find none before clearing the halt.")

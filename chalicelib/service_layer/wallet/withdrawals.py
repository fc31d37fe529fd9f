"""Withdrawals: the user requests one (once per idempotency key, however often or
concurrently it is repeated), which locks the amount until an admin approves it (the
money leaves; above the asset's four-eyes threshold only the second of two admins'
approvals pays out) or rejects it (the money is available again)."""

from __future__ import annotations

from functools import partial

from chalicelib.adapters import ledger_audit_repo, wallet_repo
from chalicelib.adapters.ledger import post_transactions
from chalicelib.domain.errors import ApiError, conflict, not_found
from chalicelib.domain.ledger_audit import withdrawals_halted
from chalicelib.domain.wallet import (
    Withdrawal,
    WithdrawalStatus,
    check_amount,
    check_withdrawal_target,
    needs_second_admin,
    same_withdrawal,
    withdrawal_decision,
    withdrawal_lock,
)
from chalicelib.service_layer import Conn, Page
from chalicelib.service_layer.admin import (
    asset_scale,
    four_eyes_threshold,
    record_audit,
    refusal,
    require_admin,
    with_audit_kept,
)
from chalicelib.service_layer.wallet.paging import newest_first


def request_withdrawal(
    conn: Conn, *, user_id: int, asset: str, amount: int, address: str, idempotency_key: str
) -> tuple[Withdrawal, bool]:
    """Lock ``amount`` of the user's available balance for a new PENDING withdrawal;
    return it and whether it is new. The withdrawal and the lock commit together.

    A repeat of ``idempotency_key`` returns the original and locks nothing more; a
    repeat with another asset, amount or address is a 409. While the ledger auditor has
    halted withdrawals a new request is refused (400 -5010) and nothing is locked.
    """
    check_amount(amount)
    check_withdrawal_target(address, idempotency_key)
    with conn.transaction():
        asset_scale(conn, asset)
        if ledger_audit_repo.withdrawals_halted(conn):
            if not ledger_audit_repo.withdrawal_key_used(conn, user_id, idempotency_key):
                raise withdrawals_halted()
            original = wallet_repo.withdrawal_by_key(conn, user_id, idempotency_key)
            return same_withdrawal(original, asset, amount, address), False
        withdrawal = wallet_repo.insert_withdrawal(
            conn, user_id=user_id, asset=asset, amount=amount, address=address,
            idempotency_key=idempotency_key)
        if withdrawal is None:
            original = wallet_repo.withdrawal_by_key(conn, user_id, idempotency_key)
            return same_withdrawal(original, asset, amount, address), False
        post_transactions(conn, [withdrawal_lock(withdrawal)])
    return withdrawal, True


def list_withdrawals(
    conn: Conn, user_id: int, *, limit: int = 100, before_id: int | None = None
) -> Page[Withdrawal]:
    """The user's withdrawals, newest first."""
    return newest_first(partial(wallet_repo.user_withdrawals, conn, user_id), limit, before_id)


def pending_withdrawals(
    conn: Conn, *, limit: int = 100, before_id: int | None = None
) -> Page[Withdrawal]:
    """Every user's withdrawals awaiting a decision, newest first (admin)."""
    return newest_first(partial(wallet_repo.pending_withdrawals, conn), limit, before_id)


def approve_withdrawal(conn: Conn, *, actor_id: int, withdrawal_id: int) -> Withdrawal:
    """Pay out a PENDING withdrawal (admin): its locked funds leave the exchange.

    Above the asset's four-eyes threshold the first approval only records the admin
    (``first_approved_by``; still PENDING) and a second, different admin's pays out.
    Nobody approves their own withdrawal, nor approves one twice (403). Nothing is
    approved while the ledger auditor has halted withdrawals (400 -5010).
    """
    with conn.transaction():
        require_admin(conn, actor_id)
        if ledger_audit_repo.withdrawals_halted(conn):
            raise withdrawals_halted()
        pending = _lock_pending_withdrawal(conn, withdrawal_id)
        msg = pending.approval_refusal(actor_id)
        if msg is None:
            if pending.first_approved_by is None and needs_second_admin(
                    pending.amount, four_eyes_threshold(conn, pending.asset)):
                return _first_approval(conn, actor_id, pending)
            return _decide(conn, actor_id, pending, WithdrawalStatus.APPROVED)
        refused = refusal(conn, actor_id=actor_id, action="WITHDRAWAL_APPROVAL",
                          target=f"withdrawal:{pending.id}", details=_audit_details(pending),
                          msg=msg)
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
    withdrawal = wallet_repo.user_withdrawal(conn, user_id, withdrawal_id)
    if withdrawal is None:
        raise _unknown_withdrawal()
    return withdrawal


def _decide(conn: Conn, actor_id: int, pending: Withdrawal,
            decision: WithdrawalStatus) -> Withdrawal:
    """Move the locked funds out (approval) or back (rejection); inside the caller's
    transaction, which holds the withdrawal's row lock."""
    post_transactions(conn, [withdrawal_decision(pending, decision)])
    decided = wallet_repo.record_decision(conn, pending.id, decision, decided_by=actor_id)
    first = {} if pending.first_approved_by is None else {
        "first_approved_by": pending.first_approved_by}
    record_audit(conn, actor_id=actor_id, action=f"WITHDRAWAL_{decision.value}",
                 target=f"withdrawal:{pending.id}", details={**_audit_details(pending), **first})
    return decided


def _first_approval(conn: Conn, actor_id: int, pending: Withdrawal) -> Withdrawal:
    """Record the first of the two approvals above the threshold; nothing moves."""
    approved = wallet_repo.record_first_approval(conn, pending.id, approved_by=actor_id)
    record_audit(conn, actor_id=actor_id, action="WITHDRAWAL_FIRST_APPROVAL",
                 target=f"withdrawal:{pending.id}", details=_audit_details(pending))
    return approved


def _lock_pending_withdrawal(conn: Conn, withdrawal_id: int) -> Withdrawal:
    withdrawal = wallet_repo.lock_withdrawal(conn, withdrawal_id)
    if withdrawal is None:
        raise _unknown_withdrawal()
    if withdrawal.status is not WithdrawalStatus.PENDING:
        raise conflict(f"Withdrawal {withdrawal_id} was already {withdrawal.status.lower()}.")
    return withdrawal


def _audit_details(withdrawal: Withdrawal) -> dict[str, object]:
    return {"user_id": withdrawal.user_id, "asset": withdrawal.asset,
            "amount": withdrawal.amount}


def _unknown_withdrawal() -> ApiError:
    return not_found("Unknown withdrawal.")

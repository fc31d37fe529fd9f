"""Deposits: an admin credits one (once per asset and external txid, however often or
concurrently it is repeated), above the asset's four-eyes threshold a second admin
executes it, and the user lists theirs."""

from __future__ import annotations

from functools import partial
from typing import NoReturn

from chalicelib.adapters import accounts_repo, wallet_repo
from chalicelib.adapters.ledger import post_transactions
from chalicelib.domain.errors import conflict, not_found
from chalicelib.domain.wallet import (
    Deposit,
    DepositCredit,
    PendingCredit,
    credit_refusal,
    needs_second_admin,
    same_credit,
    same_deposit,
)
from chalicelib.service_layer import Conn, Page
from chalicelib.service_layer.admin import (
    four_eyes_threshold,
    record_audit,
    refusal,
    require_admin,
    with_audit_kept,
)
from chalicelib.service_layer.wallet.paging import newest_first


def list_deposits(
    conn: Conn, user_id: int, *, limit: int = 100, before_id: int | None = None
) -> Page[Deposit]:
    """The user's deposits, newest first."""
    return newest_first(partial(wallet_repo.user_deposits, conn, user_id), limit, before_id)


def credit_deposit(
    conn: Conn, *, actor_id: int, user_id: int, asset: str, amount: int, external_txid: str
) -> tuple[Deposit | PendingCredit, bool]:
    """Credit a deposit (admin); return it and whether it is new.

    Above the asset's four-eyes threshold nothing moves: a ``PendingCredit`` awaits a
    second admin (``approve_credit``). A repeat of ``(asset, external_txid)`` returns
    the original (deposit or pending credit) and moves nothing; a repeat for another
    user or amount is a 409. An admin crediting their own account is refused (403).
    """
    credit = DepositCredit(user_id, asset, amount, external_txid)
    credit.check()
    refused = credit_refusal(actor_id, user_id)
    if refused is not None:
        _refuse_credit(conn, actor_id, credit, refused)
    with conn.transaction():
        require_admin(conn, actor_id)
        if accounts_repo.user_by_id(conn, user_id) is None:
            raise not_found(f"Unknown user {user_id}.")
        threshold = four_eyes_threshold(conn, asset)
        request = wallet_repo.lock_credit_request_by_txid(conn, asset, external_txid)
        if request is not None and request.deposit_id is None:
            return same_credit(request, credit), False
        if request is None and needs_second_admin(amount, threshold):
            return _request_credit(conn, actor_id, credit)
        return _post_deposit(conn, actor_id, credit, audit={})


def approve_credit(conn: Conn, *, actor_id: int, request_id: int) -> tuple[Deposit, bool]:
    """A second admin executes a pending credit: the deposit is credited once; return it
    and whether this call credited it. Its requester or its beneficiary is refused."""
    with conn.transaction():
        require_admin(conn, actor_id)
        request = wallet_repo.lock_credit_request(conn, request_id)
        if request is None:
            raise not_found("Unknown pending credit.")
        if request.deposit_id is not None:
            return wallet_repo.deposit_by_id(conn, request.deposit_id), False
        msg = request.approval_refusal(actor_id)
        if msg is None:
            return _execute_credit(conn, actor_id, request), True
        refused = refusal(conn, actor_id=actor_id, action="DEPOSIT_CREDIT",
                          target=f"user:{request.user_id}",
                          details={"request_id": request.id, "asset": request.asset,
                                   "amount": request.amount}, msg=msg)
    raise with_audit_kept(conn, refused)


def pending_credits(
    conn: Conn, *, limit: int = 100, before_id: int | None = None
) -> Page[PendingCredit]:
    """Deposit credits awaiting a second admin, newest first (admin)."""
    return newest_first(partial(wallet_repo.pending_credit_requests, conn), limit, before_id)


def _refuse_credit(conn: Conn, actor_id: int, credit: DepositCredit, msg: str) -> NoReturn:
    with conn.transaction():
        require_admin(conn, actor_id)
        refused = refusal(conn, actor_id=actor_id, action="DEPOSIT_CREDIT",
                          target=f"user:{credit.user_id}", details=credit.audit_details(),
                          msg=msg)
    raise with_audit_kept(conn, refused)


def _request_credit(conn: Conn, actor_id: int,
                    credit: DepositCredit) -> tuple[Deposit | PendingCredit, bool]:
    credited = wallet_repo.deposit_by_txid(conn, credit.asset, credit.external_txid)
    if credited is not None:
        # Credited before the threshold applied: a repeat of that deposit.
        return same_deposit(credited, credit), False
    request = wallet_repo.insert_credit_request(conn, credit, requested_by=actor_id)
    if request is None:  # a concurrent request for the same txid committed first
        original = wallet_repo.lock_credit_request_by_txid(conn, credit.asset,
                                                           credit.external_txid)
        if original is None:
            raise RuntimeError("expected a credit request: ON CONFLICT found one")
        return same_credit(original, credit), False
    record_audit(conn, actor_id=actor_id, action="DEPOSIT_CREDIT_REQUESTED",
                 target=f"user:{credit.user_id}",
                 details={"request_id": request.id, **credit.audit_details()})
    return request, True


def _execute_credit(conn: Conn, actor_id: int, request: PendingCredit) -> Deposit:
    deposit, new = _post_deposit(conn, actor_id, request.credit,
                                 audit={"request_id": request.id,
                                        "requested_by": request.requested_by})
    if not new:
        raise conflict(f"Deposit {request.asset} {request.external_txid} was already"
                       " credited.")
    wallet_repo.mark_credit_executed(conn, request.id, approved_by=actor_id,
                                     deposit_id=deposit.id)
    return deposit


def _post_deposit(conn: Conn, actor_id: int, credit: DepositCredit,
                  audit: dict[str, object]) -> tuple[Deposit, bool]:
    """Move a deposit's money and record it (inside the caller's transaction)."""
    (tx_id,) = post_transactions(conn, [credit.ledger_transaction()])
    if tx_id is None:
        original = wallet_repo.deposit_by_txid(conn, credit.asset, credit.external_txid)
        if original is None:
            raise RuntimeError("expected a deposit: its ledger transaction was posted")
        return same_deposit(original, credit), False
    deposit = wallet_repo.insert_deposit(conn, credit, ledger_transaction_id=tx_id,
                                         credited_by=actor_id)
    record_audit(conn, actor_id=actor_id, action="DEPOSIT_CREDIT",
                 target=f"user:{credit.user_id}",
                 details={"deposit_id": deposit.id, **credit.audit_details(), **audit})
    return deposit, True

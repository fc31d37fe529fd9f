"""Wire shapes of wallet and admin objects: amounts as decimal strings, camelCase."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.admin import Asset, AuditEntry, Market
from chalicelib.domain.money import format_units
from chalicelib.domain.wallet import (
    Balance,
    Deposit,
    LedgerEntry,
    PendingCredit,
    Withdrawal,
    WithdrawalStatus,
)
from chalicelib.service_layer import Page

AWAITING_SECOND_ADMIN = "AWAITING_SECOND_ADMIN"
"""The state of a credit or withdrawal one admin approved above the four-eyes threshold."""


def millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def balance(item: Balance) -> dict[str, object]:
    return {"asset": item.asset, "free": format_units(item.free, item.scale),
            "locked": format_units(item.locked, item.scale)}


def withdrawal(item: Withdrawal, scale: int) -> dict[str, object]:
    return {"id": item.id, "asset": item.asset, "amount": format_units(item.amount, scale),
            "address": item.address, "idempotencyKey": item.idempotency_key,
            "status": str(item.status), "requestedAt": millis(item.requested_at),
            "decidedAt": millis(item.decided_at)}


def admin_withdrawal(item: Withdrawal, scale: int) -> dict[str, object]:
    """A withdrawal as admins see it: whose, and who approved it first."""
    shape = {**withdrawal(item, scale), "userId": item.user_id,
             "firstApprovedBy": item.first_approved_by}
    if item.status is WithdrawalStatus.PENDING and item.first_approved_by is not None:
        shape["state"] = AWAITING_SECOND_ADMIN
    return shape


def pending_credit(item: PendingCredit, scale: int) -> dict[str, object]:
    return {"id": item.id, "userId": item.user_id, "asset": item.asset,
            "amount": format_units(item.amount, scale), "txid": item.external_txid,
            "requestedBy": item.requested_by, "requestedAt": millis(item.requested_at),
            "state": AWAITING_SECOND_ADMIN}


def asset(item: Asset) -> dict[str, object]:
    threshold = item.four_eyes_threshold
    return {"symbol": item.symbol, "scale": item.scale, "name": item.name,
            "fourEyesThreshold": None if threshold is None else format_units(threshold,
                                                                             item.scale)}


def deposit(item: Deposit, scale: int) -> dict[str, object]:
    return {"id": item.id, "asset": item.asset, "amount": format_units(item.amount, scale),
            "txid": item.external_txid, "createdAt": millis(item.created_at)}


def ledger_entry(item: LedgerEntry, scale: int) -> dict[str, object]:
    return {"id": item.id, "transactionId": item.transaction_id, "kind": item.kind,
            "reference": item.reference, "asset": item.asset, "bucket": str(item.bucket),
            "amount": format_units(item.amount, scale), "createdAt": millis(item.created_at)}


def market(item: Market) -> dict[str, object]:
    return {"symbol": item.symbol, "baseAsset": item.base_asset,
            "quoteAsset": item.quote_asset, "status": item.status,
            "makerFeePpm": item.filters.maker_fee_ppm, "takerFeePpm": item.filters.taker_fee_ppm}


def audit_entry(item: AuditEntry) -> dict[str, object]:
    return {"id": item.id, "actorUserId": item.actor_user_id, "action": item.action,
            "target": item.target, "details": item.details, "createdAt": millis(item.created_at)}


def page(items: list[dict[str, object]], source: Page[Any]) -> dict[str, object]:
    return {"items": items, "nextBeforeId": source.next_before_id}

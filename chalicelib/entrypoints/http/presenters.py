"""Wire shapes of wallet and admin objects: amounts as decimal strings, camelCase."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.money import format_units
from chalicelib.service_layer import Page
from chalicelib.service_layer.admin import AuditEntry, Market
from chalicelib.service_layer.wallet import Balance, Deposit, LedgerEntry, Withdrawal


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

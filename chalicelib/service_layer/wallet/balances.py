"""What the user holds: their balances and the ledger entries that made them."""

from __future__ import annotations

from chalicelib.adapters import wallet_repo
from chalicelib.domain.wallet import Balance, LedgerEntry
from chalicelib.service_layer import Conn, Page, check_limit, paginate
from chalicelib.service_layer.admin import asset_scale


def balances(conn: Conn, user_id: int, *, omit_zero: bool = False) -> list[Balance]:
    """The user's balance in every asset they ever held (``omit_zero``: in every asset
    they hold now), by asset symbol."""
    held = wallet_repo.user_balances(conn, user_id)
    return [b for b in held if b.free or b.locked] if omit_zero else held


def ledger_history(
    conn: Conn, user_id: int, *, asset: str | None = None, limit: int = 100,
    before_id: int | None = None,
) -> Page[LedgerEntry]:
    """The ledger entries of the user's accounts (optionally one asset's), newest first."""
    check_limit(limit)
    if asset is not None:
        asset_scale(conn, asset)
    entries = wallet_repo.user_ledger_entries(conn, user_id, asset, limit, before_id)
    return paginate(entries, limit, lambda entry: entry.id)

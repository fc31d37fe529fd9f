"""What admins manage: assets, market listings, and the audit log of who changed what.

Every amount is an integer of an asset's smallest unit (see ``chalicelib.domain.money``).
An asset's ``four_eyes_threshold`` is the largest deposit credit or withdrawal one admin
may execute alone (None: no limit); above it a second admin must approve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.orders import MarketFilters


@dataclass(frozen=True)
class Asset:
    symbol: str
    scale: int
    name: str
    four_eyes_threshold: int | None = None


@dataclass(frozen=True)
class Market:
    """A market as admins list it: its assets, trading status, filters and fees."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str
    filters: MarketFilters


@dataclass(frozen=True)
class AuditEntry:
    id: int
    actor_user_id: int | None
    """None: the exchange itself (the ledger auditor halting withdrawals)."""
    action: str
    target: str
    details: dict[str, Any]
    created_at: datetime

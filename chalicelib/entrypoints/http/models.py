"""Request bodies and queries of the web app's /v1 API (camelCase on the wire)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              str_strip_whitespace=True, frozen=True)


class Credentials(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class Login(Credentials):
    totp_code: str | None = Field(default=None, max_length=10)


class RefreshBody(Body):
    refresh_token: str = Field(min_length=10, max_length=200)


class PasswordChange(Body):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class PasswordConfirmation(Body):
    password: str = Field(min_length=1, max_length=128)


class TotpCode(Body):
    code: str = Field(min_length=6, max_length=10)


class StepUp(Body):
    totp_code: str = Field(min_length=6, max_length=10)


class NewApiKey(Body):
    label: str = Field(default="", max_length=64)
    permissions: list[str] = Field(min_length=1, max_length=3)
    ip_allowlist: list[str] = Field(default_factory=list, max_length=30)
    totp_code: str | None = Field(default=None, max_length=10)


class PageQuery(Body):
    limit: int = Field(default=100, ge=1, le=1000)
    before_id: int | None = Field(default=None, ge=1, le=2**63 - 1)  # BIGINT ids


class LedgerQuery(PageQuery):
    asset: str | None = Field(default=None, max_length=20)


class AssetQuery(Body):
    asset: str = Field(min_length=1, max_length=20)


class NewWithdrawal(Body):
    asset: str = Field(min_length=1, max_length=20)
    amount: str = Field(min_length=1, max_length=80)
    address: str = Field(min_length=1, max_length=128)
    totp_code: str | None = Field(default=None, max_length=10)


class NewAsset(Body):
    symbol: str = Field(min_length=1, max_length=20)
    scale: int = Field(ge=0, le=18)
    name: str = Field(default="", max_length=100)
    four_eyes_threshold: str | None = Field(default=None, max_length=80)
    """Decimal, in the asset: larger credits and withdrawals need a second admin."""


class AssetChanges(Body):
    four_eyes_threshold: str | None = Field(max_length=80)
    """Decimal, in the asset; null: one admin suffices for any amount."""


class MarketChanges(Body):
    """Decimal strings in the market's assets, as exchangeInfo shows them."""

    tick_size: str | None = Field(default=None, max_length=80)
    step_size: str | None = Field(default=None, max_length=80)
    min_qty: str | None = Field(default=None, max_length=80)
    max_qty: str | None = Field(default=None, max_length=80)
    min_notional: str | None = Field(default=None, max_length=80)
    maker_fee_ppm: int | None = Field(default=None, ge=0, le=100_000)
    taker_fee_ppm: int | None = Field(default=None, ge=0, le=100_000)


class NewMarket(MarketChanges):
    symbol: str = Field(min_length=2, max_length=40)
    base_asset: str = Field(min_length=1, max_length=20)
    quote_asset: str = Field(min_length=1, max_length=20)
    tick_size: str = Field(max_length=80)
    step_size: str = Field(max_length=80)
    min_qty: str = Field(max_length=80)
    max_qty: str = Field(max_length=80)
    min_notional: str = Field(default="0", max_length=80)
    maker_fee_ppm: int = Field(default=1000, ge=0, le=100_000)
    taker_fee_ppm: int = Field(default=1000, ge=0, le=100_000)


class DepositCredit(Body):
    user_id: int = Field(ge=1)
    asset: str = Field(min_length=1, max_length=20)
    amount: str = Field(min_length=1, max_length=80)
    txid: str = Field(min_length=1, max_length=128)

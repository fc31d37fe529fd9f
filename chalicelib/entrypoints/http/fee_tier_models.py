"""Request bodies of the admin's fee-tier routes (camelCase on the wire)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.entrypoints.http.models import Body


class FeeTierBody(Body):
    tier: int = Field(ge=1, le=100, description="The tier's number; higher is cheaper.")
    volume_asset: str = Field(min_length=1, max_length=20,
                              description="The asset the 30-day volume is counted in.")
    min_volume: str = Field(min_length=1, max_length=80,
                            description="The 30-day volume from which the tier applies.")
    maker_fee_ppm: int = Field(ge=0, le=100_000)
    taker_fee_ppm: int = Field(ge=0, le=100_000)


class FeeTiers(Body):
    tiers: list[FeeTierBody] = Field(max_length=100)


class UserFeeTier(Body):
    tier: int | None = Field(description="The tier to pin the user to; null un-pins.")

"""Fee rates: a market's, and the lower ones of fee tiers for accounts that trade more.

Rates are integers in parts per million (``orders.FEE_RATE_SCALE``). A fee is charged
on what a side receives and rounded up in the exchange's favour, as the engine does:
the buyer pays in base out of the quantity, the seller in quote out of the quote amount.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.orders import FEE_RATE_SCALE


@dataclass(frozen=True, slots=True)
class Rates:
    maker_ppm: int
    taker_ppm: int

    def lowest(self, other: Rates | None) -> Rates:
        """Each rate the lower of the two: a tier never raises a market's fee."""
        if other is None:
            return self
        return Rates(min(self.maker_ppm, other.maker_ppm), min(self.taker_ppm, other.taker_ppm))


@dataclass(frozen=True, slots=True)
class FeeTier:
    """Rates for accounts whose 30-day volume in ``volume_asset`` is at least
    ``min_volume`` (smallest units)."""

    tier: int
    volume_asset: str
    min_volume: int
    maker_fee_ppm: int
    taker_fee_ppm: int

    @property
    def rates(self) -> Rates:
        return Rates(self.maker_fee_ppm, self.taker_fee_ppm)


def tier_for(tiers: list[FeeTier], volumes: dict[str, int]) -> FeeTier | None:
    """The highest tier whose volume the account reaches (``volumes`` by asset)."""
    reached = [t for t in tiers if volumes.get(t.volume_asset, 0) >= t.min_volume]
    return max(reached, key=lambda t: t.tier, default=None)


def fee(received: int, rate_ppm: int) -> int:
    """The fee on ``received`` units, rounded up."""
    return -(-received * rate_ppm // FEE_RATE_SCALE)


def rate_text(ppm: int) -> str:
    """A rate as Binance writes it: a decimal fraction with 8 places ("0.00100000")."""
    units = ppm * 100  # 1 ppm = 100 units of 1e-8
    return f"{units // 10**8}.{units % 10**8:08d}"

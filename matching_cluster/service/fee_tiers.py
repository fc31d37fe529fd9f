"""Every account's fee-tier rates, kept between batches.

Settlement charges each side of a trade its tier's rate, and the makers of a batch are
known only once it has matched: reading their tiers then cost a round trip per batch.
The matcher keeps all accounts' rates instead and reads them again only when the tiers'
version (migration 0017, moved by every change to the tiers) differs from the one they
were read at; the version itself comes with the batch's first statements.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.fees import Rates

from . import repository as repo


class FeeTierRates:
    def __init__(self) -> None:
        self._version: int | None = None
        self._rates: dict[int, Rates] = {}

    def at(self, conn: repo.Conn, version: int) -> Mapping[int, Rates]:
        """The rates by user id as of ``version`` of the tiers, or later."""
        if version != self._version:
            self._rates = repo.all_fee_tier_rates(conn)
            self._version = version
        return self._rates

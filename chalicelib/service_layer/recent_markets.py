"""Markets as order intake last read them, kept a few seconds per API container.

A placement checks the order against the market before it reserves anything; reading
the market for each one was a round trip of its own. A kept market is only a guess:
the placement's statement refuses to place against a market whose status or filters
have changed since (``orders.StaleMarketError``), and a refusal by a kept market is
checked again against a fresh read, so a halt or a new filter applies from the next
placement on, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from chalicelib.domain.orders import Market

KEEP_S = 10.0


class RecentMarkets:
    def __init__(self, monotonic: Callable[[], float], keep_s: float = KEEP_S) -> None:
        self._monotonic = monotonic
        self._keep_s = keep_s
        self._lock = threading.Lock()
        self._markets: dict[str, tuple[float, Market]] = {}

    def get(self, symbol: str) -> Market | None:
        """The market if read within the last ``keep_s``."""
        with self._lock:
            kept = self._markets.get(symbol)
        if kept is None or self._monotonic() - kept[0] > self._keep_s:
            return None
        return kept[1]

    def keep(self, market: Market) -> None:
        with self._lock:
            self._markets[market.spec.symbol] = (self._monotonic(), market)

    def forget(self, symbol: str) -> None:
        with self._lock:
            self._markets.pop(symbol, None)

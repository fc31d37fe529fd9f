"""What order intake last read from PostgreSQL, kept a few seconds per API container.

A placement checks the order against its market, and its signature against its API key,
before it reserves anything; reading either for each placement was a round trip of its
own. What is kept is only a guess, which the placement's one statement checks:
- a market: the statement refuses to place against a market whose status or filters
  have changed since (``orders.StaleMarketError``), and a refusal by a kept market is
  checked again against a fresh read, so a halt or a new filter applies from the next
  placement on;
- an API key: the statement refuses (-2015) when the key has been deleted since, so a
  deleted key places nothing more (``place_signed_order_command``, migration 0016).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from chalicelib.domain.orders import Market
from chalicelib.service_layer.api_keys import ReadKey

MARKET_KEEP_S = 10.0
KEY_KEEP_S = 30.0
# Past this many, the container forgets them all rather than track which is oldest:
# more live keys than this on one container is a flood of new keys, not traders.
MAX_KEPT = 10_000

Value = TypeVar("Value")


class RecentlyRead(Generic[Value]):
    """Values by name, each for ``keep_s`` seconds after it was read."""

    def __init__(self, monotonic: Callable[[], float], keep_s: float) -> None:
        self._monotonic = monotonic
        self._keep_s = keep_s
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, Value]] = {}

    def get(self, name: str) -> Value | None:
        """The value if read within the last ``keep_s``."""
        with self._lock:
            kept = self._kept.get(name)
        if kept is None or self._monotonic() - kept[0] > self._keep_s:
            return None
        return kept[1]

    def keep(self, name: str, value: Value) -> None:
        with self._lock:
            if len(self._kept) >= MAX_KEPT:
                self._kept.clear()
            self._kept[name] = (self._monotonic(), value)

    def forget(self, name: str) -> None:
        with self._lock:
            self._kept.pop(name, None)


def recent_markets(monotonic: Callable[[], float]) -> RecentlyRead[Market]:
    """Markets by symbol."""
    return RecentlyRead(monotonic, MARKET_KEEP_S)


def recent_keys(monotonic: Callable[[], float]) -> RecentlyRead[ReadKey]:
    """API keys (unsealed) by their public key."""
    return RecentlyRead(monotonic, KEY_KEEP_S)

"""The matcher's clock: PostgreSQL's time, carried forward by the monotonic clock.

Trades are stamped, and time marks published, at this clock's time, and the candles
depend on it never going back: a mark promises that no later trade is older. A host's
wall clock can be stepped (NTP after a drift, an operator, a VM resumed from a pause);
its monotonic clock cannot, and the database's clock is the one every matcher shares,
on whichever host it runs. So the time is read from the database once, when the matcher
starts, and moved on by the monotonic clock from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class DatabaseClock:
    def __init__(self, read_database_ms: Callable[[], int],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._anchor_ms = read_database_ms()
        self._anchor_at = monotonic()

    def now_ms(self) -> int:
        return self._anchor_ms + int((self._monotonic() - self._anchor_at) * 1000)

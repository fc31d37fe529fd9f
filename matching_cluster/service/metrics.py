"""The matcher's metrics: the catalogue's ``matcher`` role (``chalicelib.domain.
metric_catalogue``) in a registry of its own, served on the health server's /metrics.

The matcher builds its recorder itself rather than through ``metrics_for``: its pod
has one port, the health server's, which the probes and Prometheus share.
"""

from __future__ import annotations

from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.domain.metric_catalogue import BOOK_DEPTH_LEVELS, OPEN_ORDERS
from matching_cluster.engine import OrderBook

BID, ASK = "bid", "ask"
"""The ``side`` label of ``exchange_book_depth_levels``."""


class Metrics(PrometheusMetrics):
    def __init__(self) -> None:
        super().__init__("matcher")

    def record_book(self, market: str, book: OrderBook) -> None:
        """A market's depth and open orders, from counts the book keeps (no walk)."""
        bids, asks = book.level_counts()
        self.set(BOOK_DEPTH_LEVELS, bids, market=market, side=BID)
        self.set(BOOK_DEPTH_LEVELS, asks, market=market, side=ASK)
        self.set(OPEN_ORDERS, len(book), market=market)

    def forget_book(self, market: str) -> None:
        """A book this instance no longer holds: its owner reports it."""
        self.remove(BOOK_DEPTH_LEVELS, market=market, side=BID)
        self.remove(BOOK_DEPTH_LEVELS, market=market, side=ASK)
        self.remove(OPEN_ORDERS, market=market)

"""The in-memory books this instance owns, rebuilt lazily from PostgreSQL.

A market's book is loaded the first time one of its commands arrives after the
partition was assigned (or after a failed batch dropped it), inside that batch's
transaction, so it reflects exactly the committed state at the stored offset.

With the book come the states (fills, lock, status) of its open orders, which only the
matcher owning the market changes once the API has inserted an order: settlement
works from them instead of reading the rows back in every batch. They change with
the book, before the batch commits, so a failed batch drops both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from matching_cluster.engine import OrderBook

from .metrics import Metrics
from .repository import Conn, load_book, load_market
from .settlement import MarketInfo, OrderState


@dataclass(slots=True)
class MarketBook:
    info: MarketInfo
    book: OrderBook
    partition: int
    orders: dict[int, OrderState] = field(default_factory=dict)
    """Open accepted orders' states, by order id."""


class Books:
    def __init__(self, metrics: Metrics) -> None:
        self._books: dict[str, MarketBook] = {}
        self._metrics = metrics

    def get(self, conn: Conn, market: str, partition: int) -> MarketBook | None:
        """The market's book, rebuilt if needed; None for a market that does not exist."""
        entry = self._books.get(market)
        if entry is None:
            entry = self._rebuild(conn, market, partition)
            if entry is not None:
                self._books[market] = entry
        return entry

    def _rebuild(self, conn: Conn, market: str, partition: int) -> MarketBook | None:
        started = time.perf_counter()
        info = load_market(conn, market)
        if info is None:
            return None
        snapshot, orders = load_book(conn, info.spec)
        book = OrderBook.restore(snapshot)
        self._metrics.rebuild_seconds.observe(time.perf_counter() - started)
        return MarketBook(info, book, partition, orders)

    def drop_partition(self, partition: int) -> None:
        """Forget the partition's books: the next command rebuilds them from PostgreSQL."""
        for market in [m for m, e in self._books.items() if e.partition == partition]:
            del self._books[market]

"""The in-memory books this instance owns, rebuilt lazily from PostgreSQL.

A market's book is loaded the first time one of its commands arrives after the
partition was assigned (or after a failed batch dropped it), inside that batch's
transaction, so it reflects exactly the committed state at the stored offset.

Beside the book, the states (fills, lock, status) of its open orders, which only the
matcher owning the market changes once the API has inserted an order: settlement
works from them instead of reading the rows back in every batch. A rebuilt book starts
without them (settlement reads an order's row the first time it needs it, in the
batch's transaction, so it sees the committed state the book was rebuilt from), which
keeps a takeover from loading the states of orders it may never touch. They change
with the book, before the batch commits, so a failed batch drops both.

And, for every market, the accounts' fee-tier rates (``fee_tiers``), read from
committed rows, so a failed batch leaves them valid.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import Literal, cast

from chalicelib.domain.metric_catalogue import MATCHER_REBUILD_SECONDS
from matching_cluster.engine import OrderBook

from .fee_tiers import FeeTierRates
from .metrics import Metrics
from .repository import Conn, load_book, load_market
from .settlement import MarketInfo, OrderState

log = logging.getLogger(__name__)

OrderBookKind = Literal["compiled", "python"]
"""Which book the matcher runs (``MATCHER_ORDER_BOOK``): the compiled one
(matching_cluster/engine_rs, event for event equal to the Python one and about three
times faster), or the Python one, the reference it is proven against."""

DEFAULT_ORDER_BOOK: OrderBookKind = "compiled"
COMPILED_BOOK_MODULE = "matching_cluster_engine_rs"


def order_book_class(kind: OrderBookKind) -> type[OrderBook]:
    """The book class ``kind`` names. A compiled book that is not built fails here, at
    start: the matcher never falls back to the other book by itself."""
    if kind == "python":
        return OrderBook
    try:
        module = importlib.import_module(COMPILED_BOOK_MODULE)
    except ImportError as error:
        raise RuntimeError(
            f"MATCHER_ORDER_BOOK=compiled, but the compiled order book ({COMPILED_BOOK_MODULE}) "
            "is not installed: run scripts/install.sh (it builds matching_cluster/engine_rs), "
            "or set MATCHER_ORDER_BOOK=python") from error
    # Not a subclass, but the same interface (its stub, matching_cluster_engine_rs.pyi).
    return cast(type[OrderBook], module.OrderBook)


@dataclass(slots=True)
class MarketBook:
    info: MarketInfo
    book: OrderBook
    partition: int
    orders: dict[int, OrderState] = field(default_factory=dict)
    """States of open accepted orders settlement has read or written, by order id."""


class Books:
    def __init__(self, metrics: Metrics, kind: OrderBookKind = DEFAULT_ORDER_BOOK) -> None:
        self._books: dict[str, MarketBook] = {}
        self.fee_tiers = FeeTierRates()
        """What settlement charges accounts that have a fee tier (all markets)."""
        self._metrics = metrics
        self._book_class = order_book_class(kind)

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
        snapshot = load_book(conn, info.spec)
        book = self._book_class.restore(snapshot)
        seconds = time.perf_counter() - started
        self._metrics.observe(MATCHER_REBUILD_SECONDS, seconds)
        self._metrics.record_book(market, book)
        log.info("book rebuilt", extra={
            "market": market, "orders": len(snapshot.orders) + len(snapshot.stops),
            "seconds": round(seconds, 4)})
        return MarketBook(info, book, partition)

    def drop_partition(self, partition: int) -> None:
        """Forget the partition's books: the next command rebuilds them from PostgreSQL."""
        for market in [m for m, e in self._books.items() if e.partition == partition]:
            del self._books[market]
            self._metrics.forget_book(market)

"""Book snapshots: the resting orders in priority order, the stop orders waiting for
their stop price, the last trade price and the market's counters.

``orders`` lists every open order in arrival order; within one price level that is
queue priority, so ``OrderBook.restore`` rebuilds identical queues and the restored book
produces the same events as the original for any further commands. ``stops`` are in
arrival order too: when one trade price reaches several stops, the oldest works first.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from chalicelib.domain.orders import (
    MarketSpec,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
    stop_reached,
)

SNAPSHOT_VERSION = 4


class RestingOrder(NamedTuple):
    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    stp: SelfTradePrevention
    price: int
    qty: int
    remaining: int
    filled_quote: int

    @property
    def filled_qty(self) -> int:
        return self.qty - self.remaining


class StopOrder(NamedTuple):
    """A STOP_LOSS(_LIMIT) / TAKE_PROFIT(_LIMIT) order waiting for its stop price.

    Sized as the order it stands for (``price`` 0 and ``qty`` or ``quote_qty`` for a
    MARKET one); nothing about it changes while it waits.
    """

    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    stp: SelfTradePrevention
    tif: TimeInForce
    price: int
    qty: int
    quote_qty: int
    spend_cap: int
    stop_price: int

    def reached(self, low: int, high: int) -> bool:
        """Whether trades at prices from ``low`` to ``high`` set the order working."""
        return stop_reached(self.order_type, self.side, self.stop_price, low, high)


class PendingOrder(NamedTuple):
    """An OTO list's pending order, waiting for its ``working_id`` order to fill (a
    pending OCO pair: above first)."""

    working_id: int
    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    stp: SelfTradePrevention
    tif: TimeInForce
    price: int
    qty: int
    quote_qty: int
    spend_cap: int
    stop_price: int


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    spec: MarketSpec
    next_seq: int
    next_trade_id: int
    orders: tuple[RestingOrder, ...]
    stops: tuple[StopOrder, ...] = ()
    last_price: int = 0
    """The price of the market's latest trade (0 before the first): stops trigger on it."""
    oco_pairs: tuple[tuple[int, int], ...] = ()
    """The two legs (lower id first) of every OCO list whose legs are both open."""
    pending: tuple[PendingOrder, ...] = ()
    """The pending orders of OTO lists whose working order is still open, by list in
    the order the lists were placed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (enums as their Binance names, ints as ints)."""
        return {
            "version": SNAPSHOT_VERSION,
            "spec": asdict(self.spec),
            "next_seq": self.next_seq,
            "next_trade_id": self.next_trade_id,
            "orders": [list(o) for o in self.orders],
            "stops": [list(o) for o in self.stops],
            "last_price": self.last_price,
            "oco_pairs": [list(pair) for pair in self.oco_pairs],
            "pending": [list(p) for p in self.pending],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BookSnapshot:
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
        orders = tuple(
            RestingOrder(oid, uid, Side(side), OrderType(otype), SelfTradePrevention(stp),
                         price, qty, remaining, filled_quote)
            for oid, uid, side, otype, stp, price, qty, remaining, filled_quote in data["orders"]
        )
        stops = tuple(
            StopOrder(oid, uid, Side(side), OrderType(otype), SelfTradePrevention(stp),
                      TimeInForce(tif), price, qty, quote_qty, cap, stop_price)
            for oid, uid, side, otype, stp, tif, price, qty, quote_qty, cap, stop_price
            in data["stops"]
        )
        pending = tuple(
            PendingOrder(wid, oid, uid, Side(side), OrderType(otype), SelfTradePrevention(stp),
                         TimeInForce(tif), price, qty, quote_qty, cap, stop_price)
            for wid, oid, uid, side, otype, stp, tif, price, qty, quote_qty, cap, stop_price
            in data["pending"]
        )
        return cls(MarketSpec(**data["spec"]), data["next_seq"], data["next_trade_id"], orders,
                   stops, data["last_price"], tuple((a, b) for a, b in data["oco_pairs"]),
                   pending)

    def canonical_bytes(self) -> bytes:
        """Deterministic encoding, the input of ``OrderBook.state_hash``."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

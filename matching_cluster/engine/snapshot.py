"""Book snapshots: the resting orders in priority order plus the market's counters.

``orders`` lists every open order in arrival order; within one price level that is
queue priority, so ``OrderBook.restore`` rebuilds identical queues and the restored book
produces the same events as the original for any further commands.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from chalicelib.domain.orders import MarketSpec, OrderType, SelfTradePrevention, Side

SNAPSHOT_VERSION = 1


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


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    spec: MarketSpec
    next_seq: int
    next_trade_id: int
    orders: tuple[RestingOrder, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (enums as their Binance names, ints as ints)."""
        return {
            "version": SNAPSHOT_VERSION,
            "spec": asdict(self.spec),
            "next_seq": self.next_seq,
            "next_trade_id": self.next_trade_id,
            "orders": [list(o) for o in self.orders],
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
        return cls(MarketSpec(**data["spec"]), data["next_seq"], data["next_trade_id"], orders)

    def canonical_bytes(self) -> bytes:
        """Deterministic encoding, the input of ``OrderBook.state_hash``."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

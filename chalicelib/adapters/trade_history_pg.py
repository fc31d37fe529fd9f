"""A market's trades by id and time, page by page, for ``historicalTrades`` and
``aggTrades``: read inside one ``market_data_pg.snapshot``, successive pages agree.

Times are compared as Binance's ms (``floor`` of the executed time), as timestamps so
the ``(market, executed_at)`` index serves them.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.market_data_pg import Conn, trade_event
from chalicelib.domain.stream_events import TradeEvent

# Beyond every id and time Binance accepts: "no bound" is a bound like any other.
UNBOUNDED = 2**63 - 1
# Times beyond are clamped to this (the year 33658): PostgreSQL's timestamps end sooner
# than BIGINT's milliseconds.
LATEST_MS = 10**15

_PAGE = (
    "SELECT id, sequence, floor(extract(epoch FROM executed_at) * 1000)::bigint, price,"
    " quantity, quote_quantity, buyer_is_maker, maker_order_id, taker_order_id"
    " FROM trades WHERE market = %(market)s"
    " AND id BETWEEN %(low_id)s AND %(high_id)s"
    " AND executed_at >= 'epoch'::timestamptz + %(start)s * interval '1 millisecond'"
    " AND executed_at < 'epoch'::timestamptz + %(end)s * interval '1 millisecond'")
_OLDEST_FIRST = _PAGE + " ORDER BY id LIMIT %(count)s"
_NEWEST_FIRST = _PAGE + " ORDER BY id DESC LIMIT %(count)s"


@dataclass(frozen=True, slots=True)
class TradeRange:
    """Trades with an id in [low_id, high_id] executed in [start_ms, end_ms]."""

    low_id: int = 0
    high_id: int = UNBOUNDED
    start_ms: int = 0
    end_ms: int = UNBOUNDED


def read_trades(conn: Conn, market: str, bounds: TradeRange, count: int, *,
                newest: bool) -> list[TradeEvent]:
    """The oldest ``count`` trades in ``bounds`` by id, or the newest (newest first)."""
    rows = conn.execute(_NEWEST_FIRST if newest else _OLDEST_FIRST, {
        "market": market, "low_id": bounds.low_id, "high_id": bounds.high_id,
        "start": min(bounds.start_ms, LATEST_MS), "end": min(bounds.end_ms, LATEST_MS) + 1,
        "count": count}).fetchall()
    return [trade_event(market, r) for r in rows]

"""The matcher's SQL: fencing, rebuilding books, and writing one batch's settlement.

Every function runs on a connection the caller owns; the batch functions expect to be
inside the batch's transaction (``with conn.transaction()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.types.numeric import IntLoader

from chalicelib.adapters.ledger import post_transactions
from chalicelib.domain.fees import Rates
from chalicelib.domain.ledger import LedgerTransaction
from chalicelib.domain.order_lists import leg_level
from chalicelib.domain.orders import (
    MarketSpec,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from matching_cluster.engine import (
    BookSnapshot,
    PendingOrder,
    PreventedMatch,
    RestingOrder,
    StopOrder,
    Trade,
)

from .settlement import MarketInfo, OrderState, Settlement

Conn = psycopg.Connection[Any]
Row = TypeVar("Row")
Cursor = psycopg.Cursor[Any]


class FencedError(Exception):
    """Another instance took partitions over since this one fenced them."""

    def __init__(self, topic: str, partitions: Sequence[int]) -> None:
        super().__init__(f"{topic}{list(partitions)} no longer owned by this instance")
        self.partitions = list(partitions)


def fence_partition(conn: Conn, topic: str, partition: int, owner: str) -> tuple[int, int]:
    """Become the partition's owner: bump its epoch; return (epoch, next offset).

    An older owner's next offset update (``advance_offset``) no longer matches and fails.
    If it is committing right now, this waits for its row lock and reads its result.
    """
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO matcher_offsets (topic, partition, owner_epoch, owner)"
            " VALUES (%s, %s, 1, %s)"
            " ON CONFLICT (topic, partition) DO UPDATE"
            " SET owner_epoch = matcher_offsets.owner_epoch + 1, owner = EXCLUDED.owner,"
            "  updated_at = now()"
            " RETURNING owner_epoch, next_offset",
            (topic, partition, owner)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def advance_offsets_cursor(
    conn: Conn, topic: str, offsets: Sequence[tuple[int, int, int]]
) -> Cursor:
    """Record each (partition, epoch, next offset) if this instance still owns it.

    Runs first in the batch transaction: the row locks it takes (in partition order)
    serialise this batch with any other instance fencing one of the partitions.

    Returns without waiting for the result: in pipeline mode, statements sent before
    ``check_offsets_advanced`` share its round trip.
    """
    rows = sorted(offsets)
    return conn.execute(
        "UPDATE matcher_offsets m SET next_offset = d.next_offset, updated_at = now()"
        " FROM (SELECT * FROM unnest(%b::int[], %b::bigint[], %b::bigint[])"
        "  AS u(partition, epoch, next_offset) ORDER BY partition) AS d"
        " WHERE m.topic = %s AND m.partition = d.partition AND m.owner_epoch = d.epoch"
        " RETURNING m.partition",
        ([p for p, _, _ in rows], [e for _, e, _ in rows], [o for _, _, o in rows], topic))


def check_offsets_advanced(
    cursor: Cursor, topic: str, offsets: Sequence[tuple[int, int, int]]
) -> None:
    advanced = {int(row[0]) for row in cursor.fetchall()}
    fenced = sorted({p for p, _, _ in offsets} - advanced)
    if fenced:
        raise FencedError(topic, fenced)


def load_market(conn: Conn, symbol: str) -> MarketInfo | None:
    row = conn.execute(
        "SELECT m.base_asset, m.quote_asset, m.status, b.scale, m.tick_size, m.lot_size,"
        " m.min_qty, m.max_qty, m.min_notional, m.maker_fee_ppm, m.taker_fee_ppm"
        " FROM markets m JOIN assets b ON b.symbol = m.base_asset WHERE m.symbol = %s",
        (symbol,)).fetchone()
    if row is None:
        return None
    base, quote, status, scale, tick, lot, min_qty, max_qty, min_notional, maker, taker = row
    spec = MarketSpec(symbol=symbol, base_unit=10 ** int(scale), tick_size=int(tick),
                      lot_size=int(lot), min_qty=int(min_qty), max_qty=int(max_qty),
                      min_notional=int(min_notional), maker_fee_ppm=int(maker),
                      taker_fee_ppm=int(taker))
    return MarketInfo(spec, base, quote, status)


def market_statuses_cursor(conn: Conn, symbols: Iterable[str]) -> Cursor:
    return conn.execute("SELECT symbol, status FROM markets WHERE symbol = ANY(%s)",
                        (list(symbols),))


def fetch_statuses(cursor: Cursor) -> dict[str, str]:
    return {symbol: status for symbol, status in cursor.fetchall()}


def load_book(conn: Conn, spec: MarketSpec) -> BookSnapshot:
    """The market's book as of the last committed batch: open orders in the order they
    started working (queue order in each level), stop orders still waiting in the order
    the engine accepted them, the last trade price and the OCO lists still linked.

    A takeover waits for this, and a book may hold 100,000 orders: the rows come as the
    engine's tuples, numbers read as ``int`` straight from PostgreSQL's text (no
    ``Decimal`` on the way), and the engine converts the enums' names itself."""
    seq_row = conn.execute(
        "SELECT last_sequence, last_trade_id FROM market_sequences WHERE market = %s",
        (spec.symbol,)).fetchone()
    last_seq, last_trade = (int(seq_row[0]), int(seq_row[1])) if seq_row else (0, 0)
    price_row = conn.execute(
        "SELECT price FROM trades WHERE market = %s ORDER BY id DESC LIMIT 1",
        (spec.symbol,)).fetchone()
    # Queue order: the order they started working in (stops: the engine accepted them).
    where = (" FROM orders WHERE market = %s AND status IN ('NEW', 'PARTIALLY_FILLED')"
             " AND accepted_seq IS NOT NULL")
    order_by = " ORDER BY coalesce(working_seq, accepted_seq)"
    resting = _integer_cursor(conn, RestingOrder._make).execute(
        "SELECT id, user_id, side, type, self_trade_prevention, coalesce(price, 0),"
        " coalesce(quantity, 0), coalesce(quantity, 0) - executed_qty, cumulative_quote_qty"
        + where + " AND (stop_price IS NULL OR working_seq IS NOT NULL)" + order_by,
        (spec.symbol,)).fetchall()
    stops = _integer_cursor(conn, StopOrder._make).execute(
        "SELECT id, user_id, side, type, self_trade_prevention,"
        " coalesce(time_in_force, 'GTC'), coalesce(price, 0), coalesce(quantity, 0),"
        " coalesce(quote_order_qty, 0), spend_cap, stop_price"
        + where + " AND stop_price IS NOT NULL AND working_seq IS NULL" + order_by,
        (spec.symbol,)).fetchall()
    # An OCO whose legs are both open (an expired or cancelled leg ends the list).
    oco_pairs = conn.execute(
        "SELECT o.id, o.oco_sibling_id FROM orders o JOIN orders s ON s.id = o.oco_sibling_id"
        " AND s.status IN ('NEW', 'PARTIALLY_FILLED') AND s.accepted_seq IS NOT NULL"
        " WHERE o.market = %s AND o.status IN ('NEW', 'PARTIALLY_FILLED')"
        " AND o.accepted_seq IS NOT NULL AND o.id < o.oco_sibling_id ORDER BY o.id",
        (spec.symbol,)).fetchall()
    last_price = int(price_row[0]) if price_row else 0
    return BookSnapshot(spec, last_seq + 1, last_trade + 1, tuple(resting), tuple(stops),
                        last_price, tuple((int(a), int(b)) for a, b in oco_pairs),
                        _pending_orders(conn, spec.symbol))


def _integer_cursor(conn: Conn, make: Callable[[Sequence[Any]], Row]) -> psycopg.Cursor[Row]:
    """A cursor whose rows are ``make(values)``, NUMERIC values as ``int``: psycopg's
    integer loader (in C) parses NUMERIC(38,0)'s text, every amount being a whole number
    of its asset's smallest unit."""
    cursor = conn.cursor(row_factory=lambda _cursor: make)
    cursor.adapters.register_loader("numeric", IntLoader)
    return cursor


def _pending_orders(conn: Conn, market: str) -> tuple[PendingOrder, ...]:
    """The pending orders of the OTO lists whose working order is open, lists in the
    order the engine accepted their working orders, a pending pair above first."""
    rows = conn.execute(
        "SELECT w.id, p.id, p.user_id, p.side, p.type, p.self_trade_prevention,"
        " coalesce(p.time_in_force, 'GTC'), coalesce(p.price, 0), coalesce(p.quantity, 0),"
        " coalesce(p.quote_order_qty, 0), p.spend_cap, coalesce(p.stop_price, 0)"
        " FROM orders p JOIN orders w ON w.order_list_id = p.order_list_id"
        "  AND w.status IN ('NEW', 'PARTIALLY_FILLED') AND w.accepted_seq IS NOT NULL"
        " WHERE p.market = %s AND p.status = 'PENDING_NEW' ORDER BY w.accepted_seq, p.id",
        (market,)).fetchall()
    lists: dict[int, list[PendingOrder]] = {}
    for w, oid, uid, side, otype, stp, tif, price, qty, quote_qty, cap, stop in rows:
        lists.setdefault(int(w), []).append(PendingOrder(
            int(w), int(oid), int(uid), Side(side), OrderType(otype), SelfTradePrevention(stp),
            TimeInForce(tif), int(price), int(qty), int(quote_qty), int(cap), int(stop)))
    return tuple(p for pending in lists.values() for p in sorted(
        pending, key=lambda p: -leg_level(p.order_type, p.price, p.stop_price)))


def applied_command_ids_cursor(conn: Conn, command_ids: Sequence[int]) -> Cursor:
    return conn.execute(
        "SELECT id FROM order_commands WHERE id = ANY(%s::bigint[]) AND applied_at IS NOT NULL",
        (_whole_numbers(command_ids),))


def fetch_ids(cursor: Cursor) -> set[int]:
    return {int(row[0]) for row in cursor.fetchall()}


_ORDER_STATE_COLUMNS = sql.SQL(
    "id, user_id, side, type, coalesce(price, 0), coalesce(quantity, 0), executed_qty,"
    " cumulative_quote_qty, locked_amount, status, accepted_seq, done_reason, working_seq,"
    " coalesce(oco_sibling_id, 0)")


def load_orders(conn: Conn, order_ids: Iterable[int]) -> dict[int, OrderState]:
    rows = conn.execute(
        sql.SQL("SELECT {} FROM orders WHERE id = ANY(%s) ORDER BY id").format(
            _ORDER_STATE_COLUMNS),
        (sorted(order_ids),)).fetchall()
    return {int(r[0]): _order_state(r) for r in rows}


def _order_state(r: Sequence[Any]) -> OrderState:
    return OrderState(
        order_id=int(r[0]), user_id=int(r[1]), side=Side(r[2]), order_type=OrderType(r[3]),
        price=int(r[4]), quantity=int(r[5]), executed_qty=int(r[6]),
        cumulative_quote_qty=int(r[7]), locked_amount=int(r[8]), status=OrderStatus(r[9]),
        accepted_seq=None if r[10] is None else int(r[10]), done_reason=r[11],
        working_seq=None if r[12] is None else int(r[12]), oco_sibling=int(r[13]))


def post_ledger(conn: Conn, ledger: Sequence[LedgerTransaction]) -> None:
    """A batch's ledger transactions (the ledger's few statements, one round trip)."""
    if ledger and None in post_transactions(conn, ledger):
        # Commands are applied once, so this cannot happen; if it did, the batch's
        # trades would be written without their money. Roll everything back instead.
        raise RuntimeError("a settlement ledger transaction was posted before")


def write_settlements(
    conn: Conn, settlements: Sequence[tuple[MarketInfo, Settlement]], time_ms: int,
) -> None:
    """Trades and order states of several markets' events, one statement of each kind
    whatever the number of markets, sent without waiting for their results."""
    trades = [(market, t) for market, s in settlements for t in s.trades]
    if trades:
        _insert_trades(conn, trades, datetime.fromtimestamp(time_ms / 1000, UTC))
    prevented = [(market, p) for market, s in settlements for p in s.prevented_matches]
    if prevented:
        _insert_prevented_matches(conn, prevented, datetime.fromtimestamp(time_ms / 1000, UTC))
    # An order belongs to one market; should two markets name the same order anyway,
    # either entry is a state settlement computed, and the later one wins.
    changed = {oid: o for _, s in settlements for oid, o in s.changed_orders.items()}
    if changed:
        _update_orders(conn, changed.values(), datetime.fromtimestamp(time_ms / 1000, UTC))


def _insert_trades(
    conn: Conn, trades: Sequence[tuple[MarketInfo, Trade]], executed_at: datetime
) -> None:
    conn.execute(
        "INSERT INTO trades (market, id, sequence, price, quantity, quote_quantity,"
        " maker_order_id, taker_order_id, maker_user_id, taker_user_id, buyer_is_maker,"
        " maker_fee, maker_fee_asset, taker_fee, taker_fee_asset, executed_at)"
        " SELECT t.*, %b::timestamptz FROM unnest(%b::text[], %s::bigint[], %s::bigint[],"
        " %s::numeric[], %s::numeric[], %s::numeric[], %s::bigint[], %s::bigint[],"
        " %s::bigint[], %s::bigint[],"
        " %b::boolean[], %s::numeric[], %b::text[], %s::numeric[], %b::text[]) AS t",
        (executed_at, [m.symbol for m, _ in trades], _whole_numbers(t.trade_id for _, t in trades),
         _whole_numbers(t.seq for _, t in trades),
         _whole_numbers(t.price for _, t in trades), _whole_numbers(t.qty for _, t in trades),
         _whole_numbers(t.quote_qty for _, t in trades),
         _whole_numbers(t.maker_order_id for _, t in trades),
         _whole_numbers(t.taker_order_id for _, t in trades),
         _whole_numbers(t.maker_user_id for _, t in trades),
         _whole_numbers(t.taker_user_id for _, t in trades),
         [t.buyer_is_maker for _, t in trades], _whole_numbers(t.maker_fee for _, t in trades),
         # The buyer pays its fee in base, the seller in quote.
         [m.base_asset if t.buyer_is_maker else m.quote_asset for m, t in trades],
         _whole_numbers(t.taker_fee for _, t in trades),
         [m.quote_asset if t.buyer_is_maker else m.base_asset for m, t in trades]))


def _whole_numbers(values: Iterable[int | None]) -> str:
    """An array literal of integers (None: NULL), for a ``%s::bigint[]`` or ``::numeric[]``
    parameter. Settlement sends thousands of amounts per batch: psycopg dumps an array's
    elements one Python call each, which was most of the matcher's own CPU in a batch's
    statements; joining their decimal text is about twice as cheap, and PostgreSQL
    parses it nearly as fast as the binary form."""
    return "{" + ",".join(["NULL" if v is None else str(v) for v in values]) + "}"


def _insert_prevented_matches(
    conn: Conn, prevented: Sequence[tuple[MarketInfo, PreventedMatch]], prevented_at: datetime
) -> None:
    """One row per event; its id (the preventedMatchId) is given in event order."""
    conn.execute(
        "INSERT INTO prevented_matches (market, sequence, taker_order_id, maker_order_id,"
        " user_id, mode, price, maker_prevented_quantity, prevented_at)"
        " SELECT p.market, p.sequence, p.taker, p.maker, p.user_id, p.mode, p.price, p.qty,"
        " %b::timestamptz FROM unnest(%b::text[], %b::bigint[], %b::bigint[],"
        " %b::bigint[], %b::bigint[], %b::text[], %b::numeric[], %b::numeric[])"
        " WITH ORDINALITY AS p(market, sequence, taker, maker, user_id, mode, price, qty, n)"
        " ORDER BY p.n",
        (prevented_at, [m.symbol for m, _ in prevented], [p.seq for _, p in prevented],
         [p.taker_order_id for _, p in prevented], [p.maker_order_id for _, p in prevented],
         [p.user_id for _, p in prevented], [p.mode.value for _, p in prevented],
         [p.price for _, p in prevented], [p.maker_prevented_qty for _, p in prevented]))


def _update_orders(conn: Conn, orders: Iterable[OrderState], settled_at: datetime) -> None:
    """Write the orders' new states; a stop order that started working in this batch
    records ``settled_at`` as its working time."""
    rows = sorted(orders, key=lambda o: o.order_id)
    ids = _whole_numbers(o.order_id for o in rows)
    conn.execute(
        "UPDATE orders o SET quantity = CASE WHEN d.quantity = 0 THEN o.quantity"
        "  ELSE d.quantity END,"
        " executed_qty = d.executed_qty, cumulative_quote_qty = d.cumulative_quote_qty,"
        " locked_amount = d.locked_amount, status = d.status, accepted_seq = d.accepted_seq,"
        " done_reason = d.done_reason, working_seq = d.working_seq,"
        " working_at = CASE WHEN o.working_seq IS NULL AND d.working_seq IS NOT NULL"
        "  THEN %b::timestamptz ELSE o.working_at END, updated_at = now()"
        " FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[],"
        "  %b::text[], %s::bigint[], %b::text[], %s::bigint[])"
        "  AS d(id, quantity, executed_qty, cumulative_quote_qty, locked_amount, status,"
        "   accepted_seq, done_reason, working_seq)"
        # "= ANY" lets the planner find the rows by primary key; joined to unnest()
        # alone, a generic plan scans the whole table.
        " WHERE o.id = d.id AND o.id = ANY(%s::bigint[])",
        (settled_at, ids, _whole_numbers(o.quantity for o in rows),
         _whole_numbers(o.executed_qty for o in rows),
         _whole_numbers(o.cumulative_quote_qty for o in rows),
         _whole_numbers(o.locked_amount for o in rows), [o.status.value for o in rows],
         _whole_numbers(o.accepted_seq for o in rows), [o.done_reason for o in rows],
         _whole_numbers(o.working_seq for o in rows), ids))


def save_sequences(conn: Conn, sequences: Sequence[tuple[str, int, int]]) -> None:
    """Upsert (market, last sequence, last trade id) for every market, in one statement."""
    if not sequences:
        return
    rows = sorted(sequences)
    conn.execute(
        "INSERT INTO market_sequences (market, last_sequence, last_trade_id)"
        " SELECT * FROM unnest(%b::text[], %b::bigint[], %b::bigint[])"
        " ON CONFLICT (market) DO UPDATE SET last_sequence = EXCLUDED.last_sequence,"
        " last_trade_id = EXCLUDED.last_trade_id",
        ([m for m, _, _ in rows], [s for _, s, _ in rows], [t for _, _, t in rows]))


def mark_applied(conn: Conn, command_ids: Sequence[int]) -> None:
    conn.execute("UPDATE order_commands SET applied_at = now() WHERE id = ANY(%s::bigint[])",
                 (_whole_numbers(sorted(command_ids)),))


def fee_tier_version_cursor(conn: Conn) -> Cursor:
    """The tiers' version (migration 0017), without waiting for it (``fetch_version``)."""
    return conn.execute("SELECT version FROM fee_tier_version")


def fetch_version(cursor: Cursor) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def all_fee_tier_rates(conn: Conn) -> dict[int, Rates]:
    """The fee-tier rates of every account that has a tier (migration 0009)."""
    rows = conn.execute(
        "SELECT u.user_id, t.maker_fee_ppm, t.taker_fee_ppm FROM user_fee_tiers u"
        " JOIN fee_tiers t ON t.tier = u.tier").fetchall()
    return {int(user): Rates(int(maker), int(taker)) for user, maker, taker in rows}


def last_trades(conn: Conn) -> list[tuple[str, int, int]]:
    """Each market's last trade: (market, trade id, executed at in ms)."""
    rows = conn.execute(
        "SELECT m.symbol, t.id, floor(extract(epoch FROM t.executed_at) * 1000)::bigint"
        " FROM markets m CROSS JOIN LATERAL (SELECT id, executed_at FROM trades"
        "  WHERE market = m.symbol ORDER BY id DESC LIMIT 1) t").fetchall()
    return [(str(market), int(trade_id), int(ms)) for market, trade_id, ms in rows]


def database_time_ms(conn: Conn) -> int:
    """The database server's clock, in ms since the epoch."""
    row = conn.execute("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
                       ).fetchone()
    assert row is not None
    return int(row[0])

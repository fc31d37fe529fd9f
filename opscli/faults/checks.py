"""What must hold after any fault, read from the isolated exchange's database.

Each check returns the problems it found (an empty list when all is well), so that the
fault tests assert on them and the soak benchmark reports them:

* SPEC's ledger invariants 1-2 (``ledger_problems``) and 3 (``lock_problems``: a user's
  locked funds equal what their open orders can still consume);
* invariant 4, against the order stream's record (``exactly_once_problems``): every
  order the API accepted is there, every command was applied, and each order's fills
  are its trades, once;
* the candles equal a recomputation from the trades (``candle_problems``), and trade
  times never go back within a market (``trade_time_problems``).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
from confluent_kafka import TopicPartition

from chalicelib.adapters.kafka import make_consumer
from opscli.faults.traffic import Answer

Conn = psycopg.Connection[Any]


def rows(conn: Conn, query: str, *params: object) -> list[tuple[Any, ...]]:
    return conn.execute(query.encode(), params or None).fetchall()


def ledger_problems(conn: Conn) -> list[str]:
    checks = {
        "assets whose accounts do not sum to zero":
            "SELECT asset, sum(available + locked) FROM balances GROUP BY asset"
            " HAVING sum(available + locked) <> 0",
        "ledger transactions that do not balance":
            "SELECT transaction_id, asset FROM ledger_entries GROUP BY transaction_id, asset"
            " HAVING sum(amount) <> 0",
        "negative user balances":
            "SELECT id FROM balances WHERE account_kind = 'USER'"
            " AND (available < 0 OR locked < 0)",
        "balances that differ from their ledger entries":
            "SELECT b.id FROM balances b LEFT JOIN (SELECT balance_id,"
            "  sum(amount) FILTER (WHERE bucket = 'AVAILABLE') AS available,"
            "  sum(amount) FILTER (WHERE bucket = 'LOCKED') AS locked"
            "  FROM ledger_entries GROUP BY balance_id) e ON e.balance_id = b.id"
            " WHERE b.available <> coalesce(e.available, 0)"
            " OR b.locked <> coalesce(e.locked, 0)",
    }
    return [f"{what}: {found[:10]}" for what, query in checks.items()
            if (found := rows(conn, query))]


def lock_problems(conn: Conn) -> list[str]:
    found = rows(conn, """
        WITH wanted AS (
          SELECT o.user_id, CASE o.side WHEN 'BUY' THEN m.quote_asset ELSE m.base_asset END
                 AS asset, sum(o.locked_amount) AS locked
          FROM orders o JOIN markets m ON m.symbol = o.market
          WHERE o.status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_NEW') GROUP BY 1, 2)
        SELECT b.user_id, b.asset, b.locked, coalesce(w.locked, 0) FROM balances b
        LEFT JOIN wanted w ON w.user_id = b.user_id AND w.asset = b.asset
        WHERE b.account_kind = 'USER' AND b.locked <> coalesce(w.locked, 0)""")
    return [f"locks that differ from open orders (user, asset, locked, orders): {found[:10]}"
            ] if found else []


def pending_commands(conn: Conn) -> int:
    """Commands not yet applied by the matcher (what it applied, it had from the topic)."""
    return int(rows(conn, "SELECT count(*) FROM order_commands WHERE applied_at IS NULL"
                    )[0][0])


def exactly_once_problems(conn: Conn, answers: Sequence[Answer]) -> list[str]:
    """Every placement the API answered 200 is an order of that trader's with that
    client order id, every command was applied, each order's executed quantities are
    the sums of its trades, and no order was accepted twice by the engine."""
    problems = []
    accepted = {a.order_id: a for a in answers
                if a.request.kind == "place" and a.status == 200 and a.order_id is not None}
    stored = {order_id: client_id for order_id, client_id in rows(
        conn, "SELECT id, client_order_id FROM orders WHERE id = ANY(%s)", list(accepted))}
    missing = [oid for oid, a in accepted.items()
               if stored.get(oid) != a.request.client_order_id]
    if missing:
        problems.append(f"accepted orders missing or not as placed: {missing[:10]}")
    unapplied = rows(conn, "SELECT id, kind, order_id FROM order_commands"
                           " WHERE applied_at IS NULL")
    if unapplied:
        problems.append(f"commands never applied: {unapplied[:10]}")
    never_matched = rows(conn, "SELECT id FROM orders WHERE accepted_seq IS NULL"
                               " AND status IN ('NEW', 'PARTIALLY_FILLED')")
    if never_matched:
        problems.append(f"open orders the engine never accepted: {never_matched[:10]}")
    twice = rows(conn, "SELECT market, accepted_seq FROM orders WHERE accepted_seq IS NOT NULL"
                       " GROUP BY 1, 2 HAVING count(*) > 1")
    if twice:
        problems.append(f"engine sequences given to two orders: {twice[:10]}")
    fills = rows(conn, """
        SELECT o.id, o.executed_qty, coalesce(t.qty, 0), o.cumulative_quote_qty,
               coalesce(t.quote, 0)
        FROM orders o LEFT JOIN (
          SELECT order_id, sum(quantity) AS qty, sum(quote_quantity) AS quote FROM (
            SELECT maker_order_id AS order_id, quantity, quote_quantity FROM trades
            UNION ALL SELECT taker_order_id, quantity, quote_quantity FROM trades) f
          GROUP BY order_id) t ON t.order_id = o.id
        WHERE o.executed_qty <> coalesce(t.qty, 0)
           OR o.cumulative_quote_qty <> coalesce(t.quote, 0)
           OR o.executed_qty > o.quantity""")
    if fills:
        problems.append(f"orders whose fills are not their trades: {fills[:10]}")
    return problems


def unknown_outcomes(conn: Conn, answers: Sequence[Answer]) -> tuple[int, int]:
    """Of the placements answered with "status unknown" (503 -1007) or not at all: how
    many there were, and how many the exchange holds (committed before the fault; each
    then applied like any other, which ``exactly_once_problems`` checks)."""
    unknown = [a for a in answers if a.request.kind == "place" and a.order_id is None
               and (a.status == 0 or a.outcome == "503/-1007")]
    if not unknown:
        return 0, 0
    found = rows(conn, "SELECT count(*) FROM orders WHERE client_order_id = ANY(%s)",
                 [a.request.client_order_id for a in unknown])
    return len(unknown), int(found[0][0])


def candles_caught_up(conn: Conn) -> bool:
    """The candles function has folded every trade."""
    behind = rows(conn, "SELECT t.market FROM (SELECT market, max(id) AS last FROM trades"
                        " GROUP BY market) t LEFT JOIN candle_progress p USING (market)"
                        " WHERE coalesce(p.last_trade_id, 0) < t.last")
    return not behind


def candle_problems(conn: Conn, intervals: Sequence[tuple[str, int]] = (
        ("1m", 60_000), ("1h", 3_600_000))) -> list[str]:
    """Each stored candle of these fixed-length intervals against one recomputed from
    the trades (open, high, low, close, volumes, count, first and last trade)."""
    problems = []
    for interval, length in intervals:
        differing = rows(conn, """
            WITH t AS (
              SELECT market, (floor(extract(epoch FROM executed_at) * 1000)::bigint / %s) * %s
                     AS open_time, id, price, quantity, quote_quantity, buyer_is_maker
              FROM trades),
            want AS (
              SELECT market, open_time, (array_agg(price ORDER BY id))[1] AS open,
                     max(price) AS high, min(price) AS low,
                     (array_agg(price ORDER BY id DESC))[1] AS close,
                     sum(quantity) AS volume, sum(quote_quantity) AS quote_volume,
                     count(*) AS trade_count,
                     coalesce(sum(quantity) FILTER (WHERE NOT buyer_is_maker), 0) AS buy,
                     min(id) AS first_id, max(id) AS last_id
              FROM t GROUP BY market, open_time),
            have AS (SELECT * FROM candles WHERE interval = %s)
            SELECT coalesce(w.market, h.market), coalesce(w.open_time, h.open_time)
            FROM want w FULL JOIN have h ON h.market = w.market AND h.open_time = w.open_time
            WHERE w.market IS NULL OR h.market IS NULL
               OR (w.open, w.high, w.low, w.close, w.volume, w.quote_volume, w.trade_count,
                   w.buy, w.first_id, w.last_id)
              IS DISTINCT FROM (h.open, h.high, h.low, h.close, h.volume, h.quote_volume,
                   h.trade_count, h.taker_buy_volume, h.first_trade_id, h.last_trade_id)
            """, length, length, interval)
        if differing:
            problems.append(f"{interval} candles unlike their trades (market, open time):"
                            f" {differing[:10]}")
    return problems


def trade_time_problems(conn: Conn) -> list[str]:
    """Within a market a later trade (higher id) is never stamped earlier."""
    back = rows(conn, "SELECT market, id, executed_at, previous FROM (SELECT market, id,"
                      " executed_at, lag(executed_at) OVER (PARTITION BY market ORDER BY id)"
                      " AS previous FROM trades) t WHERE executed_at < previous")
    return [f"trades stamped before the trade preceding them: {back[:10]}"] if back else []


def book_levels(conn: Conn, symbol: str) -> dict[str, dict[Decimal, Decimal]]:
    """The resting LIMIT orders' remaining quantity by side and price, as decimals in
    whole units (the way /api/v3/depth shows them)."""
    scales = rows(conn, "SELECT b.scale, q.scale FROM markets m"
                        " JOIN assets b ON b.symbol = m.base_asset"
                        " JOIN assets q ON q.symbol = m.quote_asset WHERE m.symbol = %s",
                  symbol)
    base_scale, quote_scale = scales[0]
    levels: dict[str, dict[Decimal, Decimal]] = {"BUY": {}, "SELL": {}}
    for side, price, remaining in rows(conn, """
            SELECT side, price, sum(quantity - executed_qty) FROM orders
            WHERE market = %s AND status IN ('NEW', 'PARTIALLY_FILLED')
              AND accepted_seq IS NOT NULL AND price IS NOT NULL GROUP BY side, price""",
            symbol):
        levels[side][Decimal(price).scaleb(-quote_scale)] = Decimal(remaining).scaleb(
            -base_scale)
    return levels


def last_trade(conn: Conn, symbol: str) -> tuple[int, int] | None:
    """The market's newest trade: its id and price (in quote units)."""
    found = rows(conn, "SELECT id, price FROM trades WHERE market = %s ORDER BY id DESC"
                       " LIMIT 1", symbol)
    return (int(found[0][0]), int(found[0][1])) if found else None


def topic_events(bootstrap: str, topic: str, kind: str) -> list[dict[str, Any]]:
    """Every event of ``kind`` on ``topic`` so far, read from the start of each partition
    up to its end."""
    consumer = make_consumer(bootstrap, f"faults-reader-{uuid.uuid4().hex[:8]}")
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        remaining = {p for p, end in ends.items() if end > 0}
        events = []
        for _round in range(10_000):
            if not remaining:
                break
            for message in consumer.consume(500, 1.0):
                if message.error() is not None:
                    continue
                fields = json.loads(message.value() or b"{}")
                if fields.get("type") == kind:
                    events.append(fields)
                if (message.offset() or 0) + 1 >= ends[message.partition() or 0]:
                    remaining.discard(message.partition() or 0)
        return events
    finally:
        consumer.close()


def trade_event_gaps(conn: Conn, trade_events: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How the trade events on ``market-events`` cover the trades: the matcher publishes
    them after the commit, best effort, so a kill between the two loses some (the REST
    answers and the candles, read from the tables, do not miss them)."""
    published = Counter((e["market"], int(e["trade_id"])) for e in trade_events)
    stored = {(str(market), int(trade_id))
              for market, trade_id in rows(conn, "SELECT market, id FROM trades")}
    return {"trades": len(stored), "without_event": len(stored - published.keys()),
            "events_repeated": sum(n - 1 for n in published.values() if n > 1)}


def published_trade_problems(conn: Conn, trade_events: Sequence[dict[str, Any]]) -> list[str]:
    """Every trade event on ``market-events`` is a stored trade, as stored, however often
    it was sent: the matcher publishes a batch's events only once it has committed, so no
    fault (PostgreSQL killed mid-batch included) may show a trade the database does not
    keep, or keeps otherwise."""
    stored = {(str(market), int(trade_id)): (int(seq), int(time_ms), str(price), str(qty),
                                             str(quote_qty), bool(maker), int(maker_order),
                                             int(taker_order))
              for market, trade_id, seq, time_ms, price, qty, quote_qty, maker, maker_order,
              taker_order in rows(
                  conn, "SELECT market, id, sequence,"
                        " round(extract(epoch FROM executed_at) * 1000)::bigint, price,"
                        " quantity, quote_quantity, buyer_is_maker, maker_order_id,"
                        " taker_order_id FROM trades")}
    sent: dict[tuple[str, int], set[tuple[Any, ...]]] = {}
    for e in trade_events:
        sent.setdefault((e["market"], int(e["trade_id"])), set()).add((
            int(e["seq"]), int(e["time"]), str(e["price"]), str(e["qty"]),
            str(e["quote_qty"]), bool(e["buyer_is_maker"]), int(e["maker_order_id"]),
            int(e["taker_order_id"])))
    not_stored = sorted(key for key in sent if key not in stored)
    unlike = sorted(key for key, events in sent.items()
                    if key in stored and events != {stored[key]})
    return named_problems(("trade events of trades not stored", not_stored),
                          ("trade events unlike the stored trade", unlike))


FINAL_STATUSES = ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED")


def published_order_problems(conn: Conn, order_events: Sequence[dict[str, Any]]) -> list[str]:
    """Every order event on ``order-events`` is a state the stored order went through: it
    exists, has filled no more than it has now, and an event that ends the order shows
    its stored final state."""
    stored = {int(order_id): (str(status), str(executed), str(quote))
              for order_id, status, executed, quote in rows(
                  conn, "SELECT id, status, executed_qty, cumulative_quote_qty FROM orders")}
    missing, ahead, unlike = set(), set(), set()
    for e in order_events:
        order_id = int(e["order_id"])
        found = stored.get(order_id)
        if found is None:
            missing.add(order_id)
        elif int(e["executed_qty"]) > int(found[1]):
            ahead.add(order_id)
        elif e["status"] in FINAL_STATUSES and (
                e["status"], str(e["executed_qty"]), str(e["cumulative_quote_qty"])) != found:
            unlike.add(order_id)
    return named_problems(("order events of orders not stored", sorted(missing)),
                          ("order events that filled more than the stored order", sorted(ahead)),
                          ("final order events unlike the stored order", sorted(unlike)))


def kline_final_problems(conn: Conn, klines: Sequence[dict[str, Any]]) -> list[str]:
    """A candle sent final more than once is sent the same each time, and a final of a
    stored interval is the candle as stored. (A candles function killed after the broker
    took its finals but before it recorded them sends them again, identical: see
    ``lambdas/candles.py``; a final that changed would be a wrong candle.)"""
    finals = [k for k in klines if k.get("closed")]
    contents: dict[tuple[str, str, int], set[tuple[str, ...]]] = {}
    for k in finals:
        contents.setdefault((k["market"], k["interval"], k["t"]), set()).add(
            tuple(str(k[field]) for field in ("o", "h", "l", "c", "v", "q", "n", "f", "L")))
    repeated = [key for key, sent in contents.items() if len(sent) > 1]
    stored = {(market, interval, int(open_time)): (int(close), int(volume), int(count))
              for market, interval, open_time, close, volume, count in rows(
                  conn, "SELECT market, interval, open_time, close, volume, trade_count"
                        " FROM candles")}
    unlike = [(k["market"], k["interval"], k["t"]) for k in finals
              if (k["market"], k["interval"], k["t"]) in stored
              and stored[(k["market"], k["interval"], k["t"])]
              != (int(k["c"]), int(k["v"]), int(k["n"]))]
    return named_problems(("candles sent final twice, differently", repeated),
                          ("finals unlike the stored candle", unlike))


def named_problems(*findings: tuple[str, Sequence[Any]]) -> list[str]:
    """One problem per finding that found anything: what it is, and its first ten."""
    return [f"{what}: {list(found[:10])}" for what, found in findings if found]


def all_problems(conn: Conn, answers: Sequence[Answer]) -> list[str]:
    return [*ledger_problems(conn), *lock_problems(conn),
            *exactly_once_problems(conn, answers), *trade_time_problems(conn)]

"""Create markets, users, funds and orders exactly as the API does, without the API.

An order is accepted in ONE transaction: its ``orders`` row (status NEW, locked_amount,
spend_cap), the ``ORDER_LOCK`` ledger transaction (AVAILABLE -> LOCKED; quote for a BUY,
base for a SELL) and its ``order_commands`` row; the command is published afterwards,
keyed by market. Everything is set-based so tests can create thousands of orders fast.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from chalicelib.adapters.kafka import make_consumer
from chalicelib.adapters.ledger import post_transactions
from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket, LedgerTransaction, Posting
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import (
    CommandKind,
    MarketSpec,
    NewOrder,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]

# BTCUSDT: BTC has 8 decimals, USDT 2; price in cents per BTC on a 1.00 tick, 0.01 BTC lots.
BTC_UNIT = 10**8
TICK = 100
LOT = 10**6
MAKER_PPM = 1_000
TAKER_PPM = 2_000


@dataclass(frozen=True, slots=True)
class Market:
    symbol: str
    base: str
    quote: str
    spec: MarketSpec


def new_order(user_id: int, side: Side, order_type: OrderType = OrderType.LIMIT, *,
              price: int = 0, qty: int = 0, quote_qty: int = 0,
              tif: TimeInForce = TimeInForce.GTC,
              stp: SelfTradePrevention = SelfTradePrevention.NONE,
              market: str = "", client_order_id: str = "", stop_price: int = 0) -> NewOrder:
    """An order as its user asks for it (``place_orders`` names its market and client id);
    as on the API, a MARKET order (or a stop that becomes one) has no time in force."""
    return NewOrder(user_id=user_id, market=market, client_order_id=client_order_id,
                    side=side, order_type=order_type,
                    tif=None if order_type.trades_as_market else tif,
                    price=price, qty=qty, quote_qty=quote_qty, stp=stp, stop_price=stop_price)


def create_market(conn: Conn, symbol: str = "BTCUSDT", base: str = "BTC",
                  quote: str = "USDT") -> Market:
    conn.execute("INSERT INTO assets (symbol, scale) VALUES (%s, 8), (%s, 2)"
                 " ON CONFLICT DO NOTHING", (base, quote))
    spec = MarketSpec(symbol=symbol, base_unit=BTC_UNIT, tick_size=TICK, lot_size=LOT,
                      min_qty=LOT, max_qty=1000 * BTC_UNIT, min_notional=0,
                      maker_fee_ppm=MAKER_PPM, taker_fee_ppm=TAKER_PPM)
    conn.execute(
        "INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size, min_qty,"
        " max_qty, min_notional, maker_fee_ppm, taker_fee_ppm)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (symbol, base, quote, spec.tick_size, spec.lot_size, spec.min_qty, spec.max_qty,
         spec.min_notional, spec.maker_fee_ppm, spec.taker_fee_ppm))
    return Market(symbol, base, quote, spec)


def create_users(conn: Conn, count: int) -> list[int]:
    rows = conn.execute(
        "INSERT INTO users (email, password_hash)"
        " SELECT 'u' || g || '-' || %s || '@example.com', 'x' FROM generate_series(1, %s) g"
        " RETURNING id", (uuid.uuid4().hex[:8], count)).fetchall()
    return sorted(int(r[0]) for r in rows)


def fund(conn: Conn, amounts: dict[tuple[int, str], int]) -> None:
    """Deposit ``amount`` of ``asset`` for each (user, asset)."""
    with conn.transaction():
        post_transactions(conn, [
            LedgerTransaction("TEST_DEPOSIT", f"{user}:{asset}:{uuid.uuid4().hex}", [
                Posting(AccountRef.system(AccountKind.DEPOSIT_CLEARING, asset),
                        Bucket.AVAILABLE, -amount),
                Posting(AccountRef.user(user, asset), Bucket.AVAILABLE, amount)])
            for (user, asset), amount in amounts.items()])


def balance(conn: Conn, user_id: int, asset: str) -> tuple[int, int]:
    """(available, locked) of a user's account."""
    row = conn.execute("SELECT available, locked FROM balances WHERE account_kind = 'USER'"
                       " AND user_id = %s AND asset = %s", (user_id, asset)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def fee_balance(conn: Conn, asset: str) -> int:
    row = conn.execute("SELECT available FROM balances WHERE account_kind = 'FEE'"
                       " AND asset = %s", (asset,)).fetchone()
    return int(row[0]) if row else 0


def place_orders(conn: Conn, market: Market, orders: list[NewOrder]) -> list[OrderCommand]:
    """Lock, record and return the PLACE commands of ``orders`` (one transaction)."""
    with conn.transaction():
        ids = _next_ids(conn, "orders", len(orders))
        locks = _locks(conn, market, orders)
        conn.execute(
            "INSERT INTO orders (id, user_id, market, client_order_id, side, type,"
            " time_in_force, self_trade_prevention, price, quantity, quote_order_qty,"
            " locked_amount, spend_cap, stop_price) OVERRIDING SYSTEM VALUE"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[],"
            " %s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::numeric[],"
            " %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[])",
            (ids, [o.user_id for o in orders], [market.symbol] * len(orders),
             [f"c{i}" for i in ids], [o.side.value for o in orders],
             [o.order_type.value for o in orders],
             [o.tif.value if o.tif else None for o in orders],
             [o.stp.value for o in orders], [o.price or None for o in orders],
             [o.qty or None for o in orders], [o.quote_qty or None for o in orders],
             [amount for _, amount, _ in locks], [cap for _, _, cap in locks],
             [o.stop_price or None for o in orders]))
        post_transactions(conn, [
            LedgerTransaction("ORDER_LOCK", f"order:{order_id}", [
                Posting(AccountRef.user(o.user_id, asset), Bucket.AVAILABLE, -amount),
                Posting(AccountRef.user(o.user_id, asset), Bucket.LOCKED, amount)])
            for order_id, o, (asset, amount, _) in zip(ids, orders, locks, strict=True)])
        return _record(conn, [
            OrderCommand(0, CommandKind.PLACE, market.symbol, o.user_id, order_id, o.side,
                         o.order_type, o.price, o.qty, o.quote_qty, o.tif or TimeInForce.GTC,
                         o.stp, spend_cap=cap, locked=amount, stop_price=o.stop_price)
            for order_id, o, (_, amount, cap) in zip(ids, orders, locks, strict=True)])


def record_commands(conn: Conn, commands: list[OrderCommand]) -> list[OrderCommand]:
    """Record cancels, cancel-alls and amends (as the API would) and return them with ids."""
    with conn.transaction():
        return _record(conn, commands)


def cancel(market: Market, user_id: int, order_id: int) -> OrderCommand:
    return OrderCommand(0, CommandKind.CANCEL, market.symbol, user_id, order_id)


def cancel_all(market: Market, user_id: int) -> OrderCommand:
    return OrderCommand(0, CommandKind.CANCEL_ALL, market.symbol, user_id)


def amend(market: Market, user_id: int, order_id: int, new_qty: int) -> OrderCommand:
    return OrderCommand(0, CommandKind.AMEND, market.symbol, user_id, order_id, new_qty=new_qty)


def _locks(conn: Conn, market: Market, orders: list[NewOrder]) -> list[tuple[str, int, int]]:
    """(asset, amount, spend_cap) per order, as the API computes them."""
    spent: dict[tuple[int, str], int] = defaultdict(int)
    locks = []
    for o in orders:
        asset = market.quote if o.side is Side.BUY else market.base
        whole_available = o.order_type.trades_as_market and (
            (o.side is Side.BUY and not o.quote_qty) or (o.side is Side.SELL and not o.qty))
        if whole_available:
            amount = balance(conn, o.user_id, asset)[0] - spent[o.user_id, asset]
            locks.append((asset, amount, amount))
        elif o.side is Side.SELL:
            locks.append((asset, o.qty, 0))
        elif o.order_type.trades_as_market:
            locks.append((asset, o.quote_qty, 0))
        else:
            locks.append((asset, market.spec.notional(o.price, o.qty), 0))
        spent[o.user_id, asset] += locks[-1][1]
    return locks


def _next_ids(conn: Conn, table: str, count: int) -> list[int]:
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        (table, count)).fetchall()
    return [int(r[0]) for r in rows]


def _record(conn: Conn, commands: list[OrderCommand]) -> list[OrderCommand]:
    ids = _next_ids(conn, "order_commands", len(commands))
    stamped = [replace(c, command_id=i) for c, i in zip(commands, ids, strict=True)]
    conn.execute(
        "INSERT INTO order_commands (id, market, kind, order_id, user_id, payload)"
        " OVERRIDING SYSTEM VALUE SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[],"
        " %s::bigint[], %s::bigint[], %s::jsonb[])",
        (ids, [c.market for c in stamped], [c.kind.value for c in stamped],
         [c.order_id or None for c in stamped], [c.user_id for c in stamped],
         [c.encode().decode() for c in stamped]))
    return stamped


# ------------------------------------------------------------------ Kafka


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                            replication_factor=1)])
    futures[name].result(timeout=30)


def publish(producer: Producer, topic: str, commands: list[OrderCommand]) -> None:
    for command in commands:
        while True:
            try:
                producer.produce(topic, key=command.market, value=command.encode())
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(30) == 0


def read_topic(bootstrap: str, topic: str) -> list[Message]:
    """Every message of ``topic``, each partition in offset order."""
    consumer = make_consumer(bootstrap, f"reader-{uuid.uuid4().hex}",
                             **{"enable.partition.eof": True})
    consumer.subscribe([topic])
    messages: list[Message] = []
    eof: set[int] = set()

    def read_more() -> int:
        """How many assigned partitions are still to be read to their end."""
        for m in consumer.consume(1000, 0.5):
            error = m.error()
            if error is None:
                messages.append(m)
            elif error.code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition() or 0)
        assigned = len(consumer.assignment())
        return assigned - len(eof) if assigned else -1

    try:
        wait_until(read_more, until=lambda left: left == 0, timeout=60,
                   what=f"{topic} read to its end")
        return messages
    finally:
        consumer.close()


def unapplied(conn: Conn, command_ids: list[int]) -> int:
    row = conn.execute("SELECT count(*) FROM order_commands WHERE id = ANY(%s)"
                       " AND applied_at IS NULL", (command_ids,)).fetchone()
    assert row is not None
    return int(row[0])


def wait_applied(conn: Conn, command_ids: list[int], timeout: float = 60) -> None:
    """Wait until the matcher has applied (or skipped as rejected) every command."""
    wait_until(lambda: unapplied(conn, command_ids), until=lambda left: left == 0,
               timeout=timeout, what=f"the matcher to apply {len(command_ids)} commands")


def order_row(conn: Conn, order_id: int) -> dict[str, Any]:
    cur = conn.execute(
        "SELECT status, executed_qty, cumulative_quote_qty, locked_amount, quantity,"
        " done_reason, accepted_seq FROM orders WHERE id = %s", (order_id,))
    row = cur.fetchone()
    assert row is not None
    assert cur.description is not None
    return {col.name: int(v) if isinstance(v, Decimal) else v
            for col, v in zip(cur.description, row, strict=True)}

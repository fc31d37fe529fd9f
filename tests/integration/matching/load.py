"""A seeded stream of orders and cancels from many users, and the checks that the
matcher applied all of it exactly once (against a fresh engine replaying the topic)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

import psycopg

from chalicelib.domain.errors import ApiError
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind, NewOrder, OrderType, Side, TimeInForce
from chalicelib.service_layer import order_lists
from chalicelib.service_layer.order_lists import NewOco, NewOto
from matching_cluster.engine import OrderBook, Trade
from matching_cluster.service.engine_commands import engine_command
from tests.support.ledger import assert_ledger_invariants

from .support import (
    BTC_UNIT,
    LOT,
    TICK,
    Market,
    cancel,
    create_users,
    fund,
    new_order,
    place_orders,
    read_topic,
    record_commands,
)

Conn = psycopg.Connection[Any]
MID = 50_000 * 100


class LoadGenerator:
    """Waves of PLACE (limit GTC/IOC, market by quote, stop-limit and take-profit-limit
    around the price) and CANCEL commands."""

    def __init__(self, db: Conn, markets: list[Market], users: int, seed: int) -> None:
        self.db = db
        self.markets = markets
        self.rng = random.Random(seed)
        self.users = create_users(db, users)
        fund(db, {(u, asset): 10**15 for u in self.users
                  for m in markets for asset in (m.base, m.quote)})
        self.placed: dict[str, list[tuple[int, int]]] = defaultdict(list)  # (order, user)
        self.command_ids: list[int] = []

    def wave(self, size: int) -> list[OrderCommand]:
        """Record ``size`` commands (about 1 in 5 a cancel, up to 5 OCO and 5 OTO or
        OTOCO lists); return them, some twice."""
        market = self.rng.choice(self.markets)
        lists = [command for _ in range(5) for command in (*self._oco(market),
                                                           *self._oto(market))]
        orders = [self._order() for _ in range(size * 4 // 5 - len(lists))]
        commands = place_orders(self.db, market, orders)
        self.placed[market.symbol].extend((c.order_id, c.user_id) for c in commands)
        commands += lists
        targets = self.rng.sample(self.placed[market.symbol], size - len(orders) - len(lists))
        commands += record_commands(self.db, [cancel(market, u, o) for o, u in targets])
        self.rng.shuffle(commands)
        self.command_ids += [c.command_id for c in commands]
        # The sweeper republishes what the API may have published already.
        return commands + self.rng.sample(commands, len(commands) // 50)

    def _oco(self, market: Market) -> list[OrderCommand]:
        """A SELL OCO around the price (a LIMIT_MAKER above, a stop-limit below), placed
        by the intake; none when the intake refuses it (the price moved past a leg)."""
        rng = self.rng
        user, qty, name = rng.choice(self.users), rng.randint(1, 5) * LOT, len(self.command_ids)
        stop = MID - rng.randint(5, 25) * TICK
        oco = NewOco(f"list-{name}", new_order(
            user, Side.SELL, OrderType.LIMIT_MAKER, price=MID + rng.randint(5, 25) * TICK,
            qty=qty, market=market.symbol, client_order_id=f"above-{name}"), new_order(
            user, Side.SELL, OrderType.STOP_LOSS_LIMIT, price=stop - 5 * TICK, qty=qty,
            stop_price=stop, market=market.symbol, client_order_id=f"below-{name}"))
        try:
            placed = order_lists.place_oco(self.db, oco)
        except ApiError:
            return []
        self.placed[market.symbol].extend((order_id, user) for order_id in placed.order_ids)
        return [placed.command]

    def _oto(self, market: Market) -> list[OrderCommand]:
        """A BUY near the price, then a SELL above it (an OTO) or a SELL OCO around it
        (an OTOCO), placed by the intake."""
        rng = self.rng
        user, qty, name = rng.choice(self.users), rng.randint(1, 5) * LOT, len(self.command_ids)
        working = new_order(user, Side.BUY, price=MID - rng.randint(0, 10) * TICK, qty=qty,
                            market=market.symbol, client_order_id=f"working-{name}")
        take = new_order(user, Side.SELL, OrderType.LIMIT_MAKER,
                         price=MID + rng.randint(5, 25) * TICK, qty=qty, market=market.symbol,
                         client_order_id=f"take-{name}")
        stop = MID - rng.randint(15, 30) * TICK
        pending = (take,) if rng.random() < 0.5 else (take, new_order(
            user, Side.SELL, OrderType.STOP_LOSS_LIMIT, price=stop - 5 * TICK, qty=qty,
            stop_price=stop, market=market.symbol, client_order_id=f"stop-{name}"))
        try:
            placed = order_lists.place_oto(self.db, NewOto(f"oto-{name}", working, pending))
        except ApiError:
            return []
        self.placed[market.symbol].extend((order_id, user) for order_id in placed.order_ids)
        return [placed.command]

    def _order(self) -> NewOrder:
        rng = self.rng
        side = rng.choice((Side.BUY, Side.SELL))
        kind = rng.random()
        if kind < 0.05:
            quote = rng.randint(1, 5) * MID * LOT // BTC_UNIT
            if side is Side.BUY:
                return new_order(rng.choice(self.users), side, OrderType.MARKET, quote_qty=quote)
            return new_order(rng.choice(self.users), side, OrderType.MARKET,
                            qty=rng.randint(1, 5) * LOT)
        offset = rng.randint(-20, 20) * TICK
        if kind > 0.95:  # waits for the price to move; some are reached already
            order_type = OrderType.STOP_LOSS_LIMIT if kind > 0.975 else OrderType.TAKE_PROFIT_LIMIT
            return new_order(rng.choice(self.users), side, order_type, price=MID + offset,
                             qty=rng.randint(1, 5) * LOT,
                             stop_price=MID + rng.randint(-10, 10) * TICK)
        return new_order(rng.choice(self.users), side, price=MID + offset,
                        qty=rng.randint(1, 5) * LOT,
                        tif=TimeInForce.IOC if kind < 0.15 else TimeInForce.GTC)


def assert_applied_exactly_once(db: Conn, bootstrap: str, topic: str,
                                markets: list[Market]) -> None:
    """PostgreSQL equals a fresh engine replaying the topic, and the books balance."""
    books = {m.symbol: OrderBook(m.spec) for m in markets}
    trades: list[tuple[str, Trade]] = []
    seen: set[int] = set()
    for message in read_topic(bootstrap, topic):
        command = OrderCommand.decode(message.value() or b"")
        if command.command_id in seen:
            continue
        seen.add(command.command_id)
        engine = engine_command(command)
        assert engine is not None
        events = books[command.market].apply(engine)
        trades += [(command.market, e) for e in events if isinstance(e, Trade)]

    not_applied = db.execute("SELECT count(*) FROM order_commands WHERE applied_at IS NULL"
                             ).fetchone()
    assert not_applied == (0,)
    stored = db.execute(
        "SELECT market, id, sequence, price, quantity, quote_quantity, maker_order_id,"
        " taker_order_id, buyer_is_maker, maker_fee, taker_fee FROM trades"
        " ORDER BY market, id").fetchall()
    replayed = sorted(
        (market, t.trade_id, t.seq, t.price, t.qty, t.quote_qty, t.maker_order_id,
         t.taker_order_id, t.buyer_is_maker, t.maker_fee, t.taker_fee)
        for market, t in trades)
    assert len(replayed) > 1000, "the stream should trade a lot"
    assert len(stored) == len(replayed)
    assert [tuple(_plain(v) for v in row) for row in stored] == replayed

    _assert_open_orders_match(db, books)
    # Every trade's fees reached the fee accounts (the ledger nets a batch's trades).
    fees = db.execute(
        "SELECT asset, sum(fee) FROM (SELECT maker_fee_asset AS asset, maker_fee AS fee"
        " FROM trades UNION ALL SELECT taker_fee_asset, taker_fee FROM trades) f"
        " GROUP BY asset HAVING sum(fee) > 0 ORDER BY asset").fetchall()
    collected = db.execute(
        "SELECT asset, available FROM balances WHERE account_kind = 'FEE' AND available > 0"
        " ORDER BY asset").fetchall()
    assert fees
    assert collected == fees
    assert_ledger_invariants(db)


def _assert_open_orders_match(db: Conn, books: dict[str, OrderBook]) -> None:
    """Open orders, their fills and their locks are what the replayed books hold."""
    rows = db.execute(
        "SELECT o.market, o.id, o.side, o.price, o.quantity - o.executed_qty, o.locked_amount"
        " FROM orders o WHERE o.status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY o.id").fetchall()
    limit_makers = {int(order_id) for (order_id,) in db.execute(
        "SELECT id FROM orders WHERE type = 'LIMIT_MAKER'").fetchall()}
    expected = []
    for symbol, book in books.items():
        for r in book.open_orders():
            lock = book.spec.notional(r.price, r.remaining) if r.side is Side.BUY else r.remaining
            expected.append((symbol, r.order_id, r.side.value, r.price, r.remaining, lock))
        for s in book.stop_orders():  # the load's stops are all limit ones
            lock = book.spec.notional(s.price, s.qty) if s.side is Side.BUY else s.qty
            expected.append((symbol, s.order_id, s.side.value, s.price, s.qty, lock))
    # The load's OCO lists sell: while both legs are open the list's lock is on its
    # LIMIT_MAKER leg (the stop leg holds none); once one leg works, on that one.
    unlocked = {leg for book in books.values() for pair in book.oco_pairs() for leg in pair
                if leg not in limit_makers}
    expected = [(*row[:5], 0) if row[1] in unlocked else row for row in expected]
    assert sorted(tuple(_plain(v) for v in row) for row in rows) == sorted(expected)
    # The load's pending orders sell: a single one locks its quantity, a pair once (on
    # its LIMIT_MAKER).
    waiting = db.execute("SELECT id, locked_amount FROM orders WHERE status = 'PENDING_NEW'"
                         ).fetchall()
    pending = [p for book in books.values() for p in book.snapshot().pending]
    per_list = Counter(p.working_id for p in pending)
    assert sorted((int(i), int(locked)) for i, locked in waiting) == sorted(
        (p.order_id, p.qty if per_list[p.working_id] == 1 or p.order_type is
         OrderType.LIMIT_MAKER else 0) for p in pending)
    locked = db.execute(
        "SELECT b.user_id, b.asset, b.locked FROM balances b WHERE b.account_kind = 'USER'"
        " AND b.locked <> coalesce((SELECT sum(o.locked_amount) FROM orders o"
        "  JOIN markets m ON m.symbol = o.market WHERE o.user_id = b.user_id"
        "  AND o.status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_NEW') AND b.asset ="
        "  CASE o.side WHEN 'BUY' THEN m.quote_asset ELSE m.base_asset END), 0)").fetchall()
    assert locked == [], f"locks that no open order accounts for: {locked[:5]}"
    kinds = db.execute("SELECT DISTINCT kind FROM order_commands").fetchall()
    assert {k for (k,) in kinds} == {CommandKind.PLACE.value, CommandKind.CANCEL.value,
                                     CommandKind.PLACE_OCO.value, CommandKind.PLACE_OTO.value}
    linked = sum(len(book.oco_pairs()) for book in books.values())
    expired = db.execute("SELECT count(*) FROM orders WHERE done_reason = 'EXPIRED_IN_LIST'"
                         ).fetchone()
    assert linked > 0 or expired != (0,), "the load should leave or end some OCO lists"


def _plain(value: object) -> object:
    return value if isinstance(value, str | bool | int) else int(str(value))

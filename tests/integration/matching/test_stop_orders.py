"""Stop orders through the matcher: placed by the intake with their lock, waiting in the
book as NEW (not working), kept when a new instance rebuilds the book from PostgreSQL
(with the last trade price), set working by a trade, their fills settled like any order."""

from __future__ import annotations

from typing import Any

import psycopg

from chalicelib.domain.clock import SystemClock
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import NewOrder, OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.service_layer import orders
from matching_cluster.service import repository as repo
from matching_cluster.service.batch import PartitionSlice, apply_batch
from matching_cluster.service.books import Books
from matching_cluster.service.metrics import Metrics
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders

from .support import (
    BTC_UNIT,
    Market,
    balance,
    create_users,
    fund,
    new_order,
    order_row,
    place_orders,
)

Conn = psycopg.Connection[Any]
DOLLAR = 100  # USDT cents
TENTH = BTC_UNIT // 10


def stop_order(user_id: int, side: Side, order_type: OrderType, stop_price: int, *,
               qty: int, price: int = 0) -> NewOrder:
    limit_type = order_type.working_type is OrderType.LIMIT
    return NewOrder(user_id, "BTCUSDT", f"stop-{user_id}-{stop_price}", side, order_type,
                    TimeInForce.GTC if limit_type else None, price, qty, 0,
                    SelfTradePrevention.NONE, stop_price)


class Matcher:
    """Applies batches as one matcher instance; ``restart`` is a new instance."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.offset = 0
        self.restart()

    def restart(self) -> None:
        self.books = Books(Metrics())
        self.epoch, _ = repo.fence_partition(self.conn, "orders", 0, f"m{self.offset}")

    def apply(self, commands: list[OrderCommand]) -> None:
        self.offset += len(commands)
        apply_batch(self.conn, self.books, Metrics(), topic="orders",
                    slices=[PartitionSlice(0, self.epoch, commands, self.offset)],
                    clock=SystemClock())


def test_stops_wait_survive_a_rebuild_and_work_when_the_price_reaches_them(
    db: Conn, db_url: str, market: Market,
) -> None:
    maker, taker, stopper, buyer = users = create_users(db, 4)
    fund(db, {(maker, "BTC"): 2 * BTC_UNIT, (maker, "USDT"): 200_000 * DOLLAR,
              (taker, "USDT"): 200_000 * DOLLAR, (taker, "BTC"): BTC_UNIT,
              (stopper, "BTC"): BTC_UNIT, (buyer, "USDT"): 10_000 * DOLLAR})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        matcher.apply(place_orders(db, market, [  # last price 50,000
            new_order(maker, Side.SELL, price=50_000 * DOLLAR, qty=5 * TENTH),
            new_order(taker, Side.BUY, price=50_000 * DOLLAR, qty=TENTH)]))
        stop_loss_id, sell_stop = orders.place_order(db, stop_order(
            stopper, Side.SELL, OrderType.STOP_LOSS_LIMIT, 49_000 * DOLLAR,
            price=48_500 * DOLLAR, qty=5 * TENTH))
        breakout_id, buy_stop = orders.place_order(db, stop_order(
            buyer, Side.BUY, OrderType.STOP_LOSS, 51_000 * DOLLAR, qty=TENTH))
        matcher.apply([sell_stop, buy_stop])

        waiting = order_row(db, stop_loss_id)
        assert (waiting["status"], waiting["locked_amount"]) == ("NEW", 5 * TENTH)
        assert waiting["accepted_seq"] is not None
        assert working(db, stop_loss_id) == (None, None)
        # The MARKET one locked what a MARKET buy by quantity locks: all it had.
        assert balance(db, buyer, "USDT") == (0, 10_000 * DOLLAR)
        assert_locks_match_open_orders(db, users)

        matcher.restart()  # the stops and the last price come back from PostgreSQL
        snapshot = repo.load_book(db, market.spec)
        assert [s.order_id for s in snapshot.stops] == [stop_loss_id, breakout_id]
        assert snapshot.last_price == 50_000 * DOLLAR
        # A trade at 49,000 sets the sell stop working: it sells 0.3 into the bid at
        # 49,000 and rests 0.2 at its limit, 48,500.
        matcher.apply(place_orders(db, market, [
            new_order(maker, Side.BUY, price=49_000 * DOLLAR, qty=4 * TENTH),
            new_order(taker, Side.SELL, price=49_000 * DOLLAR, qty=TENTH)]))
        sold = order_row(db, stop_loss_id)
        assert (sold["status"], sold["executed_qty"], sold["locked_amount"]) == (
            "PARTIALLY_FILLED", 3 * TENTH, 2 * TENTH)
        working_seq, working_at = working(db, stop_loss_id)
        assert working_seq is not None
        assert working_at is not None
        assert order_row(db, breakout_id)["status"] == "NEW"

        matcher.restart()  # the worked stop rests in the book, the other still waits
        snapshot = repo.load_book(db, market.spec)
        assert [(o.order_id, o.price, o.remaining) for o in snapshot.orders
                if o.order_id == stop_loss_id] == [(stop_loss_id, 48_500 * DOLLAR, 2 * TENTH)]
        assert [s.order_id for s in snapshot.stops] == [breakout_id]
        # Trades at 48,500 (the worked stop), 50,000 and 51,000: the buy stop works and
        # buys the 0.1 left at 51,000.
        matcher.apply(place_orders(db, market, [
            new_order(maker, Side.SELL, price=51_000 * DOLLAR, qty=5 * TENTH),
            new_order(taker, Side.BUY, price=51_000 * DOLLAR, qty=10 * TENTH)]))

    assert order_row(db, stop_loss_id)["status"] == "FILLED"
    bought = order_row(db, breakout_id)
    assert (bought["status"], bought["executed_qty"], bought["locked_amount"]) == (
        "FILLED", TENTH, 0)
    assert balance(db, buyer, "USDT") == (10_000 * DOLLAR - 5_100 * DOLLAR, 0)
    assert balance(db, buyer, "BTC")[0] == TENTH - TENTH * 2_000 // 1_000_000  # taker fee
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)


def working(db: Conn, order_id: int) -> tuple[object, object]:
    row = db.execute("SELECT working_seq, working_at FROM orders WHERE id = %s",
                     (order_id,)).fetchone()
    assert row is not None
    return row[0], row[1]

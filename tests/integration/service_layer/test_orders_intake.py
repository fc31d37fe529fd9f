"""Order intake with the broker and the clock replaced: what is recorded and published,
what a lost publish leaves for the sweeper, refusals against a kept market, and how long
the result is awaited. No matcher runs here, so every order stays as intake left it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg
import pytest

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import (
    CommandKind,
    Market,
    NewOrder,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from chalicelib.service_layer import order_intake
from chalicelib.service_layer.order_intake import Intake, OrderKey, Wait
from chalicelib.service_layer.recently_read import recent_markets
from tests.support.fakes.clock import SleeplessClock
from tests.support.fakes.publisher import FakePublisher
from tests.support.ledger import assert_ledger_invariants

from . import Conn, btcusdt_buyer, count, user_account

BTC, USDT = 10**8, 10**6


@pytest.fixture
def alice(db: Conn) -> int:
    return btcusdt_buyer(db)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def clock() -> SleeplessClock:
    return SleeplessClock()


@pytest.fixture
def intake(db_url: str, publisher: FakePublisher, clock: SleeplessClock) -> Intake:
    def unit_of_work() -> AbstractContextManager[Conn]:
        return psycopg.connect(db_url)  # commits when the block ends, as the API's pool
    return Intake(unit_of_work, publisher, clock, result_wait_s=0.05)


def limit_buy(user_id: int, price: int = 20_000 * USDT) -> NewOrder:
    return NewOrder(user_id, "BTCUSDT", "buy-1", Side.BUY, OrderType.LIMIT, TimeInForce.GTC,
                    price, BTC // 2, 0, SelfTradePrevention.EXPIRE_MAKER)


def as_given(order: NewOrder) -> Callable[[Market], NewOrder]:
    return lambda _market: order


def unapplied(db: Conn) -> int:
    row = db.execute("SELECT count(*) FROM order_commands WHERE applied_at IS NULL"
                     ).fetchone()
    assert row is not None
    return int(row[0])


def stored_commands(db: Conn) -> list[OrderCommand]:
    return [OrderCommand.decode(payload.encode()) for (payload,) in db.execute(
        "SELECT payload::text FROM order_commands ORDER BY id").fetchall()]


def test_a_placed_order_locks_its_notional_and_is_published_as_stored(
    db: Conn, alice: int, intake: Intake, publisher: FakePublisher
) -> None:
    placed = order_intake.place(intake, "BTCUSDT", as_given(limit_buy(alice)), Wait.NOTHING)

    assert placed.matched is None
    assert [(c.kind, c.order_id, c.locked) for c in publisher.published] == [
        (CommandKind.PLACE, placed.order_id, 10_000 * USDT)]
    assert stored_commands(db) == publisher.published
    assert user_account(db, alice, "USDT") == (10_000 * USDT, 10_000 * USDT)
    assert_ledger_invariants(db)


def test_a_market_buy_without_a_bound_locks_the_whole_balance_as_its_spend_cap(
    db: Conn, alice: int, intake: Intake, publisher: FakePublisher
) -> None:
    market_buy = NewOrder(alice, "BTCUSDT", "buy-all", Side.BUY, OrderType.MARKET, None,
                          0, BTC // 2, 0, SelfTradePrevention.EXPIRE_MAKER)

    order_intake.place(intake, "BTCUSDT", as_given(market_buy), Wait.NOTHING)

    assert [(c.locked, c.spend_cap) for c in publisher.published] == [
        (20_000 * USDT, 20_000 * USDT)]
    assert stored_commands(db) == publisher.published
    assert user_account(db, alice, "USDT") == (0, 20_000 * USDT)
    assert_ledger_invariants(db)


def test_refusals_after_the_filters_leave_nothing_behind(
    db: Conn, alice: int, intake: Intake, publisher: FakePublisher
) -> None:
    order_intake.place(intake, "BTCUSDT", as_given(limit_buy(alice)), Wait.NOTHING)
    too_big = limit_buy(alice, price=40_000 * USDT)

    refused = [refusal(intake, limit_buy(alice)),
               refusal(intake, dataclasses.replace(too_big, client_order_id="buy-2"))]

    assert refused == [(ErrorCode.NEW_ORDER_REJECTED, "Duplicate order sent."),
                       (ErrorCode.NEW_ORDER_REJECTED,
                        "Account has insufficient balance for requested action.")]
    assert (count(db, "orders"), count(db, "order_commands"), len(publisher.published)) == (
        1, 1, 1)
    assert user_account(db, alice, "USDT") == (10_000 * USDT, 10_000 * USDT)
    assert_ledger_invariants(db)


def test_a_kept_market_never_outlives_a_halt_or_a_filter_change(
    db: Conn, alice: int, intake: Intake, clock: SleeplessClock
) -> None:
    keeping = dataclasses.replace(intake, markets=recent_markets(clock.monotonic))
    order_intake.place(keeping, "BTCUSDT", as_given(limit_buy(alice)), Wait.NOTHING)
    db.execute("UPDATE markets SET status = 'HALT' WHERE symbol = 'BTCUSDT'")

    closed = refusal(keeping, dataclasses.replace(limit_buy(alice), client_order_id="buy-2"))
    db.execute("UPDATE markets SET status = 'TRADING', tick_size = tick_size * 10"
               " WHERE symbol = 'BTCUSDT'")
    off_new_tick = refusal(keeping, dataclasses.replace(limit_buy(alice, 10_000 * USDT + 10_000),
                                                        client_order_id="buy-3"))
    db.execute("UPDATE markets SET tick_size = tick_size / 10 WHERE symbol = 'BTCUSDT'")
    on_old_tick = order_intake.place(keeping, "BTCUSDT", as_given(dataclasses.replace(
        limit_buy(alice, 10_000 * USDT + 10_000), client_order_id="buy-4")), Wait.NOTHING)

    assert closed == (ErrorCode.NEW_ORDER_REJECTED, "Market is closed.")
    assert off_new_tick == (ErrorCode.FILTER_FAILURE, "Filter failure: PRICE_FILTER")
    assert on_old_tick.order_id > 0
    assert_ledger_invariants(db)


def refusal(intake: Intake, order: NewOrder) -> tuple[ErrorCode, str]:
    with pytest.raises(ApiError) as raised:
        order_intake.place(intake, "BTCUSDT", as_given(order), Wait.NOTHING)
    return raised.value.code, raised.value.msg


def test_a_publish_the_broker_does_not_acknowledge_is_a_503_left_for_the_sweeper(
    db: Conn, db_url: str, alice: int, intake: Intake, publisher: FakePublisher
) -> None:
    publisher.up = False

    with pytest.raises(ApiError) as raised:
        order_intake.place(intake, "BTCUSDT", as_given(limit_buy(alice)), Wait.FILLS)

    assert (raised.value.status, raised.value.code) == (503, ErrorCode.BACKEND_TIMEOUT)
    assert (count(db, "orders"), unapplied(db)) == (1, 1)
    publisher.up = True
    db.execute("UPDATE order_commands SET created_at = now() - interval '2 hours'")
    assert order_intake.republish_stuck(intake.db, publisher, older_than_s=3600) == (1, 1)
    # Sent again only an hour after its last republish, until the matcher applies it.
    assert order_intake.republish_stuck(intake.db, publisher, older_than_s=3600) == (0, 0)
    assert order_intake.republish_stuck(intake.db, publisher, older_than_s=0) == (1, 1)
    db.execute("UPDATE order_commands SET applied_at = now()")
    assert order_intake.republish_stuck(intake.db, publisher, older_than_s=0) == (0, 0)
    assert [c.kind for c in publisher.published] == [CommandKind.PLACE] * 2


def test_a_filter_failure_reserves_and_publishes_nothing(
    db: Conn, alice: int, intake: Intake, publisher: FakePublisher
) -> None:
    off_tick = limit_buy(alice, price=20_000 * USDT + 1)

    with pytest.raises(ApiError) as raised:
        order_intake.place(intake, "BTCUSDT", as_given(off_tick), Wait.NOTHING)

    assert (raised.value.code, raised.value.msg) == (
        ErrorCode.FILTER_FAILURE, "Filter failure: PRICE_FILTER")
    assert (count(db, "orders"), publisher.published) == (0, [])
    assert user_account(db, alice, "USDT") == (20_000 * USDT, 0)


def test_the_result_is_awaited_until_the_deadline_then_answered_as_it_is(
    alice: int, intake: Intake, clock: SleeplessClock
) -> None:
    placed = order_intake.place(intake, "BTCUSDT", as_given(limit_buy(alice)), Wait.FILLS)

    assert placed.matched is not None
    assert (placed.matched["status"], placed.matched["accepted_seq"]) == ("NEW", None)
    assert placed.fills == []
    assert clock.now == pytest.approx(intake.result_wait_s)


def test_a_cancel_is_published_and_only_an_open_order_can_be_cancelled(
    db: Conn, alice: int, intake: Intake, publisher: FakePublisher
) -> None:
    placed = order_intake.place(intake, "BTCUSDT", as_given(limit_buy(alice)), Wait.NOTHING)
    key = OrderKey(alice, "BTCUSDT", placed.order_id, None)

    market, order = order_intake.cancel(intake, key)
    db.execute("UPDATE orders SET status = 'CANCELED', locked_amount = 0")  # closed, as settled
    with pytest.raises(ApiError) as raised:
        order_intake.cancel(intake, key)

    assert (market.spec.symbol, order["id"]) == ("BTCUSDT", placed.order_id)
    assert [c.kind for c in publisher.published] == [CommandKind.PLACE, CommandKind.CANCEL]
    assert (raised.value.code, raised.value.msg) == (ErrorCode.CANCEL_REJECTED,
                                                     "Unknown order sent.")

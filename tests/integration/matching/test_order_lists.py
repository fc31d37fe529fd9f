"""OCO lists through the matcher: placed by the intake with one lock for the pair, both
legs accepted (or refused) together, linked again when a new instance rebuilds the book
from PostgreSQL, the lock moving to the leg that works, and a cancel ending both."""

from __future__ import annotations

from typing import Any

import psycopg

from chalicelib.domain.orders import NewOrder, OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.service_layer import order_lists
from chalicelib.service_layer.order_lists import NewOco, NewOto
from matching_cluster.service import repository as repo
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders

from .support import (
    BTC_UNIT,
    Market,
    balance,
    cancel,
    create_users,
    fund,
    new_order,
    order_row,
    place_orders,
    record_commands,
)
from .test_stop_orders import Matcher

Conn = psycopg.Connection[Any]
DOLLAR = 100  # USDT cents
TENTH = BTC_UNIT // 10


def leg(user_id: int, side: Side, order_type: OrderType, name: str, *, qty: int,
        price: int = 0, stop_price: int = 0) -> NewOrder:
    tif = TimeInForce.GTC if order_type in (OrderType.STOP_LOSS_LIMIT,
                                            OrderType.TAKE_PROFIT_LIMIT) else None
    return NewOrder(user_id, "BTCUSDT", f"{name}-{user_id}", side, order_type, tif, price,
                    qty, 0, SelfTradePrevention.NONE, stop_price)


def sell_oco(user_id: int, name: str) -> NewOco:
    """Take profit at 52,000 (LIMIT_MAKER), stop the loss at 49,000 (limit 48,500)."""
    return NewOco(f"{name}-list", leg(
        user_id, Side.SELL, OrderType.LIMIT_MAKER, f"{name}-above", qty=5 * TENTH,
        price=52_000 * DOLLAR), leg(
        user_id, Side.SELL, OrderType.STOP_LOSS_LIMIT, f"{name}-below", qty=5 * TENTH,
        price=48_500 * DOLLAR, stop_price=49_000 * DOLLAR))


def open_market(db: Conn, market: Market, matcher: Matcher, maker: int, taker: int) -> None:
    """The last trade price at 50,000."""
    matcher.apply(place_orders(db, market, [
        new_order(maker, Side.SELL, price=50_000 * DOLLAR, qty=TENTH),
        new_order(taker, Side.BUY, price=50_000 * DOLLAR, qty=TENTH)]))


def statuses(db: Conn, order_ids: list[int]) -> list[tuple[str, int]]:
    return [(order_row(db, o)["status"], order_row(db, o)["locked_amount"]) for o in order_ids]


def test_a_sell_oco_locks_once_survives_a_rebuild_and_its_stop_leg_inherits_the_lock(
    db: Conn, db_url: str, market: Market,
) -> None:
    maker, taker, seller = users = create_users(db, 3)
    fund(db, {(maker, "BTC"): 2 * BTC_UNIT, (maker, "USDT"): 200_000 * DOLLAR,
              (taker, "USDT"): 200_000 * DOLLAR, (taker, "BTC"): BTC_UNIT,
              (seller, "BTC"): BTC_UNIT})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        open_market(db, market, matcher, maker, taker)
        placed = order_lists.place_oco(db, sell_oco(seller, "oco"))
        stop_id, maker_id = placed.order_ids  # the below leg is recorded first
        matcher.apply([placed.command])
        assert statuses(db, [stop_id, maker_id]) == [("NEW", 0), ("NEW", 5 * TENTH)]
        assert balance(db, seller, "BTC") == (5 * TENTH, 5 * TENTH)  # locked once
        assert_locks_match_open_orders(db, users)

        matcher.restart()  # the legs come back linked from PostgreSQL
        snapshot = repo.load_book(db, market.spec)
        assert snapshot.oco_pairs == ((stop_id, maker_id),)
        # A trade at 49,000 sets the stop leg working: the LIMIT_MAKER leg expires and
        # its lock moves to the stop leg, which sells 0.4 into the bid and rests 0.1.
        matcher.apply(place_orders(db, market, [
            new_order(maker, Side.BUY, price=49_000 * DOLLAR, qty=5 * TENTH),
            new_order(taker, Side.SELL, price=49_000 * DOLLAR, qty=TENTH)]))

    assert statuses(db, [maker_id]) == [("EXPIRED", 0)]
    sold = order_row(db, stop_id)
    assert (sold["status"], sold["executed_qty"], sold["locked_amount"]) == (
        "PARTIALLY_FILLED", 4 * TENTH, TENTH)
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)


def test_a_buy_oco_filled_on_its_limit_maker_leg_expires_the_stop_and_frees_the_rest(
    db: Conn, db_url: str, market: Market,
) -> None:
    maker, taker, buyer = users = create_users(db, 3)
    fund(db, {(maker, "BTC"): 2 * BTC_UNIT, (taker, "USDT"): 200_000 * DOLLAR,
              (buyer, "USDT"): 30_000 * DOLLAR})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        open_market(db, market, matcher, maker, taker)
        # Buy 0.5 on a breakout above 51,000 (stop MARKET) or on a dip to 48,000.
        oco = NewOco("dip-or-breakout", leg(
            buyer, Side.BUY, OrderType.STOP_LOSS, "above", qty=5 * TENTH,
            stop_price=51_000 * DOLLAR), leg(
            buyer, Side.BUY, OrderType.LIMIT_MAKER, "below", qty=5 * TENTH,
            price=48_000 * DOLLAR))
        placed = order_lists.place_oco(db, oco)
        dip_id, breakout_id = placed.order_ids
        matcher.apply([placed.command])
        # The stop MARKET leg could spend everything: the list locks all of it, once.
        assert statuses(db, [dip_id, breakout_id]) == [
            ("NEW", 30_000 * DOLLAR), ("NEW", 0)]
        assert balance(db, buyer, "USDT") == (0, 30_000 * DOLLAR)
        matcher.apply(place_orders(db, market, [
            new_order(maker, Side.SELL, price=48_000 * DOLLAR, qty=5 * TENTH)]))

    assert statuses(db, [dip_id, breakout_id]) == [("FILLED", 0), ("EXPIRED", 0)]
    assert balance(db, buyer, "USDT") == (30_000 * DOLLAR - 24_000 * DOLLAR, 0)
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)


def test_cancelling_one_leg_cancels_both_and_frees_the_lock(
    db: Conn, db_url: str, market: Market,
) -> None:
    maker, taker, seller = users = create_users(db, 3)
    fund(db, {(maker, "BTC"): BTC_UNIT, (taker, "USDT"): 100_000 * DOLLAR,
              (seller, "BTC"): BTC_UNIT})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        open_market(db, market, matcher, maker, taker)
        placed = order_lists.place_oco(db, sell_oco(seller, "cancelled"))
        stop_id, maker_id = placed.order_ids
        matcher.apply([placed.command])
        matcher.apply(record_commands(db, [cancel(market, seller, stop_id)]))

    assert statuses(db, [stop_id, maker_id]) == [("CANCELED", 0), ("CANCELED", 0)]
    assert balance(db, seller, "BTC") == (BTC_UNIT, 0)
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)


def test_an_oco_the_price_has_moved_past_is_refused_whole_and_unlocked(
    db: Conn, db_url: str, market: Market,
) -> None:
    maker, taker, seller = users = create_users(db, 3)
    fund(db, {(maker, "BTC"): BTC_UNIT, (taker, "USDT"): 100_000 * DOLLAR,
              (seller, "BTC"): BTC_UNIT})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        open_market(db, market, matcher, maker, taker)
        placed = order_lists.place_oco(db, sell_oco(seller, "late"))
        # Before the matcher sees the list, a trade at 48,000 passes its stop price.
        matcher.apply([*place_orders(db, market, [
            new_order(maker, Side.SELL, price=48_000 * DOLLAR, qty=TENTH),
            new_order(taker, Side.BUY, price=48_000 * DOLLAR, qty=TENTH)]), placed.command])

    assert statuses(db, placed.order_ids) == [("REJECTED", 0), ("REJECTED", 0)]
    assert balance(db, seller, "BTC") == (BTC_UNIT, 0)
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)



def buy_then_bracket(user_id: int, name: str) -> NewOto:
    """An OTOCO: buy 0.5 at 50,000; once bought, take profit at 52,000 or stop the loss
    at 48,000 (limit 47,500)."""
    working = NewOrder(user_id, "BTCUSDT", f"{name}-working", Side.BUY, OrderType.LIMIT,
                       TimeInForce.GTC, 50_000 * DOLLAR, 5 * TENTH, 0,
                       SelfTradePrevention.NONE)
    return NewOto(f"{name}-list", working, (
        leg(user_id, Side.SELL, OrderType.LIMIT_MAKER, f"{name}-above", qty=5 * TENTH,
            price=52_000 * DOLLAR),
        leg(user_id, Side.SELL, OrderType.STOP_LOSS_LIMIT, f"{name}-below", qty=5 * TENTH,
            price=47_500 * DOLLAR, stop_price=48_000 * DOLLAR)))


def test_an_otoco_waits_through_a_rebuild_and_places_its_pair_when_the_working_order_fills(
    db: Conn, db_url: str, market: Market,
) -> None:
    maker, taker, trader = users = create_users(db, 3)
    fund(db, {(maker, "BTC"): 2 * BTC_UNIT, (taker, "USDT"): 200_000 * DOLLAR,
              (trader, "USDT"): 30_000 * DOLLAR, (trader, "BTC"): TENTH * 5})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        placed = order_lists.place_oto(db, buy_then_bracket(trader, "bracket"))
        working_id, stop_id, take_id = placed.order_ids
        matcher.apply([placed.command])
        # The working order rests; the pair waits with its own lock (Binance's OTO).
        assert statuses(db, [working_id, stop_id, take_id]) == [
            ("NEW", 25_000 * DOLLAR), ("PENDING_NEW", 0), ("PENDING_NEW", 5 * TENTH)]
        assert_locks_match_open_orders(db, users)

        matcher.restart()  # the pending pair comes back from PostgreSQL
        snapshot = repo.load_book(db, market.spec)
        assert [(p.working_id, p.order_id) for p in snapshot.pending] == [
            (working_id, take_id), (working_id, stop_id)]  # above first
        matcher.apply(place_orders(db, market, [
            new_order(maker, Side.SELL, price=50_000 * DOLLAR, qty=5 * TENTH)]))
        assert statuses(db, [working_id, stop_id, take_id]) == [
            ("FILLED", 0), ("NEW", 0), ("NEW", 5 * TENTH)]
        assert repo.load_book(db, market.spec).oco_pairs == ((stop_id, take_id),)
        matcher.apply(record_commands(db, [cancel(market, trader, stop_id)]))

    assert statuses(db, [stop_id, take_id]) == [("CANCELED", 0), ("CANCELED", 0)]
    assert balance(db, trader, "BTC")[1] == 0
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)


def test_cancelling_an_otos_working_order_ends_its_pending_order_and_frees_both_locks(
    db: Conn, db_url: str, market: Market,
) -> None:
    (trader,) = users = create_users(db, 1)
    fund(db, {(trader, "USDT"): 30_000 * DOLLAR, (trader, "BTC"): TENTH * 5})
    with psycopg.connect(db_url, autocommit=True) as conn:
        matcher = Matcher(conn)
        oto = buy_then_bracket(trader, "single")
        placed = order_lists.place_oto(db, NewOto(oto.list_client_order_id, oto.working,
                                                  oto.pending[:1]))
        working_id, pending_id = placed.order_ids
        matcher.apply([placed.command])
        matcher.apply(record_commands(db, [cancel(market, trader, pending_id)]))

    assert statuses(db, [working_id, pending_id]) == [("CANCELED", 0), ("CANCELED", 0)]
    assert balance(db, trader, "USDT") == (30_000 * DOLLAR, 0)
    assert balance(db, trader, "BTC") == (TENTH * 5, 0)
    assert_locks_match_open_orders(db, users)
    assert_ledger_invariants(db)


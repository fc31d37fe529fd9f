"""Orders through Kafka into a running matcher, settled in PostgreSQL: exact balances,
locks, fees and ledger after each scenario (no API involved)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from confluent_kafka import Producer

from chalicelib.domain.orders import NewOrder, OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.domain.stream_events import DepthEvent, TradeEvent, decode
from matching_cluster.service.consumer import Matcher
from tests.support.ledger import assert_ledger_invariants

from .conftest import Topics
from .support import (
    BTC_UNIT,
    Market,
    amend,
    balance,
    cancel,
    cancel_all,
    create_users,
    fee_balance,
    fund,
    new_order,
    order_row,
    place_orders,
    publish,
    read_topic,
    record_commands,
    wait_applied,
)

Conn = psycopg.Connection[Any]
USD = 100  # cents per dollar
PRICE_50K = 50_000 * USD


def submit(db: Conn, producer: Producer, topics: Topics, market: Market,
           orders: list[NewOrder]) -> list[int]:
    commands = place_orders(db, market, orders)
    publish(producer, topics.orders, commands)
    wait_applied(db, [c.command_id for c in commands])
    return [c.order_id for c in commands]


def assert_locks_match_open_orders(db: Conn) -> None:
    """Invariant 3: every user's locked funds equal what their open orders hold."""
    rows = db.execute(
        "SELECT b.user_id, b.asset, b.locked, coalesce(o.held, 0) FROM balances b"
        " LEFT JOIN (SELECT o.user_id, CASE o.side WHEN 'BUY' THEN m.quote_asset"
        "  ELSE m.base_asset END AS asset, sum(o.locked_amount) AS held"
        "  FROM orders o JOIN markets m ON m.symbol = o.market"
        "  WHERE o.status IN ('NEW', 'PARTIALLY_FILLED') GROUP BY 1, 2) o"
        " ON o.user_id = b.user_id AND o.asset = b.asset"
        " WHERE b.account_kind = 'USER' AND b.locked <> coalesce(o.held, 0)").fetchall()
    assert rows == []


def test_limit_fill_amend_cancel_and_duplicates(
    db: Conn, producer: Producer, topics: Topics, market: Market,
    start_matcher: Callable[[str], Matcher], redis_client: redis.Redis, kafka_bootstrap: str,
) -> None:
    start_matcher("m1")
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): BTC_UNIT, (buyer, "USDT"): 100_000 * USD})

    (sell_id,) = submit(db, producer, topics, market, [
        new_order(seller, Side.SELL, price=PRICE_50K, qty=BTC_UNIT // 2)])
    # Buys 0.3 BTC with a 51,000 limit: fills at the maker's 50,000, the difference returns.
    buy_commands = place_orders(db, market, [
        new_order(buyer, Side.BUY, price=51_000 * USD, qty=3 * BTC_UNIT // 10)])
    publish(producer, topics.orders, buy_commands * 2)  # delivered twice: applied once
    wait_applied(db, [buy_commands[0].command_id])

    quote_qty = 15_000 * USD
    buyer_fee = 3 * BTC_UNIT // 10 * 2 // 1000  # taker 0.2 % of the base received
    seller_fee = quote_qty // 1000  # maker 0.1 % of the quote received
    assert balance(db, buyer, "USDT") == (100_000 * USD - quote_qty, 0)
    assert balance(db, buyer, "BTC") == (3 * BTC_UNIT // 10 - buyer_fee, 0)
    assert balance(db, seller, "BTC") == (BTC_UNIT // 2, 2 * BTC_UNIT // 10)
    assert balance(db, seller, "USDT") == (quote_qty - seller_fee, 0)
    assert (fee_balance(db, "BTC"), fee_balance(db, "USDT")) == (buyer_fee, seller_fee)
    assert order_row(db, buy_commands[0].order_id)["status"] == "FILLED"
    sell = order_row(db, sell_id)
    assert (sell["status"], sell["executed_qty"], sell["locked_amount"]) == (
        "PARTIALLY_FILLED", 3 * BTC_UNIT // 10, 2 * BTC_UNIT // 10)
    trades = db.execute("SELECT id, sequence, price, quantity, quote_quantity, buyer_is_maker,"
                        " maker_fee, maker_fee_asset, taker_fee, taker_fee_asset FROM trades"
                        ).fetchall()
    assert [tuple(int(v) if not isinstance(v, str | bool) else v for v in t) for t in trades] == [
        (1, 3, PRICE_50K, 3 * BTC_UNIT // 10, quote_qty, False, seller_fee, "USDT",
         buyer_fee, "BTC")]

    # Amend the rest down to 0.1 BTC (0.4 total), then cancel it; each command sent twice.
    (amend_cmd,) = record_commands(db, [amend(market, seller, sell_id, 4 * BTC_UNIT // 10)])
    publish(producer, topics.orders, [amend_cmd, amend_cmd])
    wait_applied(db, [amend_cmd.command_id])
    assert balance(db, seller, "BTC") == (6 * BTC_UNIT // 10, BTC_UNIT // 10)
    (cancel_cmd,) = record_commands(db, [cancel(market, seller, sell_id)])
    publish(producer, topics.orders, [cancel_cmd, *buy_commands, cancel_cmd])
    wait_applied(db, [cancel_cmd.command_id])
    assert balance(db, seller, "BTC") == (7 * BTC_UNIT // 10, 0)
    assert order_row(db, sell_id)["status"] == "CANCELED"
    assert db.execute("SELECT count(*) FROM trades").fetchone() == (1,)
    assert_locks_match_open_orders(db)
    assert_ledger_invariants(db)

    # After commit: Redis market data and the published events.
    last = json.loads(redis_client.get("last:BTCUSDT") or b"{}")
    assert last == {"seq": 3, "price": str(PRICE_50K), "trade_id": 1}
    assert json.loads(redis_client.get("book:BTCUSDT") or b"{}")["asks"] == []
    events = [decode(m.value() or b"") for m in read_topic(kafka_bootstrap, topics.market_events)]
    trades = [e for e in events if isinstance(e, TradeEvent)]
    assert [t.trade_id for t in trades] == [1]
    executed_ms = db.execute(
        "SELECT (extract(epoch FROM executed_at) * 1000)::bigint FROM trades").fetchone()
    assert executed_ms == (trades[0].time_ms,)
    # Depth diffs chain without a gap from the market's first event: U = previous u + 1.
    depth = [e for e in events if isinstance(e, DepthEvent)]
    assert depth[0].first_seq == 1
    assert all(b.first_seq == a.last_seq + 1 for a, b in itertools.pairwise(depth))
    assert (depth[-1].last_seq,) == db.execute(
        "SELECT last_sequence FROM market_sequences WHERE market = 'BTCUSDT'").fetchone()


def test_messages_that_are_not_commands_are_skipped_and_the_orders_after_them_settle(
    db: Conn, producer: Producer, topics: Topics, market: Market,
    start_matcher: Callable[[str], Matcher],
) -> None:
    start_matcher("m1")
    seller, buyer = create_users(db, 2)
    fund(db, {(seller, "BTC"): BTC_UNIT, (buyer, "USDT"): 100_000 * USD})
    fields = cancel(market, seller, 1).to_fields()
    leg_not_an_object = {**fields, "legs": [2]}
    # Decodable, but an OCO has two legs: it would fail its batch on every retry.
    one_leg_oco = {**fields, "kind": "PLACE_OCO", "legs": [{**fields, "kind": "PLACE"}]}
    for value in (b"[1]", b"null", b"{", b"\xff", b'{"command_id": 1}',
                  json.dumps(leg_not_an_object).encode(), json.dumps(one_leg_oco).encode()):
        producer.produce(topics.orders, key=market.symbol, value=value)

    (sell_id,) = submit(db, producer, topics, market, [
        new_order(seller, Side.SELL, price=PRICE_50K, qty=BTC_UNIT // 10)])
    submit(db, producer, topics, market, [
        new_order(buyer, Side.BUY, price=PRICE_50K, qty=BTC_UNIT // 10)])

    assert order_row(db, sell_id)["status"] == "FILLED"
    assert balance(db, buyer, "BTC")[0] == BTC_UNIT // 10 - BTC_UNIT // 10 * 2 // 1000
    assert_ledger_invariants(db)


def test_market_ioc_fok_post_only_and_self_trade_prevention(
    db: Conn, producer: Producer, topics: Topics, market: Market,
    start_matcher: Callable[[str], Matcher],
) -> None:
    start_matcher("m1")
    maker, taker = create_users(db, 2)
    fund(db, {(maker, "BTC"): 10 * BTC_UNIT, (maker, "USDT"): 1_000_000 * USD,
              (taker, "BTC"): 10 * BTC_UNIT, (taker, "USDT"): 1_000_000 * USD})
    asks = submit(db, producer, topics, market, [
        new_order(maker, Side.SELL, price=PRICE_50K, qty=BTC_UNIT),
        new_order(maker, Side.SELL, price=PRICE_50K + 100 * USD, qty=BTC_UNIT)])
    submit(db, producer, topics, market, [
        # FOK for 3 BTC: only 2 on offer, nothing trades.
        new_order(taker, Side.BUY, price=60_000 * USD, qty=3 * BTC_UNIT, tif=TimeInForce.FOK),
        # Post-only that would take: rejected, lock released.
        new_order(taker, Side.BUY, OrderType.LIMIT_MAKER, price=PRICE_50K, qty=BTC_UNIT),
        # Market buy for 25,000 USDT: half a BTC at 50,000.
        new_order(taker, Side.BUY, OrderType.MARKET, quote_qty=25_000 * USD),
        # IOC for 1 BTC at 50,000: the remaining 0.5 fills, the rest expires.
        new_order(taker, Side.BUY, price=PRICE_50K, qty=BTC_UNIT, tif=TimeInForce.IOC),
        # Market buy by quantity (locks all available USDT): 0.5 BTC at 50,100.
        new_order(taker, Side.BUY, OrderType.MARKET, qty=BTC_UNIT // 2)])
    statuses = db.execute("SELECT status, done_reason FROM orders WHERE user_id = %s"
                          " ORDER BY id", (taker,)).fetchall()
    assert statuses == [("EXPIRED", "EXPIRED_FOK"), ("REJECTED", "REJECTED_POST_ONLY"),
                        ("FILLED", "FILLED"), ("EXPIRED", "EXPIRED_IOC"), ("FILLED", "FILLED")]
    spent = 50_000 * USD + 50_100 * USD // 2
    bought = 3 * BTC_UNIT // 2
    buyer_fees = 3 * (BTC_UNIT // 2) * 2 // 1000
    assert balance(db, taker, "USDT") == (1_000_000 * USD - spent, 0)
    assert balance(db, taker, "BTC") == (10 * BTC_UNIT + bought - buyer_fees, 0)
    assert order_row(db, asks[1])["locked_amount"] == BTC_UNIT // 2

    # Self-trade prevention: the maker's own crossing buy expires instead of trading.
    (stp_id,) = submit(db, producer, topics, market, [
        new_order(maker, Side.BUY, price=60_000 * USD, qty=BTC_UNIT,
                 stp=SelfTradePrevention.EXPIRE_TAKER)])
    assert order_row(db, stp_id)["status"] == "EXPIRED_IN_MATCH"
    assert db.execute("SELECT count(*) FROM trades").fetchone() == (3,)
    # ... and what it prevented is recorded, once: the ask it met and what that had left.
    assert db.execute(
        "SELECT market, taker_order_id, maker_order_id, user_id, mode, price,"
        " maker_prevented_quantity FROM prevented_matches").fetchall() == [
        (market.symbol, stp_id, asks[1], maker, "EXPIRE_TAKER", PRICE_50K + 100 * USD,
         BTC_UNIT // 2)]
    # Market sell by quantity into an empty bid side: expires, lock released.
    (sell_id,) = submit(db, producer, topics, market, [
        new_order(taker, Side.SELL, OrderType.MARKET, qty=BTC_UNIT)])
    assert order_row(db, sell_id)["status"] == "EXPIRED"
    assert balance(db, taker, "BTC")[1] == 0
    # Cancel-all frees the maker's last resting ask.
    (cancel_all_cmd,) = record_commands(db, [cancel_all(market, maker)])
    publish(producer, topics.orders, [cancel_all_cmd])
    wait_applied(db, [cancel_all_cmd.command_id])
    assert order_row(db, asks[1])["status"] == "CANCELED"
    assert balance(db, maker, "BTC") == (10 * BTC_UNIT - 3 * BTC_UNIT // 2, 0)
    assert_locks_match_open_orders(db)
    assert_ledger_invariants(db)


def test_halted_market_rejects_orders_but_accepts_cancels(
    db: Conn, producer: Producer, topics: Topics, market: Market,
    start_matcher: Callable[[str], Matcher],
) -> None:
    start_matcher("m1")
    (user,) = create_users(db, 1)
    fund(db, {(user, "USDT"): 100_000 * USD})
    (resting,) = submit(db, producer, topics, market, [
        new_order(user, Side.BUY, price=PRICE_50K, qty=BTC_UNIT)])
    db.execute("UPDATE markets SET status = 'HALT' WHERE symbol = %s", (market.symbol,))

    (refused,) = submit(db, producer, topics, market, [
        new_order(user, Side.BUY, price=PRICE_50K, qty=BTC_UNIT)])
    assert order_row(db, refused)["status"] == "REJECTED"
    assert order_row(db, refused)["done_reason"] == "MARKET_HALTED"
    assert balance(db, user, "USDT") == (50_000 * USD, 50_000 * USD)
    (cancel_cmd,) = record_commands(db, [cancel(market, user, resting)])
    publish(producer, topics.orders, [cancel_cmd])
    wait_applied(db, [cancel_cmd.command_id])
    assert order_row(db, resting)["status"] == "CANCELED"
    assert balance(db, user, "USDT") == (100_000 * USD, 0)
    assert_ledger_invariants(db)

"""A trading bot written against python-binance, as a bot author would write it: a
market-making loop that quotes around a reference price, cancels stale quotes and now
and then takes liquidity, for a few hundred iterations. At the end what the bot knows
through the library (its open orders, its balances, its trades) equals the database."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import psycopg
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.e2e.clients.conftest import Trader
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
ITERATIONS = 300
UNKNOWN_ORDER = -2011


class QuotingBot:
    """Quotes one-lot bids and asks within 1 % of a reference price and keeps a list of
    its resting orders from the answers it gets."""

    def __init__(self, client: Client, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.resting: dict[int, dict[str, Any]] = {}

    def quote(self, reference: Decimal) -> None:
        side = self.rng.choice(["BUY", "SELL"])
        offset = Decimal(self.rng.randint(1, 100)) / 100
        price = reference - offset if side == "BUY" else reference + offset
        placed = self.client.create_order(
            symbol=SYMBOL, side=side, type="LIMIT", timeInForce="GTC",
            quantity=f"0.{self.rng.randint(1, 9):03d}", price=f"{price:.2f}")
        if placed["status"] in ("NEW", "PARTIALLY_FILLED"):
            self.resting[placed["orderId"]] = placed

    def cancel_one(self) -> None:
        if not self.resting:
            return
        order_id = self.rng.choice(sorted(self.resting))
        self.resting.pop(order_id)
        try:
            cancelled = self.client.cancel_order(symbol=SYMBOL, orderId=order_id)
        except BinanceAPIException as refused:
            # Filled by a taker since it was placed: Binance's "Unknown order sent."
            if refused.code != UNKNOWN_ORDER:
                raise
            return
        assert cancelled["orderId"] == order_id


def take(client: Client, rng: random.Random) -> None:
    client.create_order(symbol=SYMBOL, side=rng.choice(["BUY", "SELL"]), type="MARKET",
                        quantity="0.002")


def test_a_quoting_bot_sees_what_the_database_holds(maker: Trader, taker: Trader,
                                                    db: Conn) -> None:
    rng = random.Random(13)
    bot = QuotingBot(maker.pb, rng)
    reference = Decimal("20000")
    for _ in range(ITERATIONS):
        action = rng.random()
        if action < 0.6:
            bot.quote(reference)
        elif action < 0.9:
            bot.cancel_one()
        else:
            take(taker.pb, rng)
    wait_until_settled(db, SYMBOL)

    open_orders = {o["orderId"]: o for o in maker.pb.get_open_orders(symbol=SYMBOL)}
    in_db = {int(order_id): (status, executed) for order_id, status, executed in db.execute(
        "SELECT id, status, executed_qty FROM orders WHERE user_id = %s"
        " AND status IN ('NEW', 'PARTIALLY_FILLED')", (maker.caller.user_id,)).fetchall()}
    assert set(open_orders) == set(in_db)
    for order_id, order in open_orders.items():
        assert order["status"] == in_db[order_id][0]
    assert set(open_orders) <= set(bot.resting), "an order the bot never placed is open"

    balances = {b["asset"]: b for b in maker.pb.get_account()["balances"]}
    for asset, available, locked, scale in db.execute(
            "SELECT b.asset, b.available, b.locked, a.scale FROM balances b"
            " JOIN assets a ON a.symbol = b.asset"
            " WHERE b.account_kind = 'USER' AND b.user_id = %s",
            (maker.caller.user_id,)).fetchall():
        assert Decimal(balances[asset]["free"]) == Decimal(available).scaleb(-scale)
        assert Decimal(balances[asset]["locked"]) == Decimal(locked).scaleb(-scale)

    trades = maker.pb.get_my_trades(symbol=SYMBOL, limit=1000)
    (trade_count,) = db.execute(
        "SELECT count(*) FROM trades WHERE maker_user_id = %s OR taker_user_id = %s",
        (maker.caller.user_id, maker.caller.user_id)).fetchone() or (0,)
    assert len(trades) == trade_count > 0
    assert_ledger_invariants(db)

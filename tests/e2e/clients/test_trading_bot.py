"""A trading bot written against python-binance, as a bot author would write it: a
market-making loop that quotes around a reference price, amends quotes (cancelReplace),
cancels stale ones and now and then takes liquidity, for a few hundred iterations, while
it follows its user stream (python-binance's user socket). At the end what the bot knows
through the library (its open orders, its balances, its trades) and what its stream told
it (every order's status, its balances) equal the database."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import TracebackType
from typing import Any

import psycopg
import pytest
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException
from binance.ws.streams import BinanceSocketManager
from binance.ws.websocket_api import WebsocketAPI

from chalicelib.domain.clock import ManualClock
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from tests.e2e.clients.conftest import Trader, counted_on_a_set_clock
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    WAIT_SECONDS,
    gateway,
    stream_url_fixture,
    streaming,
)
from tests.e2e.conftest import ApiKey
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
ITERATIONS = 300
UNKNOWN_ORDER = -2011
CANCEL_REPLACE_FAILED = -2022  # STOP_ON_FAILURE: the cancel failed, nothing was placed
ORDERS_PER_10S = 100  # exchangeInfo's ORDERS limit


class QuotingBot:
    """Quotes one-lot bids and asks within 1 % of a reference price and keeps a list of
    its resting orders from the answers it gets. It keeps under the ORDERS limit by the
    count each placement answers with (``X-MBX-ORDER-COUNT-10S``), waiting for the next
    window (``next_window``) before the limit would refuse it."""

    def __init__(self, client: Client, rng: random.Random,
                 next_window: Callable[[], None]) -> None:
        self.client = client
        self.rng = rng
        self.next_window = next_window
        self.resting: dict[int, dict[str, Any]] = {}

    def mind_the_order_limit(self) -> None:
        if int(self.client.response.headers["X-MBX-ORDER-COUNT-10S"]) >= ORDERS_PER_10S - 1:
            self.next_window()

    def quote(self, reference: Decimal) -> None:
        side = self.rng.choice(["BUY", "SELL"])
        offset = Decimal(self.rng.randint(1, 100)) / 100
        price = reference - offset if side == "BUY" else reference + offset
        placed = self.client.create_order(
            symbol=SYMBOL, side=side, type="LIMIT", timeInForce="GTC",
            quantity=f"0.{self.rng.randint(1, 9):03d}", price=f"{price:.2f}")
        self.mind_the_order_limit()
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

    def amend_one(self, reference: Decimal) -> None:
        """Move a resting quote to a new price and size in one cancelReplace."""
        if not self.resting:
            return
        order_id = self.rng.choice(sorted(self.resting))
        side = self.resting.pop(order_id)["side"]
        offset = Decimal(self.rng.randint(1, 100)) / 100
        price = reference - offset if side == "BUY" else reference + offset
        try:
            answer = self.client.cancel_replace_order(
                symbol=SYMBOL, cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=order_id,
                side=side, type="LIMIT", timeInForce="GTC",
                quantity=f"0.{self.rng.randint(1, 9):03d}", price=f"{price:.2f}")
        except BinanceAPIException as refused:
            # Filled since it was placed: the cancel fails and nothing is placed.
            if refused.code != CANCEL_REPLACE_FAILED:
                raise
            return
        self.mind_the_order_limit()
        assert answer["cancelResponse"]["orderId"] == order_id
        placed = answer["newOrderResponse"]
        if placed["status"] in ("NEW", "PARTIALLY_FILLED"):
            self.resting[placed["orderId"]] = placed


class UserStream:
    """The bot's user stream (python-binance's ``user_socket``, over the WebSocket API),
    read in a thread of its own: the last status the stream gave each order and the last
    free and locked amounts it gave each asset."""

    def __init__(self, stream_url: str, key: ApiKey) -> None:
        self.url = f"{stream_url}/ws-api/v3"
        self.key = key
        self.statuses: dict[int, str] = {}
        self.balances: dict[str, tuple[Decimal, Decimal]] = {}
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._follow()))

    def __enter__(self) -> UserStream:
        self._thread.start()
        assert self._subscribed.wait(WAIT_SECONDS), "the user stream did not subscribe"
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stopping.set()
        self._thread.join(WAIT_SECONDS)

    async def _follow(self) -> None:
        client = AsyncClient(self.key.api_key, self.key.secret)
        client.ws_api = WebsocketAPI(url=self.url)
        try:
            async with BinanceSocketManager(client).user_socket() as socket:
                self._subscribed.set()
                while not self._stopping.is_set():
                    try:
                        self._take(await asyncio.wait_for(socket.recv(), 0.2))
                    except TimeoutError:
                        continue
        finally:
            await client.close_connection()

    def _take(self, event: dict[str, Any]) -> None:
        if event["e"] == "executionReport":
            self.statuses[event["i"]] = event["X"]
        elif event["e"] == "outboundAccountPosition":
            for balance in event["B"]:
                self.balances[balance["a"]] = (Decimal(balance["f"]), Decimal(balance["l"]))


def take(client: Client, rng: random.Random, next_window: Callable[[], None]) -> None:
    client.create_order(symbol=SYMBOL, side=rng.choice(["BUY", "SELL"]), type="MARKET",
                        quantity="0.002")
    if int(client.response.headers["X-MBX-ORDER-COUNT-10S"]) >= ORDERS_PER_10S - 1:
        next_window()


@pytest.fixture
def clock(api_app: ExchangeApp, streaming: Settings) -> Iterator[ManualClock]:  # noqa: F811
    """The set clock of the order counts, with the API answering through the gateway."""
    with counted_on_a_set_clock(api_app, streaming) as frozen:
        yield frozen


def test_a_quoting_bot_sees_what_the_database_holds(maker: Trader, taker: Trader,
                                                    stream_url: str, clock: ManualClock,
                                                    db: Conn) -> None:
    rng = random.Random(13)

    def next_window() -> None:
        clock.advance(10_000)  # where a bot on Binance would sleep

    bot = QuotingBot(maker.pb, rng, next_window)
    reference = Decimal("20000")
    with UserStream(stream_url, maker.key) as stream:
        for _ in range(ITERATIONS):
            action = rng.random()
            if action < 0.45:
                bot.quote(reference)
            elif action < 0.65:
                bot.amend_one(reference)
            elif action < 0.9:
                bot.cancel_one()
            else:
                take(taker.pb, rng, next_window)
        wait_until_settled(db, SYMBOL)
        assert_stream_told(stream, maker, db)

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


def assert_stream_told(stream: UserStream, trader: Trader, db: Conn) -> None:
    """Once the stream has caught up: every order's last reported status and every
    asset's last reported balance are the database's."""
    statuses = dict(db.execute("SELECT id, status FROM orders WHERE user_id = %s",
                               (trader.caller.user_id,)).fetchall())
    balances = {asset: (Decimal(available).scaleb(-scale), Decimal(locked).scaleb(-scale))
                for asset, available, locked, scale in db.execute(
                    "SELECT b.asset, b.available, b.locked, a.scale FROM balances b"
                    " JOIN assets a ON a.symbol = b.asset"
                    " WHERE b.account_kind = 'USER' AND b.user_id = %s AND b.asset IN"
                    " ('BTC', 'USDT')", (trader.caller.user_id,)).fetchall()}
    wait_until(lambda: stream.statuses == statuses and stream.balances == balances,
               timeout=WAIT_SECONDS, what="the user stream to tell every order and balance")
    assert {"CANCELED", "FILLED"} <= set(statuses.values())

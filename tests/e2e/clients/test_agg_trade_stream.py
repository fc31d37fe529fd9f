"""The ``@aggTrade`` stream agrees with ``/api/v3/aggTrades``: a taker that sweeps
several makers at two prices streams two aggregates, whole, with the ids, quantities
and trade ranges the REST route shows, so a client that merges both (Binance's "local
aggTrade history") counts nothing twice. Through the official connector's
``SpotWebsocketStreamClient.agg_trade`` and python-binance's ``aggtrade_socket``."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import psycopg
from binance.async_client import AsyncClient
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient
from binance.ws.streams import BinanceSocketManager

from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    SYMBOL,
    WAIT_SECONDS,
    Inbox,
    assert_like_example,
    example,
    gateway,
    stream_url_fixture,
    streaming,
    trade,
)
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]

# The maker's asks the taker's market buy of 0.7 BTC takes: three at 20000, one above.
ASKS = [("0.1", "20000"), ("0.2", "20000"), ("0.3", "20000"), ("0.1", "20001")]
SWEPT = "0.7"
# (price, quantity, trades) of each aggregate: the sweep's two, then a lone trade's.
EXPECTED = [(Decimal("20000"), Decimal("0.6"), 3), (Decimal("20001"), Decimal("0.1"), 1),
            (Decimal("20000"), Decimal("0.1"), 1)]
REST_FIELDS = ["a", "p", "q", "f", "l", "T", "m", "M"]


def sweep_then_trade_once(maker: Trader, taker: Trader) -> None:
    """Four fills of one market buy at two prices, then one more trade: if the stream
    sent a message per trade, the third message would still be the sweep's."""
    for qty, price in ASKS:
        maker.pb.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                              quantity=qty, price=price)
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=SWEPT)
    trade(maker, taker)


def summary(aggs: list[dict[str, Any]]) -> list[tuple[Decimal, Decimal, int]]:
    """(price, quantity, trades in it) of each aggregate."""
    return [(Decimal(a["p"]), Decimal(a["q"]), a["l"] - a["f"] + 1) for a in aggs]


def assert_streamed_as_rest(streamed: list[dict[str, Any]], rest: list[dict[str, Any]],
                            db: Conn) -> None:
    """Each payload in Binance's documented shape and, field by field, the REST row."""
    for payload in streamed:
        assert_like_example(payload, example("stream_aggTrade"))
        assert (payload["e"], payload["s"]) == ("aggTrade", SYMBOL)
    assert [{name: a[name] for name in REST_FIELDS} for a in streamed] == rest
    assert summary(streamed) == EXPECTED
    assert [a["m"] for a in streamed] == [False] * 3  # the buyer took
    # Every trade of the market in exactly one aggregate, ids contiguous.
    assert [a["a"] for a in streamed] == [a["f"] for a in streamed]
    assert all(b["f"] == a["l"] + 1 for a, b in itertools.pairwise(streamed))
    assert db.execute("SELECT min(id), max(id) FROM trades WHERE market = %s",
                      (SYMBOL,)).fetchone() == (streamed[0]["f"], streamed[-1]["l"])
    assert_ledger_invariants(db)


def test_the_connectors_agg_trade_stream_sends_the_rest_aggregates_whole(
        stream_url: str, maker: Trader, taker: Trader, db: Conn) -> None:
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=stream_url, on_message=inbox.on_message)
    try:
        client.agg_trade("btcusdt", id=1)
        assert inbox.wait_reply(1) == {"result": None, "id": 1}
        sweep_then_trade_once(maker, taker)
        streamed = wait_until(lambda: inbox.of_type("aggTrade"), timeout=WAIT_SECONDS,
                              until=lambda seen: len(seen) >= len(EXPECTED),
                              what="the aggregates of the sweep and of the lone trade")
    finally:
        client.stop()
    wait_until_settled(db, SYMBOL)
    rest = taker.spot.agg_trades(SYMBOL, fromId=streamed[0]["a"])
    assert_streamed_as_rest(streamed, rest, db)


def test_python_binances_aggtrade_socket_sends_the_rest_aggregates_whole(
        stream_url: str, maker: Trader, taker: Trader, db: Conn) -> None:
    async def listen() -> list[dict[str, Any]]:
        client = AsyncClient(maker.key.api_key, maker.key.secret)
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = f"{stream_url}/"
        try:
            async with manager.aggtrade_socket(SYMBOL) as aggs:
                await asyncio.to_thread(sweep_then_trade_once, maker, taker)
                return [await asyncio.wait_for(aggs.recv(), WAIT_SECONDS)
                        for _ in EXPECTED]
        finally:
            await client.close_connection()

    streamed = asyncio.run(listen())
    wait_until_settled(db, SYMBOL)
    rest = maker.pb.get_aggregate_trades(symbol=SYMBOL, fromId=streamed[0]["a"])
    assert_streamed_as_rest(streamed, rest, db)

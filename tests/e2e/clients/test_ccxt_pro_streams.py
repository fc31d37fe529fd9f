"""CCXT Pro's Binance class, unmodified but for its URLs and keys: market data over
``/ws/<n>`` with SUBSCRIBE (watch_trades, watch_ticker, watch_order_book) and the user
stream over the WebSocket API's ``userDataStream.subscribe.signature`` (watch_orders,
watch_balance)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt.pro
import psycopg

from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    SYMBOL,
    WAIT_SECONDS,
    gateway,
    stream_url_fixture,
    streaming,
    trade,
)
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants

Conn = psycopg.Connection[Any]
MARKET = "BTC/USDT"


def ccxt_pro(api_url: str, stream_url: str, trader: Trader) -> ccxt.pro.binance:
    """CCXT Pro's binance with its spot REST and WebSocket URLs pointed here."""
    exchange = ccxt.pro.binance({"apiKey": trader.key.api_key, "secret": trader.key.secret,
                                 "options": {"fetchMarkets": {"types": ["spot"]}}})
    urls = exchange.urls["api"]
    for name, url in list(urls.items()):
        if name.startswith("sapi"):
            urls[name] = f"{api_url}/sapi/{url.rsplit('/', 1)[1]}"
        elif name in ("public", "private", "v1"):
            urls[name] = f"{api_url}/api/{url.rsplit('/', 1)[1]}"
    urls["ws"]["spot"] = f"{stream_url}/ws"
    urls["ws"]["ws-api"]["spot"] = f"{stream_url}/ws-api/v3"
    return exchange


def test_ccxt_pro_watches_the_market_and_its_own_orders_and_balance(
        api_url: str, stream_url: str, maker: Trader, taker: Trader, db: Conn) -> None:
    async def watch() -> tuple[Any, Any, Any, Any]:
        exchange = ccxt_pro(api_url, stream_url, maker)
        try:
            await exchange.load_markets()
            watching = [asyncio.ensure_future(exchange.watch_trades(MARKET)),
                        asyncio.ensure_future(exchange.watch_orders(MARKET)),
                        asyncio.ensure_future(exchange.watch_balance())]
            book = await asyncio.wait_for(exchange.watch_order_book(MARKET), WAIT_SECONDS)
            await asyncio.to_thread(trade, maker, taker, "0.1", "20000")
            trades, orders, balance = await asyncio.wait_for(asyncio.gather(*watching),
                                                             WAIT_SECONDS)
            return book, trades, orders, balance
        finally:
            await exchange.close()

    book, trades, orders, balance = asyncio.run(watch())
    assert book["symbol"] == MARKET
    assert [(t["symbol"], t["price"], t["amount"]) for t in trades] == [(MARKET, 20000.0, 0.1)]
    assert {(o["symbol"], o["side"]) for o in orders} == {(MARKET, "sell")}
    assert {"BTC", "USDT"} <= set(balance["free"])
    wait_until_settled(db, SYMBOL)
    # The sell locked 0.1 BTC and the fill took it: free BTC is the same after either.
    held = {b["asset"]: Decimal(b["free"]) for b in maker.pb.get_account()["balances"]}
    assert Decimal(str(balance["free"]["BTC"])) == held["BTC"] == Decimal("9.9")
    assert_ledger_invariants(db)

"""Kline streams close on time, as Binance's do: a 1s candle of a market that then
stays quiet arrives with ``x: true`` once its second is over, without a later trade
(the matcher's time mark closes it), through the official connector's
``SpotWebsocketStreamClient.kline`` and python-binance's ``kline_socket``, each final
once; payloads field by field against Binance's documented example."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from binance.async_client import AsyncClient
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient
from binance.ws.streams import BinanceSocketManager

from chalicelib.settings import Settings
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.market_data_support import folding_candles
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


@pytest.fixture
def candles_folding(matcher: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with folding_candles(matcher, monkeypatch):
        yield


@pytest.mark.usefixtures("candles_folding")
def test_a_quiet_markets_1s_kline_arrives_final_without_a_later_trade(
        stream_url: str, maker: Trader, taker: Trader, db: Conn) -> None:
    inbox = Inbox()
    connector = SpotWebsocketStreamClient(stream_url=stream_url, on_message=inbox.on_message)

    async def listen() -> list[dict[str, Any]]:
        """python-binance's kline_socket, until its 1s candle arrives final."""
        client = AsyncClient(maker.key.api_key, maker.key.secret)
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = f"{stream_url}/"
        received: list[dict[str, Any]] = []
        try:
            async with manager.kline_socket(SYMBOL, interval="1s") as klines:
                connector.kline(symbol="btcusdt", interval="1s", id=1)
                await asyncio.to_thread(inbox.wait_reply, 1)
                await asyncio.to_thread(trade, maker, taker, "0.1", "20000")
                while not any(k["k"]["x"] for k in received):
                    received.append(await asyncio.wait_for(klines.recv(), WAIT_SECONDS))
        finally:
            await client.close_connection()
        return received

    try:
        by_python_binance = asyncio.run(listen())
        by_connector = wait_until(lambda: inbox.of_type("kline"),
                                  until=lambda ks: any(k["k"]["x"] for k in ks),
                                  timeout=WAIT_SECONDS, what="the connector's final kline")
    finally:
        connector.stop()

    wait_until_settled(db, SYMBOL)
    (trade_id, executed_ms) = db.execute(
        "SELECT id, floor(extract(epoch FROM executed_at) * 1000)::bigint FROM trades"
        " WHERE market = %s", (SYMBOL,)).fetchone() or (0, 0)
    second = executed_ms - executed_ms % 1000
    for klines in (by_python_binance, by_connector):
        for kline in klines:
            assert_like_example(kline, example("stream_kline"))
        (final,) = [k["k"] for k in klines if k["k"]["x"]]
        assert (final["i"], final["t"], final["T"], final["f"], final["L"], final["n"],
                final["o"], final["c"], final["v"]) == (
            "1s", second, second + 999, trade_id, trade_id, 1, "20000.000000",
            "20000.000000", "0.10000000")
    # No later trade closed it: there is none.
    assert db.execute("SELECT count(*) FROM trades WHERE market = %s",
                      (SYMBOL,)).fetchone() == (1,)
    assert_ledger_invariants(db)

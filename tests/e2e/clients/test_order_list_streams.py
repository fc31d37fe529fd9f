"""An order list on the user's listenKey stream: its orders' execution reports carry
the list's id (g), and a ``listStatus`` event announces the list when it is placed and
when it is all done, in Binance's documented shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from websockets.sync.client import connect

from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    SYMBOL,
    assert_like_example,
    example,
    gateway,
    stream_url_fixture,
    streaming,
    trade,
)
from tests.e2e.clients.test_user_streams import RawStream
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders

Conn = psycopg.Connection[Any]


@pytest.fixture
def user_stream(stream_url: str, maker: Trader) -> Iterator[RawStream]:
    """Alice's listenKey stream, read as CCXT reads it."""
    with connect(f"{stream_url}/ws/{maker.pb.stream_get_listen_key()}") as socket:
        yield RawStream(socket)


def test_an_oco_is_announced_when_placed_and_when_all_done(
        user_stream: RawStream, maker: Trader, taker: Trader, db: Conn) -> None:
    stream = user_stream
    trade(taker, maker, "0.1", "20000")  # the last price: 20000
    placed = maker.pb.create_oco_order(
        symbol=SYMBOL, side="SELL", quantity="0.1", listClientOrderId="streamed-oco",
        aboveType="LIMIT_MAKER", abovePrice="21000", belowType="STOP_LOSS",
        belowStopPrice="19000")
    started = stream.until(lambda m: m.get("e") == "listStatus")
    assert_like_example(started, example("user_listStatus"))
    assert (started["g"], started["c"], started["l"], started["L"], started["C"]) == (
        placed["orderListId"], "OCO", "EXEC_STARTED", "EXECUTING", "streamed-oco")
    assert [o["i"] for o in started["O"]] == [o["orderId"] for o in placed["orders"]]

    maker.spot.cancel_oco_order(SYMBOL, orderListId=placed["orderListId"])
    done = stream.until(lambda m: m.get("e") == "listStatus")
    assert (done["g"], done["l"], done["L"]) == (placed["orderListId"], "ALL_DONE", "ALL_DONE")
    reports = [m for m in stream.seen if m.get("e") == "executionReport"
               and m["i"] in {o["orderId"] for o in placed["orders"]}]
    assert {(r["g"], r["X"]) for r in reports} == {
        (placed["orderListId"], "NEW"), (placed["orderListId"], "CANCELED")}
    assert [m["l"] for m in stream.seen if m.get("e") == "listStatus"] == [
        "EXEC_STARTED", "ALL_DONE"]  # once each
    wait_until_settled(db, SYMBOL)
    assert_locks_match_open_orders(db, [maker.caller.user_id, taker.caller.user_id])
    assert_ledger_invariants(db)

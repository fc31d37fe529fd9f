"""`GET /api/v3/myPreventedMatches` through python-binance (`get_prevented_matches`) and
the connector (`query_prevented_matches`): a user's resting order met by their own
crossing order under each self-trade prevention mode, recorded as Binance lists it, with
no trade and no money moved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from tests.e2e.clients.amend_support import used_weight
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.shapes_support import assert_shaped_like, example
from tests.e2e.clients.streams_support import (  # noqa: F401 - fixtures
    Inbox,
    assert_like_example,
    gateway,
    stream_url_fixture,
    streaming,
)
from tests.e2e.settling import wait_until_settled
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
PRICE = "30000"
QTY = "0.01"


def balances(trader: Trader) -> dict[str, tuple[str, str]]:
    return {b["asset"]: (b["free"], b["locked"])
            for b in trader.pb.get_account()["balances"]}


def place(trader: Trader, side: str, stp: str) -> int:
    placed = trader.spot.new_order(SYMBOL, side, "LIMIT", timeInForce="GTC", quantity=QTY,
                                   price=PRICE, selfTradePreventionMode=stp)
    return int(placed["orderId"])


def status(trader: Trader, order_id: int) -> str:
    return str(trader.pb.get_order(symbol=SYMBOL, orderId=order_id)["status"])


# mode: (the taker's status, the maker's status) once STP has acted
OUTCOMES = {
    "EXPIRE_TAKER": ("EXPIRED_IN_MATCH", "NEW"),
    "EXPIRE_MAKER": ("NEW", "EXPIRED_IN_MATCH"),
    "EXPIRE_BOTH": ("EXPIRED_IN_MATCH", "EXPIRED_IN_MATCH"),
}


@pytest.mark.parametrize("mode", list(OUTCOMES))
def test_each_mode_records_the_match_it_prevented(maker: Trader, db: Conn,
                                                  mode: str) -> None:
    before = balances(maker)
    started_ms = int(time.time() * 1000)
    ask = place(maker, "SELL", "NONE")
    bid = place(maker, "BUY", mode)
    wait_until_settled(db, SYMBOL)

    by_order = maker.spot.query_prevented_matches(SYMBOL, orderId=bid)
    (listed,) = by_order
    by_id = maker.pb.get_prevented_matches(symbol=SYMBOL,
                                           preventedMatchId=listed["preventedMatchId"])
    by_maker = maker.pb.get_prevented_matches(symbol=SYMBOL, orderId=ask)

    assert by_id == by_maker == by_order
    assert_shaped_like(by_order, example("my_prevented_matches"))
    assert {k: v for k, v in listed.items() if k not in ("preventedMatchId", "transactTime",
                                                         "price", "makerPreventedQuantity")
            } == {"symbol": SYMBOL, "takerOrderId": bid, "makerSymbol": SYMBOL,
                  "makerOrderId": ask, "tradeGroupId": -1, "selfTradePreventionMode": mode}
    assert Decimal(listed["price"]) == Decimal(PRICE)
    assert Decimal(listed["makerPreventedQuantity"]) == Decimal(QTY)
    assert started_ms - 1000 <= listed["transactTime"] <= int(time.time() * 1000) + 1000
    assert (status(maker, bid), status(maker, ask)) == OUTCOMES[mode]
    assert maker.pb.get_my_trades(symbol=SYMBOL) == []

    if mode != "EXPIRE_BOTH":  # one of the two still rests
        maker.spot.cancel_open_orders(SYMBOL)
    wait_until_settled(db, SYMBOL)
    assert balances(maker) == before  # prevention moved no money
    assert_ledger_invariants(db)


def test_none_trades_and_prevents_nothing(maker: Trader, db: Conn) -> None:
    ask = place(maker, "SELL", "NONE")
    bid = place(maker, "BUY", "NONE")
    wait_until_settled(db, SYMBOL)

    assert maker.spot.query_prevented_matches(SYMBOL, orderId=bid) == []
    assert maker.pb.get_prevented_matches(symbol=SYMBOL, orderId=ask) == []
    assert (status(maker, bid), status(maker, ask)) == ("FILLED", "FILLED")
    assert_ledger_invariants(db)


def test_paging_by_order_and_weights(maker: Trader, db: Conn) -> None:
    asks = [place(maker, "SELL", "NONE") for _ in range(3)]
    bid = maker.spot.new_order(SYMBOL, "BUY", "LIMIT", timeInForce="GTC", quantity="0.03",
                               price=PRICE, selfTradePreventionMode="EXPIRE_MAKER")["orderId"]
    wait_until_settled(db, SYMBOL)

    every = maker.pb.get_prevented_matches(symbol=SYMBOL, orderId=bid)
    ids = [p["preventedMatchId"] for p in every]
    weight_before = used_weight(maker.pb)
    second_on = maker.pb.get_prevented_matches(symbol=SYMBOL, orderId=bid,
                                               fromPreventedMatchId=ids[1], limit=1)
    by_order_weight = used_weight(maker.pb) - weight_before
    maker.pb.get_prevented_matches(symbol=SYMBOL, preventedMatchId=ids[2])
    by_id_weight = used_weight(maker.pb) - weight_before - by_order_weight

    assert [p["makerOrderId"] for p in every] == asks  # in the order STP met them
    assert ids == sorted(ids)
    assert second_on == every[1:2]
    assert (by_order_weight, by_id_weight) == (20, 2)
    maker.spot.cancel_open_orders(SYMBOL)
    wait_until_settled(db, SYMBOL)
    assert_ledger_invariants(db)


@pytest.mark.parametrize("params", [{}, {"preventedMatchId": 1, "orderId": 1},
                                    {"preventedMatchId": 1, "fromPreventedMatchId": 1},
                                    {"fromPreventedMatchId": 1}])
def test_other_combinations_are_refused(maker: Trader, params: dict[str, int]) -> None:
    with pytest.raises(BinanceAPIException) as pb_error:
        maker.pb.get_prevented_matches(symbol=SYMBOL, **params)
    with pytest.raises(ClientError) as connector_error:
        maker.spot.query_prevented_matches(SYMBOL, **params)
    assert pb_error.value.code == connector_error.value.error_code == -1128


@pytest.fixture
def maker_inbox(stream_url: str, maker: Trader) -> Iterator[Inbox]:
    """The maker's listenKey, subscribed on a bare ``/ws`` by the connector."""
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=stream_url, on_message=inbox.on_message)
    try:
        client.user_data(listen_key=maker.spot.new_listen_key()["listenKey"], id=1)
        assert inbox.wait_reply(1) == {"result": None, "id": 1}
        yield inbox
    finally:
        client.stop()


def test_an_order_expired_by_stp_reports_what_it_prevented(maker_inbox: Inbox,
                                                          maker: Trader) -> None:
    ask = place(maker, "SELL", "NONE")
    bid = place(maker, "BUY", "EXPIRE_BOTH")
    (prevented,) = maker.pb.get_prevented_matches(symbol=SYMBOL, orderId=bid)

    def prevention_reports() -> list[dict[str, Any]]:
        return [r for r in maker_inbox.of_type("executionReport")
                if r["x"] == "TRADE_PREVENTION"]

    reports = wait_until(prevention_reports, until=lambda seen: len(seen) == 2,
                         timeout=30, what="both orders' TRADE_PREVENTION reports")
    for report in reports:
        assert_like_example(report, example("user_executionReport_trade_prevention"),
                            conditional=("W", "u"))  # u: only for trade groups
    assert sorted((r["i"], r["X"], r["V"], r["v"], r["U"], r["A"], r["B"])
                  for r in reports) == [
        (order, "EXPIRED_IN_MATCH", "NONE" if order == ask else "EXPIRE_BOTH",
         prevented["preventedMatchId"], other, prevented["makerPreventedQuantity"],
         prevented["makerPreventedQuantity"])
        for order, other in sorted([(ask, bid), (bid, ask)])]
    earlier = [r for r in maker_inbox.of_type("executionReport")
               if r["x"] != "TRADE_PREVENTION"]
    assert earlier  # the NEW reports, without the prevention fields
    assert all("v" not in r for r in earlier)

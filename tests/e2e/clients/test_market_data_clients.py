"""Market data through Binance's own libraries, unmodified: aggregate and historical
trades (python-binance and binance-connector), checked against the trades the matcher
wrote and against Binance's documented examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException

from chalicelib.service_layer import trade_history
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.market_data_support import (
    SYMBOL,
    Conn,
    assert_shaped_like,
    buy_market,
    db_trades,
    example,
    sell,
    settled,
)
from tests.support.ledger import assert_ledger_invariants

HOUR_MS = 3_600_000
TIME_SPAN_TOO_LONG, BAD_COMBINATION = -1127, -1128


@pytest.fixture
def traded(maker: Trader, taker: Trader, db: Conn) -> list[tuple[int, int, int, int, int, bool]]:
    """One market buy sweeping two asks at 20000 and one at 20001, then two market buys
    at 20002: four aggregates of four taker orders and prices, five trades."""
    for price in ("20000", "20000", "20001", "20002"):
        sell(maker, "0.01", price)
    buy_market(taker, "0.03")
    buy_market(taker, "0.005")
    buy_market(taker, "0.005")
    settled(db)
    rows = db_trades(db)
    assert len(rows) == 5
    assert_ledger_invariants(db)
    return rows


def summary(aggs: list[dict[str, Any]]) -> list[tuple[Decimal, Decimal, int, int, bool]]:
    """(price, quantity, first trade, last trade, buyer was maker) of each aggregate."""
    return [(Decimal(a["p"]), Decimal(a["q"]), a["f"], a["l"], a["m"]) for a in aggs]


def expected(rows: list[tuple[int, int, int, int, int, bool]]
             ) -> list[tuple[Decimal, Decimal, int, int, bool]]:
    first = rows[0][0]
    return [(Decimal(20000), Decimal("0.02"), first, first + 1, False),
            (Decimal(20001), Decimal("0.01"), first + 2, first + 2, False),
            (Decimal(20002), Decimal("0.005"), first + 3, first + 3, False),
            (Decimal(20002), Decimal("0.005"), first + 4, first + 4, False)]


@pytest.fixture(params=[trade_history.PAGE, 2], ids=["one-page", "two-trade-pages"])
def page(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Trades read per query: tiny pages make every aggregate span page boundaries."""
    monkeypatch.setattr(trade_history, "PAGE", request.param)
    return int(request.param)


def test_python_binance_reads_aggregates_newest_from_an_id_and_by_time(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]], page: int) -> None:
    client = maker.pb
    newest = client.get_aggregate_trades(symbol=SYMBOL)
    assert_shaped_like(newest, example("agg_trades"))
    assert summary(newest) == expected(traded)
    assert [a["a"] for a in newest] == [a["f"] for a in newest]
    assert [a["T"] for a in newest] == [traded[a["f"] - traded[0][0]][4] for a in newest]

    assert summary(client.get_aggregate_trades(symbol=SYMBOL, limit=2)) == expected(traded)[2:]
    second = newest[1]["a"]
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, fromId=second)) == \
        expected(traded)[1:]
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, fromId=second, limit=1)) == \
        expected(traded)[1:2]
    # An id inside the first aggregate starts at the next aggregate.
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, fromId=newest[0]["a"] + 1)) == \
        expected(traded)[1:]
    start = newest[0]["T"]
    assert summary(client.get_aggregate_trades(
        symbol=SYMBOL, startTime=start, endTime=start + HOUR_MS)) == expected(traded)
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, endTime=newest[-1]["T"],
                                               limit=1)) == expected(traded)[3:]
    assert client.get_aggregate_trades(symbol=SYMBOL, startTime=newest[-1]["T"] + 1) == []


def test_python_binance_iterates_every_aggregate(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    client = maker.pb
    every = list(client.aggregate_trade_iter(SYMBOL))
    assert summary(every) == expected(traded)
    after_first = list(client.aggregate_trade_iter(SYMBOL, last_id=every[0]["a"]))
    assert summary(after_first) == expected(traded)[1:]
    since = list(client.aggregate_trade_iter(SYMBOL, start_str=every[0]["T"]))
    assert summary(since) == expected(traded)


def test_the_connector_reads_aggregates(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]], page: int) -> None:
    spot = maker.spot
    newest = spot.agg_trades(SYMBOL)
    assert_shaped_like(newest, example("agg_trades"))
    assert summary(newest) == expected(traded)
    assert summary(spot.agg_trades(SYMBOL, fromId=newest[2]["a"], limit=5)) == \
        expected(traded)[2:]
    start = newest[0]["T"]
    assert summary(spot.agg_trades(SYMBOL, startTime=start, endTime=start + HOUR_MS,
                                   limit=1)) == expected(traded)[:1]


@pytest.mark.parametrize(("query", "code"), [
    ({"startTime": 0, "endTime": HOUR_MS + 1}, TIME_SPAN_TOO_LONG),
    ({"fromId": 1, "startTime": 0}, BAD_COMBINATION),
    ({"fromId": 1, "endTime": 0}, BAD_COMBINATION),
])
def test_aggregate_queries_binance_refuses_are_refused_by_both_libraries(
        maker: Trader, query: dict[str, int], code: int) -> None:
    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.get_aggregate_trades(symbol=SYMBOL, **query)
    assert (refused.value.status_code, refused.value.code) == (400, code)
    with pytest.raises(ClientError) as also_refused:
        maker.spot.agg_trades(SYMBOL, **query)
    assert (also_refused.value.status_code, also_refused.value.error_code) == (400, code)


def test_both_libraries_read_historical_trades_from_an_id(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    first = traded[0][0]
    older = maker.pb.get_historical_trades(symbol=SYMBOL, fromId=first + 1, limit=3)
    assert_shaped_like(older, example("historical_trades"))
    assert [(t["id"], Decimal(t["qty"]), t["time"]) for t in older] == [
        (i, Decimal(q).scaleb(-8), ms) for i, _, _, q, ms, _ in traded[1:4]]
    assert maker.spot.historical_trades(SYMBOL, fromId=first + 1, limit=3) == older
    assert maker.pb.get_historical_trades(symbol=SYMBOL) == \
        maker.pb.get_recent_trades(symbol=SYMBOL)
    assert maker.spot.historical_trades(SYMBOL, fromId=first + 5) == []

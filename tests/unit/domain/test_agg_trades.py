"""Aggregate trades: the consecutive fills of one taker order at one price."""

from __future__ import annotations

from chalicelib.domain.agg_trades import AggTrade, agg_trade_events, aggregate
from chalicelib.domain.stream_events import AggTradeEvent, TradeEvent

T = 1_700_000_000_000


def fill(trade_id: int, taker: int, price: int, qty: int = 1, time_ms: int = T) -> TradeEvent:
    return TradeEvent(market="BTCUSDT", seq=trade_id, trade_id=trade_id, time_ms=time_ms,
                      price=price, qty=qty, quote_qty=price * qty, buyer_is_maker=True,
                      maker_order_id=1000 + trade_id, taker_order_id=taker)


def test_one_takers_fills_at_one_price_are_one_aggregate_named_by_its_first_trade() -> None:
    trades = [fill(7, 1, 100, 2), fill(8, 1, 100, 3), fill(9, 1, 101), fill(10, 2, 101),
              fill(11, 2, 101, 5)]

    assert aggregate(trades) == [AggTrade(7, 100, 5, 7, 8, T, True),
                                 AggTrade(9, 101, 1, 9, 9, T, True),
                                 AggTrade(10, 101, 6, 10, 11, T, True)]


def test_a_price_that_comes_back_starts_a_new_aggregate() -> None:
    trades = [fill(1, 1, 100), fill(2, 1, 99), fill(3, 1, 100)]

    assert [a.agg_id for a in aggregate(trades)] == [1, 2, 3]


def test_the_aggregates_of_a_later_start_are_those_from_there_on() -> None:
    trades = [fill(i, 1 + i // 3, 100) for i in range(1, 10)]
    every = aggregate(trades)

    assert [a.agg_id for a in every] == [1, 3, 6, 9]
    assert [a for a in aggregate(trades[2:]) if a.agg_id >= 3] == every[1:]
    assert aggregate([]) == []


def test_a_batchs_aggregate_events_carry_the_sequence_of_their_last_trade() -> None:
    trades = [fill(7, 1, 100, 2), fill(8, 1, 100, 3), fill(9, 1, 101)]

    assert agg_trade_events("BTCUSDT", trades) == [
        AggTradeEvent(market="BTCUSDT", seq=8, agg_id=7, time_ms=T, price=100, qty=5,
                      first_trade_id=7, last_trade_id=8, buyer_is_maker=True),
        AggTradeEvent(market="BTCUSDT", seq=9, agg_id=9, time_ms=T, price=101, qty=1,
                      first_trade_id=9, last_trade_id=9, buyer_is_maker=True)]
    assert agg_trade_events("BTCUSDT", []) == []

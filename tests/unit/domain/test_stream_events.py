"""The events' wire format, byte for byte: the matcher, the candles function, the
fan-out and Redis all read what another of them wrote, possibly an older version."""

from __future__ import annotations

import pytest

from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.orders import OrderStatus, OrderType, Side
from chalicelib.domain.stream_events import (
    AggTradeEvent,
    DepthEvent,
    Event,
    KlineEvent,
    OrderEvent,
    TimeMarkEvent,
    TradeEvent,
    decode,
    decode_candle_input,
    decode_kline_member,
    decode_trade,
    encode,
    encode_kline_member,
)

TRADE = TradeEvent(market="BTCUSDT", seq=12, trade_id=7, time_ms=1_700_000_000_123,
                   price=2_000_000_000, qty=150_000, quote_qty=3_000_000, buyer_is_maker=True,
                   maker_order_id=3, taker_order_id=5)
AGG_TRADE = AggTradeEvent(market="BTCUSDT", seq=14, agg_id=7, time_ms=1_700_000_000_123,
                          price=2_000_000_000, qty=450_000, first_trade_id=7, last_trade_id=9,
                          buyer_is_maker=True)
DEPTH = DepthEvent(market="BTCUSDT", first_seq=11, last_seq=12, bids=[(1_999, 5)],
                   asks=[(2_001, 0)])
ORDER = OrderEvent(market="BTCUSDT", seq=12, batch_first_seq=11, order_id=5, user_id=20,
                   side=Side.SELL, order_type=OrderType.LIMIT, price=2_000_000_000,
                   quantity=300_000, executed_qty=150_000, cumulative_quote_qty=3_000_000,
                   status=OrderStatus.PARTIALLY_FILLED)
CANDLE = Candle("BTCUSDT", Interval.M1, 1_700_000_040_000, 1_700_000_099_999, 10, 12, 9, 11,
                100, 1050, 3, 40, 420, 5, 7)

GOLDEN: list[tuple[Event, bytes]] = [
    (TRADE, b'{"type":"trade","market":"BTCUSDT","seq":12,"trade_id":7,"time":1700000000123,'
            b'"price":"2000000000","qty":"150000","quote_qty":"3000000","buyer_is_maker":true,'
            b'"maker_order_id":3,"taker_order_id":5}'),
    (AGG_TRADE, b'{"type":"aggTrade","market":"BTCUSDT","seq":14,"agg_id":7,'
                b'"time":1700000000123,"price":"2000000000","qty":"450000","first_trade_id":7,'
                b'"last_trade_id":9,"buyer_is_maker":true}'),
    (DEPTH, b'{"type":"depth","market":"BTCUSDT","first_seq":11,"last_seq":12,'
            b'"bids":[["1999","5"]],"asks":[["2001","0"]]}'),
    (ORDER, b'{"type":"order","market":"BTCUSDT","seq":12,"batch_first_seq":11,"order_id":5,'
            b'"user_id":20,"side":"SELL","order_type":"LIMIT","price":"2000000000",'
            b'"quantity":"300000","executed_qty":"150000","cumulative_quote_qty":"3000000",'
            b'"status":"PARTIALLY_FILLED","done_reason":null}'),
    (KlineEvent.of(CANDLE),
     b'{"type":"kline","market":"BTCUSDT","interval":"1m","t":1700000040000,'
     b'"T":1700000099999,"o":"10","h":"12","l":"9","c":"11","v":"100","q":"1050","n":3,'
     b'"V":"40","Q":"420","f":5,"L":7,"closed":false}'),
]


@pytest.mark.parametrize(("event", "wire"), GOLDEN, ids=lambda v: getattr(v, "type", ""))
def test_events_keep_their_wire_format(event: Event, wire: bytes) -> None:
    assert encode(event) == wire
    assert decode(wire) == event


def test_redis_holds_trades_as_trade_events_and_candles_as_their_kline_fields() -> None:
    assert decode_trade(encode(TRADE)) == TRADE
    member = (b'{"t":1700000040000,"T":1700000099999,"o":"10","h":"12","l":"9","c":"11",'
              b'"v":"100","q":"1050","n":3,"V":"40","Q":"420","f":5,"L":7}')
    assert encode_kline_member(CANDLE) == member
    assert decode_kline_member("BTCUSDT", Interval.M1, member) == CANDLE
    assert KlineEvent.of(CANDLE).candle == CANDLE


def test_events_of_other_kinds_are_not_ours_to_read() -> None:
    assert decode(b'{"type":"candle_closed","market":"BTCUSDT"}') is None
    assert decode(b'{"market":"BTCUSDT"}') is None


@pytest.mark.parametrize(("wire", "problem"), [
    (b"not json", "Expecting value"), (b"[1, 2]", "an event is a JSON object"),
    (b'{"type":"trade","market":"BTCUSDT"}', "trade_id"),
    (encode(TRADE).replace(b'"price":"2000000000"', b'"price":"0"'), "price"),
    (encode(ORDER).replace(b'"SELL"', b'"SIDEWAYS"'), "side"),
])
def test_unreadable_events_raise_value_error(wire: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode(wire)


def test_a_time_mark_is_the_candles_functions_alone() -> None:
    mark = TimeMarkEvent(market="BTCUSDT", time_ms=1_700_000_001_000, last_trade_id=7)
    wire = b'{"type":"time","market":"BTCUSDT","time_ms":1700000001000,"last_trade_id":7}'
    assert encode(mark) == wire
    assert decode_candle_input(wire) == mark
    assert decode_candle_input(encode(TRADE)) == TRADE
    assert decode_candle_input(encode(DEPTH)) is None
    assert decode(wire) is None  # the streams never see it

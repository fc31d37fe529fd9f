"""The hand-written encoding of order and trade events gives the serializer's bytes,
for every status, side and type, big amounts, a missing batch sequence, and text that
JSON must escape (which goes to the serializer)."""

from __future__ import annotations

import itertools
import json

import pytest

from chalicelib.domain.orders import OrderStatus, OrderType, Side
from chalicelib.domain.stream_events import (
    _ENCODERS,
    OrderEvent,
    TradeEvent,
    decode,
    encode,
)

BIG = 10**38 - 1
REASONS = [None, "", "SELF_TRADE_PREVENTION", 'say "no"', "back\\slash", "é", "tab\there"]


def serialized(event: OrderEvent | TradeEvent) -> bytes:
    return _ENCODERS[type(event)].dump_json(event, by_alias=True)


@pytest.mark.parametrize(("status", "side", "order_type"),
                         list(itertools.product(OrderStatus, Side, OrderType)))
def test_order_events_encode_as_the_serializer_does(status: OrderStatus, side: Side,
                                                    order_type: OrderType) -> None:
    for reason, first_seq, amount in itertools.product(REASONS, [None, 0, 7], [0, 1, BIG]):
        event = OrderEvent(market="BTCUSDT", seq=2**62, batch_first_seq=first_seq, order_id=3,
                           user_id=4, side=side, order_type=order_type, price=amount,
                           quantity=amount + 1, executed_qty=amount, cumulative_quote_qty=BIG,
                           status=status, done_reason=reason)
        assert encode(event) == serialized(event)
        assert decode(encode(event)) == event


@pytest.mark.parametrize("market", ["BTCUSDT", "B", 'QUO"TE', "ÉTH"])
def test_trade_events_encode_as_the_serializer_does(market: str) -> None:
    for maker, amount in itertools.product([False, True], [1, BIG]):
        event = TradeEvent(market=market, seq=9, trade_id=2**62, time_ms=1_700_000_000_000,
                           price=amount, qty=amount, quote_qty=0, buyer_is_maker=maker,
                           maker_order_id=5, taker_order_id=6)
        assert encode(event) == serialized(event)
        assert json.loads(encode(event))["time"] == 1_700_000_000_000
        assert decode(encode(event)) == event

"""The wire format of ``market-events`` and ``order-events``: one JSON event per message.

The matcher publishes trade, aggregate trade and depth events (key = market) and order
events (key = user id) after each committed batch, and time marks on quiet markets; the
candles function folds the trades and publishes kline events, final ones also on a
time mark; the WebSocket fan-out turns them all into Binance's stream
payloads. Redis's ``trades:{market}`` list holds trades in the same JSON, and its
``klines:{market}:{interval}`` members are a kline event's candle fields alone.

Amounts are integers of smallest units, written as decimal strings; ids, sequences
and times (ms since the epoch) are JSON numbers. Encoding is compact JSON in field
order, so the bytes are stable (``tests/unit/domain/test_stream_events.py`` holds
golden examples).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, TypeAdapter

from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.orders import OrderStatus, OrderType, Side

# An amount of smallest units: a decimal string on the wire, read from either form.
Units = Annotated[int, PlainSerializer(str)]
Level = tuple[int, int]  # (price, quantity)
WireLevel = tuple[Units, Units]


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeEvent:
    """A trade as the public sees it, at market sequence ``seq``."""

    type: Literal["trade"] = "trade"
    market: Annotated[str, Field(min_length=1)]
    seq: int
    trade_id: Annotated[int, Field(gt=0)]
    time_ms: Annotated[int, Field(alias="time", ge=0)]  # executed at
    price: Annotated[Units, Field(gt=0)]
    qty: Annotated[Units, Field(gt=0)]
    quote_qty: Annotated[Units, Field(ge=0)]
    buyer_is_maker: bool
    maker_order_id: int
    taker_order_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AggTradeEvent:
    """An aggregate trade (``domain.agg_trades``) whole, as ``/api/v3/aggTrades`` shows
    it: the consecutive fills of one taker order at one price, all of one batch, so the
    matcher knows it whole when it publishes. ``seq``: its last trade's."""

    type: Literal["aggTrade"] = "aggTrade"
    market: Annotated[str, Field(min_length=1)]
    seq: int
    agg_id: Annotated[int, Field(gt=0)]
    time_ms: Annotated[int, Field(alias="time", ge=0)]
    price: Annotated[Units, Field(gt=0)]
    qty: Annotated[Units, Field(gt=0)]
    first_trade_id: int
    last_trade_id: int
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DepthEvent:
    """One matcher batch's changes to a book: the new total of every level it touched
    (0: the level is gone), between market sequences ``first_seq`` and ``last_seq``."""

    type: Literal["depth"] = "depth"
    market: str
    first_seq: int
    last_seq: int
    bids: list[WireLevel]
    asks: list[WireLevel]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """An order's state after the batch (market sequence ``seq``) that changed it."""

    type: Literal["order"] = "order"
    market: str
    seq: int
    # The first market sequence of that batch: the order's previous event came before it
    # (None in events of matchers before it was written).
    batch_first_seq: int | None = None
    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    price: Units  # 0 for a MARKET order
    quantity: Units
    executed_qty: Units
    cumulative_quote_qty: Units
    status: OrderStatus
    done_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KlineEvent:
    """A candle as the candles function committed it, in Binance's kline letters."""

    type: Literal["kline"] = "kline"
    market: str
    interval: Interval
    t: int  # open time
    T: int  # close time
    o: Units
    h: Units
    l: Units  # noqa: E741 - Binance's field names
    c: Units
    v: Units  # volume (base)
    q: Units  # quote volume
    n: int  # trades
    V: Units  # taker buy volume (base)
    Q: Units  # taker buy quote volume
    f: int  # first trade id
    L: int  # last trade id
    closed: bool = False

    @classmethod
    def of(cls, candle: Candle) -> KlineEvent:
        return cls(market=candle.market, interval=candle.interval, t=candle.open_time,
                   T=candle.close_time, o=candle.open, h=candle.high, l=candle.low,
                   c=candle.close, v=candle.volume, q=candle.quote_volume,
                   n=candle.trade_count, V=candle.taker_buy_volume,
                   Q=candle.taker_buy_quote_volume, f=candle.first_trade_id,
                   L=candle.last_trade_id)

    @property
    def candle(self) -> Candle:
        return Candle(self.market, self.interval, self.t, self.T, self.o, self.h, self.l,
                      self.c, self.v, self.q, self.n, self.V, self.Q, self.f, self.L)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeMarkEvent:
    """The matcher's clock on a quiet market, published when a candle holding its last
    trade has ended: every later trade of the market is at ``time_ms`` or after (the
    matcher stamps trades with the same clock and publishes in commit order), so the
    candles function sends final every candle that ended before it. ``last_trade_id``
    is the market's last trade then: one whose event was lost is read from the table
    before its candle closes."""

    type: Literal["time"] = "time"
    market: str
    time_ms: int
    last_trade_id: int


# The events streams show (time marks are the candles function's alone).
Event = TradeEvent | AggTradeEvent | DepthEvent | OrderEvent | KlineEvent
_EVENT: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="type")])
CandleInput = TradeEvent | TimeMarkEvent
_CANDLE_INPUT: TypeAdapter[CandleInput] = TypeAdapter(
    Annotated[CandleInput, Field(discriminator="type")])
KINDS = frozenset({"trade", "aggTrade", "depth", "order", "kline"})
_TRADE = TypeAdapter(TradeEvent)
_KLINE = TypeAdapter(KlineEvent)
# One serializer per kind: quicker than the union's, which tries each kind in turn.
_ENCODERS: dict[type, TypeAdapter[Any]] = {
    TradeEvent: _TRADE, AggTradeEvent: TypeAdapter(AggTradeEvent),
    DepthEvent: TypeAdapter(DepthEvent), OrderEvent: TypeAdapter(OrderEvent), KlineEvent: _KLINE,
    TimeMarkEvent: TypeAdapter(TimeMarkEvent)}
# The parts of a kline event a ``klines:{market}:{interval}`` member leaves out.
_NOT_IN_KLINE_MEMBER = {"type", "market", "interval", "closed"}


def encode(event: Event | TimeMarkEvent) -> bytes:
    if type(event) is OrderEvent and _plain(event.market) and _plain(event.done_reason):
        return _order_json(event)
    if type(event) is TradeEvent and _plain(event.market):
        return _trade_json(event)
    return _ENCODERS[type(event)].dump_json(event, by_alias=True)


# The matcher writes an order event per changed order and a trade event per trade: by
# hand, the same bytes as the serializer's for text JSON needs no escape in, at half
# its cost (the serializer calls back into Python for every amount).
def _plain(text: str | None) -> bool:
    return text is None or (text.isascii() and text.isprintable() and '"' not in text
                            and "\\" not in text)


def _order_json(e: OrderEvent) -> bytes:
    first = "null" if e.batch_first_seq is None else e.batch_first_seq
    reason = "null" if e.done_reason is None else f'"{e.done_reason}"'
    return (f'{{"type":"order","market":"{e.market}","seq":{e.seq},"batch_first_seq":{first},'
            f'"order_id":{e.order_id},"user_id":{e.user_id},"side":"{e.side.value}",'
            f'"order_type":"{e.order_type.value}","price":"{e.price}",'
            f'"quantity":"{e.quantity}","executed_qty":"{e.executed_qty}",'
            f'"cumulative_quote_qty":"{e.cumulative_quote_qty}","status":"{e.status.value}",'
            f'"done_reason":{reason}}}').encode()


def _trade_json(t: TradeEvent) -> bytes:
    maker = "true" if t.buyer_is_maker else "false"
    return (f'{{"type":"trade","market":"{t.market}","seq":{t.seq},"trade_id":{t.trade_id},'
            f'"time":{t.time_ms},"price":"{t.price}","qty":"{t.qty}",'
            f'"quote_qty":"{t.quote_qty}","buyer_is_maker":{maker},'
            f'"maker_order_id":{t.maker_order_id},"taker_order_id":{t.taker_order_id}}}'
            ).encode()


def decode(raw: bytes | str, kinds: Collection[str] = KINDS) -> Event | None:
    """The event in a message; None for an event of another kind than ``kinds`` (by
    default, every kind this module knows). Raises ValueError when the message cannot
    be read."""
    fields = json.loads(raw)
    if not isinstance(fields, dict):
        raise ValueError(f"an event is a JSON object, not {type(fields).__name__}")
    return _EVENT.validate_python(fields) if str(fields.get("type")) in kinds else None


def decode_candle_input(raw: bytes | str) -> CandleInput | None:
    """The trade or time mark in a message (what the candles function reads); None for
    other kinds. Raises ValueError when the message cannot be read."""
    fields = json.loads(raw)
    if not isinstance(fields, dict):
        raise ValueError(f"an event is a JSON object, not {type(fields).__name__}")
    return _CANDLE_INPUT.validate_python(fields) if fields.get("type") in {
        "trade", "time"} else None


def decode_trade(raw: bytes | str) -> TradeEvent:
    """A trade as ``trades:{market}`` holds it."""
    return _TRADE.validate_json(raw)


def encode_kline_member(candle: Candle) -> bytes:
    """A candle as a ``klines:{market}:{interval}`` member."""
    return _KLINE.dump_json(KlineEvent.of(candle), exclude=_NOT_IN_KLINE_MEMBER)


def decode_kline_member(market: str, interval: Interval, raw: bytes | str) -> Candle:
    fields = json.loads(raw)
    return _KLINE.validate_python(
        {**fields, "type": "kline", "market": market, "interval": interval}).candle

"""WebSocket streams the Binance way: subscriptions, and the fan-out of events to them.

Clients subscribe on their connection with ``{"method": "SUBSCRIBE", "params":
["btcusdt@trade", ...], "id": 1}`` to public streams, and with
``userDataStream.subscribe`` (an API key signature or a JWT access token) to their own
order and balance updates. The fan-out turns each event of ``market-events`` and
``order-events`` into Binance's stream payloads and posts them to the subscribed
connections; amounts are decimal strings with the assets' scales.

Public streams (raw payloads, symbol in lower case):

* ``<symbol>@trade``: one ``trade`` per trade;
* ``<symbol>@depth`` and ``<symbol>@depth@100ms``: one ``depthUpdate`` per matcher batch,
  with the new total of every level the batch touched ("0": gone). ``U``/``u`` are the
  batch's first and last market sequence: they chain (next ``U`` = previous ``u`` + 1),
  and a depth snapshot's ``lastUpdateId`` is on the same sequence;
* ``<symbol>@bookTicker``: best bid and ask after each batch;
* ``<symbol>@kline_<interval>``: the candles the candles function updates;
* ``<symbol>@ticker``: rolling 24 h statistics after each trade.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.adapters.envelope import MasterKey
from chalicelib.adapters.market_data import BookSnapshot, MarketDataCache
from chalicelib.adapters.stream_subscriptions import (
    OrderEventProgress,
    StreamSubscriptions,
)
from chalicelib.adapters.ws_sender import SendError
from chalicelib.domain.candles import Interval
from chalicelib.domain.errors import ApiError
from chalicelib.domain.money import format_units
from chalicelib.service_layer import Conn, auth, market_data, orders, wallet
from chalicelib.service_layer.api_keys import SignedRequest, authenticate_signed
from chalicelib.service_layer.orders import OPEN_STATUSES, Market

log = logging.getLogger(__name__)

# Binance's limit of streams per connection.
MAX_STREAMS_PER_CONNECTION = 1024
USER_CHANNEL_PREFIX = "user:"
PUBLIC_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS")
USER_METHODS = ("userDataStream.subscribe", "userDataStream.subscribe.signature",
                "userDataStream.unsubscribe")
REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


# --- stream names -------------------------------------------------------------------

class StreamKind(StrEnum):
    TRADE = "trade"
    DEPTH = "depth"
    DEPTH_100MS = "depth@100ms"
    BOOK_TICKER = "bookTicker"
    TICKER = "ticker"
    KLINE = "kline"
    PARTIAL_DEPTH = "partialDepth"  # <symbol>@depth<levels>[@100ms]


PARTIAL_DEPTH_LEVELS = (5, 10, 20)

_STREAM_NAME = re.compile(
    r"(?P<symbol>[a-z0-9]{2,20})@(?:(?P<kind>trade|depth|depth@100ms|bookTicker|ticker)"
    r"|kline_(?P<interval>" + "|".join(i.value for i in Interval) + r")"
    r"|depth(?P<levels>5|10|20)(?P<fast>@100ms)?)")


@dataclass(frozen=True)
class Stream:
    symbol: str  # upper case, as markets are named
    kind: StreamKind
    interval: str = ""
    levels: int = 0  # a partial depth stream's levels per side
    fast: bool = False  # a partial depth stream's "@100ms"

    @property
    def name(self) -> str:
        if self.kind is StreamKind.KLINE:
            suffix = f"kline_{self.interval}"
        elif self.kind is StreamKind.PARTIAL_DEPTH:
            suffix = f"depth{self.levels}{'@100ms' if self.fast else ''}"
        else:
            suffix = self.kind.value
        return f"{self.symbol.lower()}@{suffix}"


def parse_stream(name: object) -> Stream:
    if not isinstance(name, str) or (match := _STREAM_NAME.fullmatch(name)) is None:
        raise StreamRequestError(2, f"Invalid request: invalid stream name {name!r}")
    symbol = match["symbol"].upper()
    if match["interval"]:
        return Stream(symbol, StreamKind.KLINE, match["interval"])
    if match["levels"]:
        return Stream(symbol, StreamKind.PARTIAL_DEPTH, levels=int(match["levels"]),
                      fast=bool(match["fast"]))
    return Stream(symbol, StreamKind(match["kind"]))


def user_channel(user_id: int) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


# --- client requests ----------------------------------------------------------------

RequestId = int | str | None


class StreamRequestError(Exception):
    """A request the stream API refuses, with Binance's WebSocket error code."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class ClientContext:
    subscriptions: StreamSubscriptions
    auth: auth.AuthContext
    master_key: MasterKey
    db: Callable[[], AbstractContextManager[Conn]]
    now_ms: Callable[[], int]


@dataclass(frozen=True)
class StreamRequest:
    method: str
    params: Any
    id: RequestId


def parse_request(body: str) -> StreamRequest:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise StreamRequestError(3, f"Invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StreamRequestError(2, "Invalid request: expected a JSON object")
    request_id = data.get("id")
    if not _valid_id(request_id):
        raise StreamRequestError(2, "Invalid request: request ID must be an unsigned integer")
    method = data.get("method")
    if not isinstance(method, str):
        raise StreamRequestError(2, "Invalid request: missing field `method`")
    if set(data) - {"method", "params", "id"}:
        raise StreamRequestError(2, "Invalid request: too many parameters")
    return StreamRequest(method, data.get("params"), request_id)


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value < 2**63
    return isinstance(value, str) and REQUEST_ID.fullmatch(value) is not None


def error_reply(code: int, msg: str, request_id: RequestId) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


def handle_message(ctx: ClientContext, connection_id: str, body: str,
                   client_ip: str) -> dict[str, Any]:
    """The reply to one client message: a result, or an error in Binance's format."""
    try:
        request = parse_request(body)
    except StreamRequestError as error:
        return error_reply(error.code, error.msg, None)
    try:
        if request.method in USER_METHODS:
            return user_request(ctx, connection_id, request, client_ip)
        return {"result": public_request(ctx, connection_id, request), "id": request.id}
    except StreamRequestError as error:
        return error_reply(error.code, error.msg, request.id)


def public_request(ctx: ClientContext, connection_id: str, request: StreamRequest) -> Any:
    if request.method == "LIST_SUBSCRIPTIONS":
        return sorted(c for c in ctx.subscriptions.channels_of(connection_id)
                      if not c.startswith(USER_CHANNEL_PREFIX))
    if request.method not in PUBLIC_METHODS:
        raise StreamRequestError(
            2, f"Invalid request: unknown variant {request.method!r}, expected one of "
               f"{', '.join(PUBLIC_METHODS + USER_METHODS)}")
    names = stream_names(request.params)
    if request.method == "UNSUBSCRIBE":
        ctx.subscriptions.remove(connection_id, names)
        return None
    subscribe(ctx.subscriptions, connection_id, names)
    return None


def stream_names(params: object) -> list[str]:
    if not isinstance(params, list) or not params:
        raise StreamRequestError(2, "Invalid request: params must be a list of stream names")
    return list(dict.fromkeys(parse_stream(name).name for name in params))


def subscribe(subscriptions: StreamSubscriptions, connection_id: str,
              names: Sequence[str]) -> None:
    current = subscriptions.channels_of(connection_id)
    if len(current | set(names)) > MAX_STREAMS_PER_CONNECTION:
        raise StreamRequestError(
            2, f"Invalid request: at most {MAX_STREAMS_PER_CONNECTION} streams per connection")
    subscriptions.add(connection_id, names)


def connect(ctx: ClientContext, connection_id: str, query: Mapping[str, str] | None) -> None:
    """A connection may name its streams up front, ``?streams=btcusdt@trade/btcusdt@depth``,
    and with ``combined=true`` take Binance's combined payloads, ``{"stream", "data"}``
    (Binance's ``/stream?streams=`` endpoint; the local gateway maps that path here)."""
    query = query or {}
    wanted = query.get("streams")
    if wanted:
        subscribe(ctx.subscriptions, connection_id, stream_names(wanted.split("/")))
    if query.get("combined") == "true":
        ctx.subscriptions.set_combined(connection_id)


def disconnect(subscriptions: StreamSubscriptions, connection_id: str) -> None:
    subscriptions.drop_connection(connection_id)


def user_request(ctx: ClientContext, connection_id: str, request: StreamRequest,
                 client_ip: str) -> dict[str, Any]:
    """Binance's WebSocket API methods: replies carry an HTTP-like ``status``."""
    owned = [c for c in ctx.subscriptions.channels_of(connection_id)
             if c.startswith(USER_CHANNEL_PREFIX)]
    if request.method == "userDataStream.unsubscribe":
        ctx.subscriptions.remove(connection_id, owned)
        return {"id": request.id, "status": 200, "result": {}}
    try:
        user_id = authenticate_user(ctx, request.params, client_ip)
    except ApiError as error:
        return {"id": request.id, "status": error.status,
                **error_reply(int(error.code), error.msg, request.id)}
    ctx.subscriptions.remove(connection_id, owned)
    ctx.subscriptions.add(connection_id, [user_channel(user_id)])
    return {"id": request.id, "status": 200, "result": {}}


class UserStreamParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = None
    apiKey: str | None = None  # noqa: N815 - Binance's parameter names
    timestamp: int | None = None
    recvWindow: int | None = None  # noqa: N815
    signature: str | None = None


def authenticate_user(ctx: ClientContext, params: object, client_ip: str) -> int:
    """The user behind a JWT access token, or an API key (READ) and its signature over
    the other parameters sorted by name, as Binance's WebSocket API signs them."""
    if not isinstance(params, dict):
        raise StreamRequestError(2, "Invalid request: params must be an object")
    try:
        given = UserStreamParams.model_validate(params)
    except ValidationError as exc:
        raise StreamRequestError(2, f"Invalid request: {exc.errors()[0]['msg']}") from exc
    with ctx.db() as conn:
        if given.token is not None:
            user, _ = auth.authenticate(ctx.auth, conn, given.token)
            return user.id
        pairs = sorted((k, str(v)) for k, v in params.items() if v is not None)
        signed = SignedRequest(api_key=given.apiKey, query_pairs=pairs, body="",
                               client_ip=client_ip, now_ms=ctx.now_ms())
        return authenticate_signed(conn, ctx.master_key, signed, "READ").user_id


# --- events and their payloads -------------------------------------------------------

class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TradeEvent(_Event):
    type: Literal["trade"]
    market: str
    trade_id: int
    time: int
    price: int
    qty: int
    buyer_is_maker: bool


class DepthEvent(_Event):
    type: Literal["depth"]
    market: str
    first_seq: int
    last_seq: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


class KlineEvent(_Event):
    type: Literal["kline"]
    market: str
    interval: str
    t: int
    T: int
    o: int
    h: int
    l: int  # noqa: E741 - Binance's field names
    c: int
    v: int
    q: int
    n: int
    V: int
    Q: int
    f: int
    L: int
    closed: bool = False


class OrderEvent(_Event):
    type: Literal["order"]
    market: str
    seq: int
    order_id: int
    user_id: int
    side: str
    order_type: str
    price: int
    quantity: int
    executed_qty: int
    cumulative_quote_qty: int
    status: str
    done_reason: str | None = None


Event = TradeEvent | DepthEvent | KlineEvent | OrderEvent
EVENT_TYPES: dict[str, type[Event]] = {"trade": TradeEvent, "depth": DepthEvent,
                                       "kline": KlineEvent, "order": OrderEvent}


def parse_event(raw: bytes) -> Event | None:
    """The event a record carries; None for kinds no stream shows, and for values that
    cannot be read (logged: redelivering them would never help)."""
    try:
        data = json.loads(raw)
        kind = EVENT_TYPES.get(str(data.get("type"))) if isinstance(data, dict) else None
        return kind.model_validate(data) if kind is not None else None
    except (ValueError, ValidationError):
        log.warning("unreadable event skipped", extra={"value": raw[:200]})
        return None


def _price(market: Market, units: int) -> str:
    return format_units(units, market.quote_scale)


def _qty(market: Market, units: int) -> str:
    return format_units(units, market.base_scale)


def _levels(market: Market, levels: Iterable[tuple[int, int]]) -> list[list[str]]:
    return [[_price(market, p), _qty(market, q)] for p, q in levels]


def trade_payload(market: Market, event: TradeEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "trade", "E": now_ms, "s": event.market, "t": event.trade_id,
            "p": _price(market, event.price), "q": _qty(market, event.qty), "T": event.time,
            "m": event.buyer_is_maker, "M": True}


def depth_payload(market: Market, event: DepthEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": now_ms, "s": event.market, "U": event.first_seq,
            "u": event.last_seq, "b": _levels(market, event.bids),
            "a": _levels(market, event.asks)}


def book_ticker_payload(market: Market, book: BookSnapshot) -> dict[str, Any]:
    """The best bid and ask of the matcher's ``book:{market}`` (0 for an empty side)."""
    bid, ask = (book.bids[:1] or [(0, 0)])[0], (book.asks[:1] or [(0, 0)])[0]
    return {"u": book.seq, "s": market.spec.symbol,
            "b": _price(market, bid[0]), "B": _qty(market, bid[1]),
            "a": _price(market, ask[0]), "A": _qty(market, ask[1])}


def partial_depth_payload(market: Market, book: BookSnapshot, levels: int) -> dict[str, Any]:
    """Binance's partial book: the top ``levels`` of the matcher's ``book:{market}``."""
    return {"lastUpdateId": book.seq, "bids": _levels(market, book.bids[:levels]),
            "asks": _levels(market, book.asks[:levels])}


def kline_payload(market: Market, event: KlineEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "kline", "E": now_ms, "s": event.market, "k": {
        "t": event.t, "T": event.T, "s": event.market, "i": event.interval, "f": event.f,
        "L": event.L, "o": _price(market, event.o), "c": _price(market, event.c),
        "h": _price(market, event.h), "l": _price(market, event.l),
        "v": _qty(market, event.v), "n": event.n, "x": event.closed,
        "q": _price(market, event.q), "V": _qty(market, event.V),
        "Q": _price(market, event.Q), "B": "0"}}


def _percent(milli: int) -> str:
    return ("-" if milli < 0 else "") + format_units(abs(milli), 3)


def ticker_payload(market: Market, ticker: market_data.Ticker24hr,
                   now_ms: int) -> dict[str, Any]:
    top = ticker.top
    return {"e": "24hrTicker", "E": now_ms, "s": market.spec.symbol,
            "p": ("-" if ticker.price_change < 0 else "")
                 + _price(market, abs(ticker.price_change)),
            "P": _percent(ticker.price_change_percent_milli),
            "w": _price(market, ticker.weighted_avg_price),
            "x": _price(market, ticker.prev_close), "c": _price(market, ticker.last),
            "Q": _qty(market, ticker.last_qty), "b": _price(market, top.bid_price),
            "B": _qty(market, top.bid_qty), "a": _price(market, top.ask_price),
            "A": _qty(market, top.ask_qty), "o": _price(market, ticker.open),
            "h": _price(market, ticker.high), "l": _price(market, ticker.low),
            "v": _qty(market, ticker.volume), "q": _price(market, ticker.quote_volume),
            "O": ticker.open_time, "C": ticker.close_time, "F": ticker.first_id,
            "L": ticker.last_id, "n": ticker.count}


# --- the private user stream ----------------------------------------------------------

@dataclass(frozen=True)
class Fill:
    """One trade of an order, from that order's side."""

    trade_id: int
    price: int
    qty: int
    quote_qty: int
    time_ms: int
    is_maker: bool
    commission: int
    commission_asset: str


# The execution type of the report that ends an order without a trade.
CLOSING_EXECUTION = {"CANCELED": "CANCELED", "EXPIRED": "EXPIRED",
                     "EXPIRED_IN_MATCH": "TRADE_PREVENTION", "REJECTED": "REJECTED"}


def execution_reports(market: Market, event: OrderEvent, order: Mapping[str, Any],
                      fills: Sequence[Fill], *, first: bool, now_ms: int) -> list[dict[str, Any]]:
    """Binance's ``executionReport``s for one order event: NEW for an order's first
    event, one TRADE per fill since its previous event, then what closed it, if
    anything (or REPLACED: an amend)."""
    created_ms = int(order["created_at"].timestamp() * 1000)
    common = {
        "e": "executionReport", "E": now_ms, "s": event.market,
        "c": order["client_order_id"], "S": event.side, "o": event.order_type,
        "f": order["time_in_force"] or "GTC", "q": _qty(market, event.quantity),
        "p": _price(market, event.price), "P": _price(market, 0), "F": _qty(market, 0),
        "g": -1, "C": "", "i": event.order_id, "O": created_ms, "W": created_ms,
        "Q": _price(market, int(order["quote_order_qty"] or 0)), "V": order["stp"]}
    executed = event.executed_qty - sum(f.qty for f in fills)
    quote = event.cumulative_quote_qty - sum(f.quote_qty for f in fills)
    resting = event.status in OPEN_STATUSES and event.order_type != "MARKET"

    def report(execution: str, status: str, fill: Fill | None, on_book: bool) -> dict[str, Any]:
        return {**common, "x": execution, "X": status,
                "r": (event.done_reason or "NONE") if status == "REJECTED" else "NONE",
                "l": _qty(market, fill.qty if fill else 0), "z": _qty(market, executed),
                "L": _price(market, fill.price if fill else 0),
                "n": _commission(market, fill), "N": fill.commission_asset if fill else None,
                "T": fill.time_ms if fill else now_ms, "t": fill.trade_id if fill else -1,
                "w": on_book, "m": fill.is_maker if fill else False,
                "Z": _price(market, quote),
                "Y": _price(market, fill.quote_qty if fill else 0)}

    reports = []
    if first and event.status != "REJECTED":
        reports.append(report("NEW", "NEW", None, event.order_type != "MARKET"))
    for index, fill in enumerate(fills):
        executed, quote = executed + fill.qty, quote + fill.quote_qty
        last = index == len(fills) - 1
        status = event.status if last and event.status == "FILLED" else "PARTIALLY_FILLED"
        reports.append(report("TRADE", status, fill, resting))
    if event.status in CLOSING_EXECUTION:
        reports.append(report(CLOSING_EXECUTION[event.status], event.status, None, False))
    elif not fills and not first:
        reports.append(report("REPLACED", event.status, None, resting))
    return reports


def _commission(market: Market, fill: Fill | None) -> str:
    if fill is None:
        return "0"
    scale = market.base_scale if fill.commission_asset == market.base_asset \
        else market.quote_scale
    return format_units(fill.commission, scale)


def account_position(balances: Iterable[wallet.Balance], now_ms: int) -> dict[str, Any]:
    return {"e": "outboundAccountPosition", "E": now_ms, "u": now_ms,
            "B": [{"a": b.asset, "f": format_units(b.free, b.scale),
                   "l": format_units(b.locked, b.scale)} for b in balances]}


def order_fills(conn: Conn, event: OrderEvent, after_seq: int) -> list[Fill]:
    """The order's trades with a market sequence in (after_seq, event.seq]."""
    rows = conn.execute(
        "SELECT id, price, quantity, quote_quantity,"
        " (extract(epoch FROM executed_at) * 1000)::bigint, maker_order_id = %(order)s,"
        " CASE WHEN maker_order_id = %(order)s THEN maker_fee ELSE taker_fee END,"
        " CASE WHEN maker_order_id = %(order)s THEN maker_fee_asset ELSE taker_fee_asset END"
        " FROM trades WHERE market = %(market)s AND sequence > %(after)s"
        " AND sequence <= %(upto)s"
        " AND (maker_order_id = %(order)s OR taker_order_id = %(order)s) ORDER BY sequence",
        {"order": event.order_id, "market": event.market, "after": after_seq,
         "upto": event.seq}).fetchall()
    return [Fill(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), bool(r[5]), int(r[6]),
                 str(r[7])) for r in rows]


# --- the fan-out ----------------------------------------------------------------------

class Sender(Protocol):
    def send(self, connection_id: str, data: str) -> bool:
        """Post one message; False when the connection is gone."""


@dataclass
class FanoutContext:
    subscriptions: StreamSubscriptions
    progress: OrderEventProgress
    market_data: MarketDataCache
    # Autocommit connections to the writer: a reader could lag behind the batch whose
    # events arrive here.
    db: Callable[[], AbstractContextManager[Conn]]
    sender: Sender
    now_ms: Callable[[], int]
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16))
    markets: dict[str, Market] = field(default_factory=dict)

    def market(self, symbol: str) -> Market:
        """Scales and assets never change once a market exists: loaded once."""
        if symbol not in self.markets:
            with self.db() as conn:
                self.markets[symbol] = orders.load_market(conn, symbol)
        return self.markets[symbol]


@dataclass(frozen=True)
class Delivery:
    messages: int
    connections: int
    gone: int


def fan_out(ctx: FanoutContext, raw: bytes) -> Delivery:
    """Post an event's payloads to every connection subscribed to a stream it feeds, in
    order per connection; connections found gone are forgotten."""
    event = parse_event(raw)
    if event is None:
        return Delivery(0, 0, 0)
    if not isinstance(event, OrderEvent):
        return post(ctx, event, [s.name for s in public_streams(event)], 0)
    previous = ctx.progress.last_seq(event.order_id)
    if event.seq <= previous:  # delivered already (a redelivery, or a replayed batch)
        return Delivery(0, 0, 0)
    delivery = post(ctx, event, [user_channel(event.user_id)], previous)
    # Recorded whether or not anybody listens, so that a report covers exactly the
    # trades since the order's previous event.
    ctx.progress.record(event.order_id, event.seq)
    return delivery


def post(ctx: FanoutContext, event: Event, channels: list[str], previous: int) -> Delivery:
    listeners = ctx.subscriptions.subscribers(channels)
    if not listeners:
        return Delivery(0, 0, 0)
    outbox: dict[str, list[str]] = {}
    public = not isinstance(event, OrderEvent)
    combined = ctx.subscriptions.combined(set().union(*listeners.values())) if public else set()
    for channel, connections in listeners.items():
        try:
            built = payloads(ctx, event, channel, previous)
        except ApiError:  # an unknown market or order: no redelivery can fix that
            log.warning("event of an unknown market or order skipped",
                        extra={"event": event.model_dump()})
            continue
        raw = [_json(payload) for payload in built]
        wrapped = [_json({"stream": channel, "data": p}) for p in built] if combined else raw
        for connection_id in sorted(connections):
            messages = wrapped if connection_id in combined else raw
            outbox.setdefault(connection_id, []).extend(messages)
    return deliver(ctx, outbox)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def public_streams(event: Event) -> list[Stream]:
    symbol = event.market
    if isinstance(event, TradeEvent):
        return [Stream(symbol, StreamKind.TRADE), Stream(symbol, StreamKind.TICKER)]
    if isinstance(event, DepthEvent):
        return [Stream(symbol, StreamKind.DEPTH), Stream(symbol, StreamKind.DEPTH_100MS),
                Stream(symbol, StreamKind.BOOK_TICKER),
                *[Stream(symbol, StreamKind.PARTIAL_DEPTH, levels=levels, fast=fast)
                  for levels in PARTIAL_DEPTH_LEVELS for fast in (False, True)]]
    if isinstance(event, KlineEvent):
        return [Stream(symbol, StreamKind.KLINE, event.interval)]
    return []


def payloads(ctx: FanoutContext, event: Event, channel: str,
             previous: int) -> list[dict[str, Any]]:
    now = ctx.now_ms()
    market = ctx.market(event.market)
    if isinstance(event, OrderEvent):
        with ctx.db() as conn:
            return user_payloads(conn, market, event, previous, now)
    stream = parse_stream(channel)
    kind = stream.kind
    if isinstance(event, TradeEvent) and kind is StreamKind.TICKER:
        with ctx.db() as conn:
            ticker = market_data.ticker_24hr(conn, ctx.market_data, [event.market], now)[0]
        return [ticker_payload(market, ticker, now)]
    if isinstance(event, TradeEvent):
        return [trade_payload(market, event, now)]
    if isinstance(event, DepthEvent) and kind is StreamKind.BOOK_TICKER:
        book = ctx.market_data.book(event.market)
        return [book_ticker_payload(market, book)] if book else []
    if isinstance(event, DepthEvent) and kind is StreamKind.PARTIAL_DEPTH:
        book = ctx.market_data.book(event.market)
        return [partial_depth_payload(market, book, stream.levels)] if book else []
    if isinstance(event, DepthEvent):
        return [depth_payload(market, event, now)]
    return [kline_payload(market, event, now)]


def user_payloads(conn: Conn, market: Market, event: OrderEvent, previous: int,
                  now_ms: int) -> list[dict[str, Any]]:
    """The order's execution reports, then the user's balances of the market's assets."""
    order = orders.find_order(conn, event.user_id, event.market, order_id=event.order_id)
    # Trades of an order never come before its acceptance: that bounds the index scan.
    after = max(previous, int(order["accepted_seq"] or event.seq) - 1)
    reports = execution_reports(market, event, order, order_fills(conn, event, after),
                                first=previous == 0, now_ms=now_ms)
    assets = (market.base_asset, market.quote_asset)
    held = [b for b in wallet.balances(conn, event.user_id) if b.asset in assets]
    return [*reports, account_position(held, now_ms)]


def deliver(ctx: FanoutContext, outbox: Mapping[str, list[str]]) -> Delivery:
    """Each connection's messages in order; connections in parallel."""
    results = list(ctx.pool.map(lambda item: _send_all(ctx.sender, *item), outbox.items()))
    gone = [connection_id for connection_id, (_, alive) in zip(outbox, results, strict=True)
            if not alive]
    for connection_id in gone:
        ctx.subscriptions.drop_connection(connection_id)
    return Delivery(sum(sent for sent, _ in results), len(outbox), len(gone))


def _send_all(sender: Sender, connection_id: str, messages: list[str]) -> tuple[int, bool]:
    """Best effort: (messages sent, whether the connection is still there)."""
    sent = 0
    for data in messages:
        try:
            if not sender.send(connection_id, data):
                return sent, False
            sent += 1
        except SendError:
            log.warning("post to connection failed", exc_info=True,
                        extra={"connection_id": connection_id})
    return sent, True

"""The fan-out of stream events to the WebSocket connections subscribed to them.

Each event of ``market-events`` and ``order-events`` (``domain.stream_events``) becomes
Binance's stream payloads (``stream_payloads``), posted to the connections subscribed to
a stream it feeds (``stream_names``) or, for an order event, to its user's channel: in
order per connection, connections in parallel, best effort.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters import market_data_pg, prevented_matches_repo
from chalicelib.domain import stream_events
from chalicelib.domain.errors import ApiError
from chalicelib.domain.orders import Market
from chalicelib.domain.stream_events import (
    AggTradeEvent,
    DepthEvent,
    Event,
    KlineEvent,
    OrderEvent,
    TradeEvent,
)
from chalicelib.service_layer import Conn, orders, wallet
from chalicelib.service_layer.list_status import list_status_events
from chalicelib.service_layer.listen_key_expiry import end_dead_keys
from chalicelib.service_layer.ports import (
    CancelRequests,
    EventProgress,
    ListenKeys,
    MarketCache,
    Sender,
    SendError,
    Subscriptions,
)
from chalicelib.service_layer.stream_names import (
    DEPTH_SPEEDS,
    PARTIAL_DEPTH_LEVELS,
    Stream,
    StreamKind,
    parse_stream,
    user_channel,
)
from chalicelib.service_layer.stream_payloads import (
    account_position,
    agg_trade_payload,
    book_ticker_payload,
    depth_payload,
    execution_reports,
    kline_payload,
    partial_depth_payload,
    trade_payload,
)
from chalicelib.service_layer.stream_tickers import (
    TICKER_KINDS,
    Payload,
    ticker_payloads,
    ticker_streams,
)

log = logging.getLogger(__name__)


def parse_event(raw: bytes) -> Event | None:
    """The event a record carries; None for kinds no stream shows, and for values that
    cannot be read (logged: redelivering them would never help)."""
    try:
        return stream_events.decode(raw)
    except ValueError:
        log.warning("unreadable event skipped", extra={"value": raw[:200]})
        return None


@dataclass
class FanoutContext:
    subscriptions: Subscriptions
    progress: EventProgress
    market_data: MarketCache
    # Autocommit connections to the writer: a reader could lag behind the batch whose
    # events arrive here.
    db: Callable[[], AbstractContextManager[Conn]]
    sender: Sender
    now_ms: Callable[[], int]
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16))
    markets: dict[str, Market] = field(default_factory=dict)
    listen_keys: ListenKeys | None = None
    """To end the streams of listenKeys that timed out (None: never checked)."""
    cancel_requests: CancelRequests | None = None
    """The client ids cancel requests chose, for their reports' ``c``."""

    def market(self, symbol: str) -> Market:
        """Scales and assets never change once a market exists: loaded once."""
        if symbol not in self.markets:
            with self.db() as conn:
                self.markets[symbol] = orders.load_market(conn, symbol)
        return self.markets[symbol]


@dataclass(frozen=True)
class OrderSince:
    """What an order event's reports follow: the order's last event the fan-out handled
    (``previous``, 0: none recorded) and, with none, the market sequence from which its
    market's order events are recorded (Redis holds both)."""

    previous: int
    recorded_from: int = 0

    def previous_seq(self, event: OrderEvent, accepted_seq: int) -> int:
        """The order's previous event as far as its reports go. An order with no record
        but accepted before the records began (Redis restarted empty, or its entry of 7
        days expired) had its earlier events delivered then: this one reports its own
        batch alone, not again the fills a client saw."""
        if self.previous or event.batch_first_seq is None or accepted_seq >= self.recorded_from:
            return self.previous
        return event.batch_first_seq - 1


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
        return post(ctx, event, [s.name for s in public_streams(event)], OrderSince(0))
    previous = ctx.progress.last_seq(event.order_id)
    if event.seq <= previous:  # delivered already (a redelivery, or a replayed batch)
        return Delivery(0, 0, 0)
    since = OrderSince(previous)
    if not previous and event.batch_first_seq is not None:
        since = OrderSince(0, ctx.progress.recorded_from(event.market, event.batch_first_seq))
    delivery = post(ctx, event, [user_channel(event.user_id)], since)
    # Recorded whether or not anybody listens, so that a report covers exactly the
    # trades since the order's previous event.
    ctx.progress.record(event.order_id, event.seq)
    return delivery


def post(ctx: FanoutContext, event: Event, channels: list[str], since: OrderSince) -> Delivery:
    listeners = ctx.subscriptions.subscribers(channels)
    if not listeners:
        return Delivery(0, 0, 0)
    outbox: dict[str, list[str]] = {}
    combined = ctx.subscriptions.combined(set().union(*listeners.values()))
    for channel, connections in listeners.items():
        try:
            built = payloads(ctx, event, channel, since)
        except ApiError:  # an unknown market or order: no redelivery can fix that
            log.warning("event of an unknown market or order skipped",
                        extra={"event": stream_events.encode(event).decode()})
            continue
        tags: dict[str, list[str]] = {}
        if isinstance(event, OrderEvent):
            tags = user_tags(ctx, event.user_id, channel, connections, combined, outbox)
        for connection_id in sorted(connections):
            held = tags.get(connection_id)
            if held == []:  # it streamed only listenKeys that have ended
                continue
            outbox.setdefault(connection_id, []).extend(messages(
                built, channel, held or [], connection_id in combined))
    return deliver(ctx, outbox)


def user_tags(ctx: FanoutContext, user_id: int, channel: str, connections: set[str],
              combined: set[str], outbox: dict[str, list[str]]) -> dict[str, list[str]]:
    """How each connection takes the user's channel; a listenKey that timed out gets
    its ``listenKeyExpired`` instead, and its stream ends."""
    tags = ctx.subscriptions.tagged(connections, channel)
    keys = ctx.listen_keys
    if keys is None:
        return tags
    live, notices = end_dead_keys(ctx.subscriptions, channel, tags, combined,
                                  lambda key: keys.user_of(key) == user_id, ctx.now_ms())
    for connection_id, sent in notices.items():
        outbox.setdefault(connection_id, []).extend(sent)
    return live


def messages(built: list[Payload], channel: str, tags: list[str],
             combined: bool) -> list[str]:
    """A channel's payloads as one connection takes them: raw, or combined
    (``{"stream", "data"}``); a user's, once per tag the connection has on the channel:
    a WebSocket API subscription's wrapped ``{"subscriptionId", "event"}``, a listenKey's
    like a stream named by the key."""
    if not tags:
        return [_json({"stream": channel, "data": p} if combined else p) for p in built]
    out = []
    for tag in tags:
        kind, _, name = tag.partition(":")
        for payload in built:
            if kind == "sub":
                out.append(_json({"subscriptionId": int(name), "event": payload}))
            else:
                out.append(_json({"stream": name, "data": payload} if combined else payload))
    return out


def _json(value: Payload | dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def public_streams(event: Event) -> list[Stream]:
    symbol = event.market
    if isinstance(event, TradeEvent):
        return [Stream(symbol, StreamKind.TRADE), *ticker_streams(symbol)]
    if isinstance(event, AggTradeEvent):
        return [Stream(symbol, StreamKind.AGG_TRADE)]
    if isinstance(event, DepthEvent):
        return [*[Stream(symbol, StreamKind.DEPTH, speed=speed) for speed in DEPTH_SPEEDS],
                Stream(symbol, StreamKind.BOOK_TICKER),
                *[Stream(symbol, StreamKind.PARTIAL_DEPTH, levels=levels, speed=speed)
                  for levels in PARTIAL_DEPTH_LEVELS for speed in DEPTH_SPEEDS]]
    if isinstance(event, KlineEvent):
        return [Stream(symbol, StreamKind.KLINE, event.interval)]
    return []


def payloads(ctx: FanoutContext, event: Event, channel: str,
             since: OrderSince) -> list[Payload]:
    now = ctx.now_ms()
    market = ctx.market(event.market)
    if isinstance(event, OrderEvent):
        with ctx.db() as conn:
            return list(user_payloads(conn, market, event, since, now,
                                      ctx.cancel_requests))
    stream = parse_stream(channel)
    kind = stream.kind
    if isinstance(event, TradeEvent) and kind in TICKER_KINDS:
        with ctx.db() as conn:
            return [ticker_payloads(conn, ctx.market_data, market, stream, now)]
    if isinstance(event, TradeEvent):
        return [trade_payload(market, event, now)]
    if isinstance(event, AggTradeEvent):
        return [agg_trade_payload(market, event, now)]
    if isinstance(event, DepthEvent) and kind is StreamKind.BOOK_TICKER:
        book = ctx.market_data.book(event.market)
        return [book_ticker_payload(market, book)] if book else []
    if isinstance(event, DepthEvent) and kind is StreamKind.PARTIAL_DEPTH:
        book = ctx.market_data.book(event.market)
        return [partial_depth_payload(market, book, stream.levels)] if book else []
    if isinstance(event, DepthEvent):
        return [depth_payload(market, event, now)]
    return [kline_payload(market, event, now)]


def user_payloads(conn: Conn, market: Market, event: OrderEvent, since: OrderSince,
                  now_ms: int, cancels: CancelRequests | None = None) -> list[dict[str, Any]]:
    """The order's execution reports, its list's status when that is news, then the
    user's balances of the market's assets."""
    order = orders.find_order(conn, event.user_id, event.market, order_id=event.order_id)
    cancel_client_id = (cancels.take(event.user_id, event.order_id, order["client_order_id"])
                        if cancels is not None and event.status == "CANCELED" else None)
    # Trades of an order never come before its acceptance: that bounds the index scan.
    accepted = int(order["accepted_seq"] or event.seq)
    previous = since.previous_seq(event, accepted)
    after = max(previous, accepted - 1)
    # Its first event: the one that covers its acceptance.
    first = accepted > previous
    fills = market_data_pg.order_fills(conn, event.market, event.order_id, after, event.seq)
    prevention = (prevented_matches_repo.order_prevention(conn, event.market, event.order_id)
                  if event.status == "EXPIRED_IN_MATCH" else None)
    reports = execution_reports(market, event, order, fills, first=first,
                                now_ms=now_ms, previous_seq=previous,
                                cancel_client_id=cancel_client_id, prevention=prevention)
    lists = list_status_events(conn, event, order, first, now_ms)
    assets = (market.base_asset, market.quote_asset)
    held = [b for b in wallet.balances(conn, event.user_id) if b.asset in assets]
    return [*reports, *lists, account_position(held, now_ms)]


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

"""Binance's WebSocket payloads for stream events, amounts formatted with the market's
scales: the public streams' (``trade``, ``aggTrade``, ``depthUpdate``, ``kline``, ``24hrTicker``,
book tickers and partial books) and a user's (``executionReport``,
``outboundAccountPosition``). Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.market_data import BookSnapshot, Fill, Prevention, Ticker24hr
from chalicelib.domain.money import format_units
from chalicelib.domain.orders import OPEN_STATUSES, Market
from chalicelib.domain.stream_events import (
    AggTradeEvent,
    DepthEvent,
    KlineEvent,
    OrderEvent,
    TradeEvent,
)
from chalicelib.domain.wallet import Balance


def _price(market: Market, units: int) -> str:
    return format_units(units, market.quote_scale)


def _qty(market: Market, units: int) -> str:
    return format_units(units, market.base_scale)


def _levels(market: Market, levels: Iterable[tuple[int, int]]) -> list[list[str]]:
    return [[_price(market, p), _qty(market, q)] for p, q in levels]


def trade_payload(market: Market, event: TradeEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "trade", "E": now_ms, "s": event.market, "t": event.trade_id,
            "p": _price(market, event.price), "q": _qty(market, event.qty), "T": event.time_ms,
            "m": event.buyer_is_maker, "M": True}


def agg_trade_payload(market: Market, event: AggTradeEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "aggTrade", "E": now_ms, "s": event.market, "a": event.agg_id,
            "p": _price(market, event.price), "q": _qty(market, event.qty),
            "f": event.first_trade_id, "l": event.last_trade_id, "T": event.time_ms,
            "m": event.buyer_is_maker, "M": True}


def depth_payload(market: Market, event: DepthEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": now_ms, "s": event.market, "U": event.first_seq,
            "u": event.last_seq, "b": _levels(market, event.bids),
            "a": _levels(market, event.asks)}


def book_ticker_payload(market: Market, book: BookSnapshot) -> dict[str, Any]:
    """The best bid and ask of the matcher's ``book:{market}`` (0 for an empty side)."""
    top = book.top()
    return {"u": book.seq, "s": market.spec.symbol,
            "b": _price(market, top.bid_price), "B": _qty(market, top.bid_qty),
            "a": _price(market, top.ask_price), "A": _qty(market, top.ask_qty)}


def partial_depth_payload(market: Market, book: BookSnapshot, levels: int) -> dict[str, Any]:
    """Binance's partial book: the top ``levels`` of the matcher's ``book:{market}``."""
    return {"lastUpdateId": book.seq, "bids": _levels(market, book.bids[:levels]),
            "asks": _levels(market, book.asks[:levels])}


def kline_payload(market: Market, event: KlineEvent, now_ms: int) -> dict[str, Any]:
    return {"e": "kline", "E": now_ms, "s": event.market, "k": {
        "t": event.t, "T": event.T, "s": event.market, "i": event.interval.value, "f": event.f,
        "L": event.L, "o": _price(market, event.o), "c": _price(market, event.c),
        "h": _price(market, event.h), "l": _price(market, event.l),
        "v": _qty(market, event.v), "n": event.n, "x": event.closed,
        "q": _price(market, event.q), "V": _qty(market, event.V),
        "Q": _price(market, event.Q), "B": "0"}}


def _percent(milli: int) -> str:
    return ("-" if milli < 0 else "") + format_units(abs(milli), 3)


def ticker_payload(market: Market, ticker: Ticker24hr,
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


# --- the private user stream

# Bounds the reports of one order event (its fills, NEW and a closing one) for ``I``.
EXECUTIONS_PER_EVENT = 1_000_000
# The execution type of the report that ends an order without a trade.
CLOSING_EXECUTION = {"CANCELED": "CANCELED", "EXPIRED": "EXPIRED",
                     "EXPIRED_IN_MATCH": "TRADE_PREVENTION", "REJECTED": "REJECTED"}


def execution_reports(market: Market, event: OrderEvent, order: Mapping[str, Any],
                      fills: Sequence[Fill], *, first: bool, now_ms: int,
                      previous_seq: int = 0, cancel_client_id: str | None = None,
                      prevention: Prevention | None = None) -> list[dict[str, Any]]:
    """Binance's ``executionReport``s for one order event (its state after market
    sequence ``event.seq``; the order's previous event was ``previous_seq``): NEW for an
    order's first event, NEW again (working) when a stop order triggered, one TRADE per
    fill since its previous event, then what closed it, if anything (or REPLACED: an
    amend). A cancel reports the cancel request's client id in ``c`` (if it sent one)
    and the order's in ``C``; an order self-trade prevention expired reports what it
    prevented (``prevention``: ``v``, ``U``, ``A``, ``B``; no ``u``, there are no trade
    groups)."""
    times = _OrderTimes.of(event, order, previous_seq)
    client_id = order["client_order_id"]
    executed = event.executed_qty - sum(f.qty for f in fills)
    quote = event.cumulative_quote_qty - sum(f.quote_qty for f in fills)
    resting = event.status in OPEN_STATUSES and times.working_ms is not None

    def report(execution: str, status: str, fill: Fill | None, on_book: bool) -> dict[str, Any]:
        """One report, its fields in Binance's order; ``W`` (working time) only once the
        order is on the book."""
        canceled = execution == "CANCELED"
        working = {"W": times.working_ms} if times.working_ms is not None else {}
        return {
            "e": "executionReport", "E": now_ms, "s": event.market,
            "c": (cancel_client_id or client_id) if canceled else client_id,
            "S": event.side, "o": event.order_type, "f": order["time_in_force"] or "GTC",
            "q": _qty(market, event.quantity), "p": _price(market, event.price),
            "P": _price(market, int(order.get("stop_price") or 0)), "F": _qty(market, 0),
            "g": int(order.get("order_list_id") or -1),
            "C": client_id if canceled else "", "x": execution, "X": status,
            "r": (event.done_reason or "NONE") if status == "REJECTED" else "NONE",
            "i": event.order_id, "l": _qty(market, fill.qty if fill else 0),
            "z": _qty(market, executed), "L": _price(market, fill.price if fill else 0),
            "n": _commission(market, fill), "N": fill.commission_asset if fill else None,
            "T": fill.time_ms if fill else now_ms, "t": fill.trade_id if fill else -1,
            # Binance's execution id ("ignore"): unique per order event and report.
            "I": event.seq * EXECUTIONS_PER_EVENT + len(reports),
            "w": on_book, "m": fill.is_maker if fill else False, "M": False,
            "O": times.created_ms, "Z": _price(market, quote),
            "Y": _price(market, fill.quote_qty if fill else 0),
            "Q": _price(market, int(order["quote_order_qty"] or 0)), **working,
            "V": order["stp"],
            **(_prevented(market, prevention) if execution == "TRADE_PREVENTION" else {})}

    reports: list[dict[str, Any]] = []
    if first and event.status != "REJECTED":
        reports.append(report("NEW", "NEW", None, times.rests and not times.stop))
    if times.triggered_now:
        reports.append(report("NEW", "NEW", None, times.rests))
    for index, fill in enumerate(fills):
        executed, quote = executed + fill.qty, quote + fill.quote_qty
        last = index == len(fills) - 1
        status = event.status if last and event.status == "FILLED" else "PARTIALLY_FILLED"
        reports.append(report("TRADE", status, fill, resting))
    if event.status in CLOSING_EXECUTION:
        reports.append(report(CLOSING_EXECUTION[event.status], event.status, None, False))
    elif not fills and not first and not times.triggered_now:
        reports.append(report("REPLACED", event.status, None, resting))
    return reports


def _prevented(market: Market, prevention: Prevention | None) -> dict[str, Any]:
    if prevention is None:
        return {}
    return {"v": prevention.prevented_match_id, "U": prevention.counter_order_id,
            "A": _qty(market, prevention.prevented_qty),
            "B": _qty(market, prevention.last_prevented_qty)}


STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
# Order types that never rest on the book (a STOP_LOSS triggers as a MARKET order).
NEVER_REST = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})


@dataclass(frozen=True)
class _OrderTimes:
    created_ms: int
    working_ms: int | None  # since when it is on the book (None: not, or not yet)
    stop: bool
    rests: bool  # an order of its type rests on the book once working
    triggered_now: bool  # a stop order that started working in this event

    @classmethod
    def of(cls, event: OrderEvent, order: Mapping[str, Any], previous_seq: int) -> _OrderTimes:
        created_ms = _ms(order["created_at"])
        stop = event.order_type in STOP_TYPES
        rests = event.order_type not in NEVER_REST
        working_at = order.get("working_at")
        working_ms = _ms(working_at) if working_at else (None if stop else created_ms)
        working_seq = order.get("working_seq")
        triggered = stop and working_seq is not None and previous_seq < working_seq <= event.seq
        return cls(created_ms, working_ms if rests else None, stop, rests, triggered)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _commission(market: Market, fill: Fill | None) -> str:
    if fill is None:
        return "0"
    scale = market.base_scale if fill.commission_asset == market.base_asset \
        else market.quote_scale
    return format_units(fill.commission, scale)


def account_position(balances: Iterable[Balance], now_ms: int) -> dict[str, Any]:
    return {"e": "outboundAccountPosition", "E": now_ms, "u": now_ms,
            "B": [{"a": b.asset, "f": format_units(b.free, b.scale),
                   "l": format_units(b.locked, b.scale)} for b in balances]}

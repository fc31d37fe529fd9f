"""Stream names, client requests and Binance's stream payloads (pure functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.candles import Interval
from chalicelib.domain.market_data import BookSnapshot, Fill, Prevention
from chalicelib.domain.orders import Market, MarketSpec, OrderStatus, OrderType, Side
from chalicelib.domain.stream_events import (
    AggTradeEvent,
    DepthEvent,
    KlineEvent,
    OrderEvent,
    TradeEvent,
    encode,
)
from chalicelib.service_layer.stream_fanout import parse_event
from chalicelib.service_layer.stream_names import (
    Stream,
    StreamKind,
    StreamRequestError,
    parse_stream,
)
from chalicelib.service_layer.stream_payloads import (
    agg_trade_payload,
    book_ticker_payload,
    depth_payload,
    execution_reports,
    kline_payload,
    partial_depth_payload,
    trade_payload,
)
from chalicelib.service_layer.stream_protocol import parse_request

BTCUSDT = Market(MarketSpec("BTCUSDT", 10**8, 10_000, 10_000, 10_000, 10**11), "BTC", "USDT",
                 8, 6, "TRADING")
NOW = 1_700_000_000_000
ORDER_ROW = {"client_order_id": "my-order", "time_in_force": "GTC",
             "created_at": datetime.fromtimestamp(1_699_999_999, UTC), "quote_order_qty": None,
             "stp": "EXPIRE_MAKER"}


@pytest.mark.parametrize(("name", "stream"), [
    ("btcusdt@trade", Stream("BTCUSDT", StreamKind.TRADE)),
    ("btcusdt@depth", Stream("BTCUSDT", StreamKind.DEPTH)),
    ("ethusdt@depth@100ms", Stream("ETHUSDT", StreamKind.DEPTH, speed="100ms")),
    ("ethusdt@depth@1000ms", Stream("ETHUSDT", StreamKind.DEPTH, speed="1000ms")),
    ("btcusdt@aggTrade", Stream("BTCUSDT", StreamKind.AGG_TRADE)),
    ("btcusdt@miniTicker", Stream("BTCUSDT", StreamKind.MINI_TICKER)),
    ("btcusdt@ticker_4h", Stream("BTCUSDT", StreamKind.WINDOW_TICKER, "4h")),
    ("btcusdt@avgPrice", Stream("BTCUSDT", StreamKind.AVG_PRICE)),
    ("!ticker@arr", Stream("", StreamKind.ALL_TICKERS)),
    ("!miniTicker@arr", Stream("", StreamKind.ALL_MINI_TICKERS)),
    ("!miniTicker@arr@1000ms", Stream("", StreamKind.ALL_MINI_TICKERS, speed="1000ms")),
    ("!ticker_1h@arr", Stream("", StreamKind.ALL_WINDOW_TICKERS, "1h")),
    ("btcusdt@bookTicker", Stream("BTCUSDT", StreamKind.BOOK_TICKER)),
    ("btcusdt@ticker", Stream("BTCUSDT", StreamKind.TICKER)),
    ("btcusdt@kline_1m", Stream("BTCUSDT", StreamKind.KLINE, "1m")),
    ("btcusdt@kline_1M", Stream("BTCUSDT", StreamKind.KLINE, "1M")),
    ("btcusdt@depth5", Stream("BTCUSDT", StreamKind.PARTIAL_DEPTH, levels=5)),
    ("btcusdt@depth20@100ms", Stream("BTCUSDT", StreamKind.PARTIAL_DEPTH, levels=20,
                                     speed="100ms")),
    ("btcusdt@depth10@1000ms", Stream("BTCUSDT", StreamKind.PARTIAL_DEPTH, levels=10,
                                      speed="1000ms")),
])
def test_stream_names_parse_and_print_back_unchanged(name: str, stream: Stream) -> None:
    assert parse_stream(name) == stream
    assert stream.name == name


@pytest.mark.parametrize("name", ["BTCUSDT@trade", "btcusdt@depth@10ms", "btcusdt@kline_2m",
                                  "btcusdt@depth15", "btcusdt@depth5@500ms",
                                  "btcusdt", "@trade", "btcusdt@trades", "b@trade", 5, None,
                                  "btcusdt@trade ", "user:1", "btcusdt@ticker_2h",
                                  "!ticker@arr@100ms", "!bookTicker"])
def test_invalid_stream_names_are_refused_with_code_2(name: object) -> None:
    with pytest.raises(StreamRequestError) as refused:
        parse_stream(name)
    assert refused.value.code == 2


def test_a_request_has_a_method_params_and_an_id() -> None:
    request = parse_request('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}')
    assert (request.method, request.params, request.id) == ("SUBSCRIBE", ["btcusdt@trade"], 7)


@pytest.mark.parametrize(("body", "code"), [
    ("{not json", 3),
    ("[1, 2]", 2),
    ('{"params": [], "id": 1}', 2),
    ('{"method": "SUBSCRIBE", "params": [], "id": -1}', 2),
    ('{"method": "SUBSCRIBE", "params": [], "id": true}', 2),
    ('{"method": "SUBSCRIBE", "params": [], "id": 1, "extra": 1}', 2),
])
def test_malformed_requests_get_binance_error_codes(body: str, code: int) -> None:
    with pytest.raises(StreamRequestError) as refused:
        parse_request(body)
    assert refused.value.code == code


def test_trade_payload_is_binances_with_decimal_strings() -> None:
    event = TradeEvent(market="BTCUSDT", seq=30, trade_id=12, time_ms=NOW - 5,
                       price=20_000_000_000, qty=1_500_000, quote_qty=300_000_000,
                       buyer_is_maker=True, maker_order_id=3, taker_order_id=4)
    assert trade_payload(BTCUSDT, event, NOW) == {
        "e": "trade", "E": NOW, "s": "BTCUSDT", "t": 12, "p": "20000.000000",
        "q": "0.01500000", "T": NOW - 5, "m": True, "M": True}


def test_an_agg_trade_payload_is_the_aggregate_with_its_first_and_last_trade() -> None:
    event = AggTradeEvent(market="BTCUSDT", seq=32, agg_id=12, time_ms=NOW - 5,
                          price=20_000_000_000, qty=1_500_000, first_trade_id=12,
                          last_trade_id=14, buyer_is_maker=False)
    assert agg_trade_payload(BTCUSDT, event, NOW) == {
        "e": "aggTrade", "E": NOW, "s": "BTCUSDT", "a": 12, "p": "20000.000000",
        "q": "0.01500000", "f": 12, "l": 14, "T": NOW - 5, "m": False, "M": True}


def test_depth_payload_carries_the_batchs_first_and_last_sequence() -> None:
    event = DepthEvent(market="BTCUSDT", first_seq=11, last_seq=14, bids=[(19_999_000_000, 0)],
                       asks=[(20_001_000_000, 250_000)])
    assert depth_payload(BTCUSDT, event, NOW) == {
        "e": "depthUpdate", "E": NOW, "s": "BTCUSDT", "U": 11, "u": 14,
        "b": [["19999.000000", "0.00000000"]], "a": [["20001.000000", "0.00250000"]]}


def test_partial_depth_is_the_top_levels_of_the_matchers_book() -> None:
    book = BookSnapshot(42, [(20_000_000_000 - i * 10_000, 100_000) for i in range(9)],
                        [(20_001_000_000, 250_000)])
    payload = partial_depth_payload(BTCUSDT, book, 5)
    assert payload["lastUpdateId"] == 42
    assert payload["bids"][0] == ["20000.000000", "0.00100000"]
    assert len(payload["bids"]) == 5
    assert payload["asks"] == [["20001.000000", "0.00250000"]]


def test_book_ticker_shows_zero_for_an_empty_side() -> None:
    book = BookSnapshot(9, [(20_000_000_000, 100_000_000)], [])
    assert book_ticker_payload(BTCUSDT, book) == {
        "u": 9, "s": "BTCUSDT", "b": "20000.000000", "B": "1.00000000", "a": "0.000000",
        "A": "0.00000000"}


def test_kline_payload_is_binances() -> None:
    event = KlineEvent(market="BTCUSDT", interval=Interval.M1, t=60_000, T=119_999,
                       o=1_000_000, h=3_000_000, l=500_000, c=2_000_000, v=100_000_000,
                       q=2_000_000, n=3, V=50_000_000, Q=1_000_000, f=1, L=3)
    assert kline_payload(BTCUSDT, event, NOW) == {"e": "kline", "E": NOW, "s": "BTCUSDT", "k": {
        "t": 60_000, "T": 119_999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 3, "o": "1.000000",
        "c": "2.000000", "h": "3.000000", "l": "0.500000", "v": "1.00000000", "n": 3,
        "x": False, "q": "2.000000", "V": "0.50000000", "Q": "1.000000", "B": "0"}}


def test_events_are_read_as_published_and_unknown_or_unreadable_ones_skipped() -> None:
    order = order_event()
    assert parse_event(encode(order)) == order
    assert parse_event(b'{"type":"candle_closed"}') is None
    assert parse_event(b"not json") is None
    assert parse_event(b'{"type":"trade","market":"BTCUSDT"}') is None


def order_event(**changes: Any) -> OrderEvent:
    new = OrderEvent(market="BTCUSDT", seq=20, order_id=5, user_id=1, side=Side.BUY,
                     order_type=OrderType.LIMIT, price=20_000_000_000, quantity=2_000_000,
                     executed_qty=0, cumulative_quote_qty=0, status=OrderStatus.NEW)
    return replace(new, **changes)


def fill(trade_id: int, qty: int) -> Fill:
    return Fill(trade_id, 20_000_000_000, qty, qty * 200, NOW - 1, False, qty // 1000, "BTC")


def summary(reports: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(r["x"], r["X"], r["l"], r["z"]) for r in reports]


def test_a_new_order_reports_new_once() -> None:
    reports = execution_reports(BTCUSDT, order_event(), ORDER_ROW, [], first=True, now_ms=NOW)
    assert summary(reports) == [("NEW", "NEW", "0.00000000", "0.00000000")]
    assert list((reports[0] | {"E": 0}).items()) == list({
        "e": "executionReport", "E": 0, "s": "BTCUSDT", "c": "my-order", "S": "BUY",
        "o": "LIMIT", "f": "GTC", "q": "0.02000000", "p": "20000.000000", "P": "0.000000",
        "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 5,
        "l": "0.00000000", "z": "0.00000000", "L": "0.000000", "n": "0", "N": None, "T": NOW,
        "t": -1, "I": 20_000_000, "w": True, "m": False, "M": False, "O": 1_699_999_999_000,
        "Z": "0.000000", "Y": "0.000000", "Q": "0.000000", "W": 1_699_999_999_000,
        "V": "EXPIRE_MAKER"}.items())  # in Binance's order


def test_a_taker_that_fills_at_once_reports_new_then_each_trade() -> None:
    event = order_event(executed_qty=2_000_000, cumulative_quote_qty=400_000_000,
                        status=OrderStatus.FILLED)
    reports = execution_reports(BTCUSDT, event, ORDER_ROW, [fill(1, 500_000), fill(2, 1_500_000)],
                                first=True, now_ms=NOW)
    assert summary(reports) == [("NEW", "NEW", "0.00000000", "0.00000000"),
                                ("TRADE", "PARTIALLY_FILLED", "0.00500000", "0.00500000"),
                                ("TRADE", "FILLED", "0.01500000", "0.02000000")]
    assert [(r["t"], r["L"], r["n"], r["N"], r["Y"]) for r in reports[1:]] == [
        (1, "20000.000000", "0.00000500", "BTC", "100.000000"),
        (2, "20000.000000", "0.00001500", "BTC", "300.000000")]
    assert reports[-1]["Z"] == "400.000000"


def test_a_later_event_reports_only_the_trades_since_the_previous_one() -> None:
    event = order_event(executed_qty=1_500_000, cumulative_quote_qty=300_000_000,
                        status=OrderStatus.PARTIALLY_FILLED)
    reports = execution_reports(BTCUSDT, event, ORDER_ROW, [fill(7, 1_000_000)], first=False,
                                now_ms=NOW)
    assert summary(reports) == [("TRADE", "PARTIALLY_FILLED", "0.01000000", "0.01500000")]
    assert reports[0]["w"] is True


def test_an_ioc_remainder_expires_after_its_trades() -> None:
    event = order_event(executed_qty=500_000, cumulative_quote_qty=100_000_000,
                        status=OrderStatus.EXPIRED, done_reason="EXPIRED_IOC")
    reports = execution_reports(BTCUSDT, event, ORDER_ROW, [fill(3, 500_000)], first=True,
                                now_ms=NOW)
    assert summary(reports) == [("NEW", "NEW", "0.00000000", "0.00000000"),
                                ("TRADE", "PARTIALLY_FILLED", "0.00500000", "0.00500000"),
                                ("EXPIRED", "EXPIRED", "0.00000000", "0.00500000")]


@pytest.mark.parametrize(("status", "execution"), [
    (OrderStatus.CANCELED, "CANCELED"), (OrderStatus.EXPIRED_IN_MATCH, "TRADE_PREVENTION")])
def test_a_resting_order_that_ends_without_trades(status: OrderStatus, execution: str) -> None:
    reports = execution_reports(BTCUSDT, order_event(status=status), ORDER_ROW, [],
                                first=False, now_ms=NOW)
    assert summary(reports) == [(execution, status, "0.00000000", "0.00000000")]
    assert reports[0]["w"] is False
    # A cancel names the canceled order in C, as connectors read it.
    assert reports[0]["C"] == ("my-order" if execution == "CANCELED" else "")


def test_only_the_report_of_an_order_expired_by_stp_says_what_it_prevented() -> None:
    prevention = Prevention(7, 42, 1_500_000, 500_000)
    expired = execution_reports(BTCUSDT, order_event(status=OrderStatus.EXPIRED_IN_MATCH),
                                ORDER_ROW, [], first=True, now_ms=NOW, prevention=prevention)
    canceled = execution_reports(BTCUSDT, order_event(status=OrderStatus.CANCELED),
                                 ORDER_ROW, [], first=False, now_ms=NOW, prevention=prevention)
    assert [{k: r.get(k) for k in "xvUAB"} for r in expired + canceled] == [
        {"x": "NEW", "v": None, "U": None, "A": None, "B": None},
        {"x": "TRADE_PREVENTION", "v": 7, "U": 42, "A": "0.01500000", "B": "0.00500000"},
        {"x": "CANCELED", "v": None, "U": None, "A": None, "B": None}]


def test_each_report_of_an_event_has_its_own_execution_id() -> None:
    event = order_event(executed_qty=2_000_000, cumulative_quote_qty=400_000_000,
                        status=OrderStatus.FILLED)
    reports = execution_reports(BTCUSDT, event, ORDER_ROW, [fill(1, 500_000), fill(2, 1_500_000)],
                                first=True, now_ms=NOW)
    later = execution_reports(BTCUSDT, order_event(seq=21, status=OrderStatus.CANCELED),
                              ORDER_ROW, [], first=False, now_ms=NOW)
    ids = [r["I"] for r in reports + later]
    assert len(set(ids)) == len(ids) == 4


def test_a_rejected_post_only_order_reports_only_its_rejection() -> None:
    event = order_event(order_type=OrderType.LIMIT_MAKER, status=OrderStatus.REJECTED,
                        done_reason="REJECTED_POST_ONLY")
    reports = execution_reports(BTCUSDT, event, ORDER_ROW, [], first=True, now_ms=NOW)
    assert [(r["x"], r["X"], r["r"]) for r in reports] == [
        ("REJECTED", "REJECTED", "REJECTED_POST_ONLY")]


def test_an_amend_is_reported_as_replaced() -> None:
    reports = execution_reports(BTCUSDT, order_event(quantity=1_000_000), ORDER_ROW, [],
                                first=False, now_ms=NOW)
    assert [(r["x"], r["X"], r["q"]) for r in reports] == [("REPLACED", "NEW", "0.01000000")]


STOP_ROW = {**ORDER_ROW, "stop_price": 19_900_000_000, "working_at": None, "working_seq": None}
TRIGGERED_ROW = {**STOP_ROW, "working_at": datetime.fromtimestamp(1_700_000_000, UTC),
                 "working_seq": 25}


def test_a_waiting_stop_order_is_new_but_not_working() -> None:
    event = order_event(order_type=OrderType.STOP_LOSS_LIMIT)
    (new,) = execution_reports(BTCUSDT, event, STOP_ROW, [], first=True, now_ms=NOW)
    assert (new["x"], new["P"], new["w"], "W" in new) == ("NEW", "19900.000000", False, False)


def test_a_triggered_stop_order_reports_new_again_working_then_its_trades() -> None:
    event = order_event(seq=26, order_type=OrderType.STOP_LOSS_LIMIT, executed_qty=500_000,
                        cumulative_quote_qty=100_000_000,
                        status=OrderStatus.PARTIALLY_FILLED)
    reports = execution_reports(BTCUSDT, event, TRIGGERED_ROW, [fill(9, 500_000)],
                                first=False, now_ms=NOW, previous_seq=20)
    assert [(r["x"], r["w"], r["W"]) for r in reports] == [
        ("NEW", True, 1_700_000_000_000), ("TRADE", True, 1_700_000_000_000)]
    later = execution_reports(BTCUSDT, replace(event, seq=30), TRIGGERED_ROW, [],
                              first=False, now_ms=NOW, previous_seq=26)
    assert [r["x"] for r in later] == ["REPLACED"]  # not triggered again


def test_a_cancel_names_the_cancel_requests_client_id_and_the_orders() -> None:
    event = order_event(status=OrderStatus.CANCELED)
    (canceled,) = execution_reports(BTCUSDT, event, ORDER_ROW, [], first=False, now_ms=NOW,
                                    cancel_client_id="my-cancel")
    assert (canceled["x"], canceled["c"], canceled["C"]) == ("CANCELED", "my-cancel", "my-order")


def test_an_order_of_a_list_names_its_list_in_g() -> None:
    (new,) = execution_reports(BTCUSDT, order_event(), {**ORDER_ROW, "order_list_id": 12}, [],
                               first=True, now_ms=NOW)
    (alone,) = execution_reports(BTCUSDT, order_event(), ORDER_ROW, [], first=True, now_ms=NOW)
    assert (new["g"], alone["g"]) == (12, -1)

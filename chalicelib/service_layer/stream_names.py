"""The names of the WebSocket streams, as Binance spells them.

Public streams (symbol in lower case):

* ``<symbol>@trade``: one ``trade`` per trade; ``<symbol>@aggTrade``: one ``aggTrade``
  per trade (each trade is its own aggregate);
* ``<symbol>@depth`` (also ``@depth@100ms`` and ``@depth@1000ms``): one ``depthUpdate``
  per matcher batch, with the new total of every level the batch touched ("0": gone).
  ``U``/``u`` are the batch's first and last market sequence: they chain (next ``U`` =
  previous ``u`` + 1), and a depth snapshot's ``lastUpdateId`` is on the same sequence;
* ``<symbol>@depth<levels>`` (also ``@100ms``, ``@1000ms``): the top 5, 10 or 20 levels
  after each batch;
* ``<symbol>@bookTicker``: best bid and ask after each batch;
* ``<symbol>@kline_<interval>``: the candles the candles function updates;
* ``<symbol>@ticker``, ``@miniTicker``, ``@ticker_<1h|4h|1d>``, ``@avgPrice`` and the
  all-market ``!ticker@arr``, ``!miniTicker@arr`` (also ``@1000ms``) and
  ``!ticker_<window>@arr``: after each trade.

A user's private stream is the channel ``user:<id>``, which no client can name; a
listenKey (``/ws/<listenKey>``) is a channel of its own, named by the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.candles import Interval

USER_CHANNEL_PREFIX = "user:"
# How a connection takes a user's channel under a listenKey's name (a subscription tag).
LISTEN_KEY_TAG = "key:"


class StreamRequestError(Exception):
    """A request the stream API refuses, with Binance's WebSocket error code."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class StreamKind(StrEnum):
    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    DEPTH = "depth"  # <symbol>@depth[@100ms|@1000ms]
    BOOK_TICKER = "bookTicker"
    TICKER = "ticker"
    MINI_TICKER = "miniTicker"
    WINDOW_TICKER = "windowTicker"  # <symbol>@ticker_<window>
    AVG_PRICE = "avgPrice"
    KLINE = "kline"
    PARTIAL_DEPTH = "partialDepth"  # <symbol>@depth<levels>[@100ms|@1000ms]
    ALL_TICKERS = "!ticker@arr"
    ALL_MINI_TICKERS = "!miniTicker@arr"
    ALL_WINDOW_TICKERS = "!windowTicker@arr"  # !ticker_<window>@arr


PARTIAL_DEPTH_LEVELS = (5, 10, 20)
# A depth stream's update speeds: "" is Binance's default (1000 ms for depth).
DEPTH_SPEEDS = ("", "100ms", "1000ms")
# The rolling windows of the window tickers, in ms.
TICKER_WINDOWS = {"1h": 3_600_000, "4h": 4 * 3_600_000, "1d": 24 * 3_600_000}
_WINDOW = "|".join(TICKER_WINDOWS)
_SYMBOL_KINDS = "|".join(k.value for k in (
    StreamKind.TRADE, StreamKind.AGG_TRADE, StreamKind.BOOK_TICKER, StreamKind.TICKER,
    StreamKind.MINI_TICKER, StreamKind.AVG_PRICE))

_STREAM_NAME = re.compile(
    r"(?P<symbol>[a-z0-9]{2,20})@(?:(?P<kind>" + _SYMBOL_KINDS + r")"
    r"|kline_(?P<interval>" + "|".join(i.value for i in Interval) + r")"
    r"|ticker_(?P<window>" + _WINDOW + r")"
    r"|depth(?P<levels>5|10|20)?(?:@(?P<speed>100ms|1000ms))?)"
    r"|!(?P<all>ticker|miniTicker)@arr(?:@(?P<all_speed>1000ms))?"
    r"|!ticker_(?P<all_window>" + _WINDOW + r")@arr")


@dataclass(frozen=True)
class Stream:
    symbol: str  # upper case, as markets are named; "" for the all-market streams
    kind: StreamKind
    interval: str = ""  # a kline's interval, a window ticker's window
    levels: int = 0  # a partial depth stream's levels per side
    speed: str = ""  # a depth stream's "100ms" or "1000ms"; an all-market one's "1000ms"

    @property
    def name(self) -> str:
        kind = self.kind
        if kind is StreamKind.ALL_WINDOW_TICKERS:
            return f"!ticker_{self.interval}@arr"
        if kind in (StreamKind.ALL_TICKERS, StreamKind.ALL_MINI_TICKERS):
            return kind.value + ("@" + self.speed if self.speed else "")
        if kind is StreamKind.KLINE:
            suffix = f"kline_{self.interval}"
        elif kind is StreamKind.WINDOW_TICKER:
            suffix = f"ticker_{self.interval}"
        elif kind in (StreamKind.DEPTH, StreamKind.PARTIAL_DEPTH):
            suffix = f"depth{self.levels or ''}{'@' + self.speed if self.speed else ''}"
        else:
            suffix = kind.value
        return f"{self.symbol.lower()}@{suffix}"


def parse_stream(name: object) -> Stream:
    if not isinstance(name, str) or (match := _STREAM_NAME.fullmatch(name)) is None:
        raise StreamRequestError(2, f"Invalid request: invalid stream name {name!r}")
    if match["all"]:
        return Stream("", StreamKind.ALL_TICKERS if match["all"] == "ticker"
                      else StreamKind.ALL_MINI_TICKERS, speed=match["all_speed"] or "")
    if match["all_window"]:
        return Stream("", StreamKind.ALL_WINDOW_TICKERS, match["all_window"])
    symbol = match["symbol"].upper()
    if match["interval"]:
        return Stream(symbol, StreamKind.KLINE, match["interval"])
    if match["window"]:
        return Stream(symbol, StreamKind.WINDOW_TICKER, match["window"])
    if match["kind"]:
        return Stream(symbol, StreamKind(match["kind"]))
    if match["levels"]:
        return Stream(symbol, StreamKind.PARTIAL_DEPTH, levels=int(match["levels"]),
                      speed=match["speed"] or "")
    return Stream(symbol, StreamKind.DEPTH, speed=match["speed"] or "")


def user_channel(user_id: int) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"

"""The names of the WebSocket streams, as Binance spells them.

Public streams (symbol in lower case):

* ``<symbol>@trade``: one ``trade`` per trade;
* ``<symbol>@depth`` and ``<symbol>@depth@100ms``: one ``depthUpdate`` per matcher batch,
  with the new total of every level the batch touched ("0": gone). ``U``/``u`` are the
  batch's first and last market sequence: they chain (next ``U`` = previous ``u`` + 1),
  and a depth snapshot's ``lastUpdateId`` is on the same sequence;
* ``<symbol>@depth<levels>[@100ms]``: the top 5, 10 or 20 levels after each batch;
* ``<symbol>@bookTicker``: best bid and ask after each batch;
* ``<symbol>@kline_<interval>``: the candles the candles function updates;
* ``<symbol>@ticker``: rolling 24 h statistics after each trade.

A user's private stream is the channel ``user:<id>``, which no client can name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.candles import Interval

USER_CHANNEL_PREFIX = "user:"


class StreamRequestError(Exception):
    """A request the stream API refuses, with Binance's WebSocket error code."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


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

"""What the use cases need from the outside world, as Protocols.

The adapters implement them against Kafka (``order_publisher``), Redis
(``stream_subscriptions``, ``listen_keys``, ``market_cache``) and API Gateway
(``ws_sender``); the fakes in ``tests/support/fakes.py`` implement them in memory. Both
pass the same contract tests (``tests/integration/adapters``), so a use case tested
with the fakes behaves the same with the adapters.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from chalicelib.adapters.ws_sender import SendError as SendError
from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.command_trace import CommandTrace
from chalicelib.domain.market_data import BookSnapshot, MarketSnapshot, TopOfBook
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.stream_events import TradeEvent


class CommandPublisher(Protocol):
    def publish(self, commands: Sequence[OrderCommand],
                traces: Mapping[int, CommandTrace] | None = None) -> list[int]:
        """Send the commands, keyed by market, each with its trace (by command id) as
        the message's headers; return the ids the broker acknowledged (durably held),
        in the order sent. A broker out of reach acknowledges none."""


class Subscriptions(Protocol):
    """Which WebSocket connections listen to which channels (stream names, or a user's
    private channel)."""

    def add(self, connection_id: str, channels: Sequence[str]) -> None: ...

    def remove(self, connection_id: str, channels: Sequence[str]) -> None: ...

    def channels_of(self, connection_id: str) -> set[str]: ...

    def drop_connection(self, connection_id: str) -> None:
        """Forget a closed (or gone) connection, its channels and its combined flag."""

    def set_combined(self, connection_id: str, combined: bool = True) -> None: ...

    def combined(self, connection_ids: Collection[str]) -> set[str]:
        """Those of the connections that take combined stream payloads."""

    def subscribers(self, channels: Collection[str]) -> dict[str, set[str]]:
        """The connections of each channel that has any."""

    def tag(self, connection_id: str, channel: str, tag: str) -> None:
        """Deliver ``channel`` to the connection (also) under ``tag``: a WebSocket API
        subscription (``sub:<id>``) or a listenKey (``key:<listenKey>``), which say how
        its messages are wrapped."""

    def untag(self, connection_id: str, tags: Sequence[str]) -> None: ...

    def tags_of(self, connection_id: str) -> dict[str, str]:
        """The connection's tags, each with its channel."""

    def tagged(self, connection_ids: Collection[str], channel: str) -> dict[str, list[str]]:
        """The tags on ``channel`` of each of the connections that has any, sorted."""

    def next_subscription_id(self, connection_id: str) -> int:
        """0, then 1, 2...: the connection's WebSocket API subscription ids."""

    def set_session(self, connection_id: str, session: Mapping[str, str] | None) -> None:
        """The connection's WebSocket API session (``session.logon``); None ends it."""

    def session_of(self, connection_id: str) -> dict[str, str]:
        """The connection's session; empty when it has none."""


class CancelRequests(Protocol):
    """The client ids cancel requests chose (``newClientOrderId``), which the cancel's
    ``executionReport`` shows in ``c``. An order is named by its id or, as the request
    named it, by its client order id."""

    def record(self, user_id: int, order_id: int | None, client_order_id: str | None,
               cancel_client_id: str) -> None: ...

    def take(self, user_id: int, order_id: int, client_order_id: str) -> str | None:
        """The cancel client id recorded for the order (by either name), forgotten."""


class ListenKeys(Protocol):
    """Binance's listenKeys: a user's REST-opened data stream, valid 60 minutes."""

    def open(self, user_id: int, fresh_key: str) -> str:
        """The user's valid key, its validity extended; else ``fresh_key``, now theirs."""

    def user_of(self, listen_key: str) -> int | None: ...

    def keep_alive(self, listen_key: str, user_id: int) -> bool:
        """Another 60 minutes for the user's key; False if it is not theirs (or gone)."""

    def close(self, listen_key: str, user_id: int) -> bool: ...


class EventProgress(Protocol):
    """The last event of each order the fan-out handled."""

    def last_seq(self, order_id: int) -> int:
        """The sequence of the order's last handled event (0: none yet)."""

    def recorded_from(self, market: str, seq: int) -> int:
        """The market sequence from which the market's order events are recorded: the
        mark held, else ``seq``, now the mark."""

    def record(self, order_id: int, seq: int) -> None: ...


class Sender(Protocol):
    def send(self, connection_id: str, data: str) -> bool:
        """Post one message; False when the connection is gone. Raises ``SendError``
        when the post fails otherwise (the endpoint out of reach, say)."""


class MarketCache(Protocol):
    """The market data the matcher keeps current (``adapters.market_cache`` describes
    it). Reads answer None (or a shorter list) for what is not held, never a guess."""

    def book(self, market: str) -> BookSnapshot | None: ...

    def newest_trades(self, market: str, limit: int) -> list[TradeEvent] | None:
        """The newest ``limit`` trades, newest first, if held without a gap (or every
        trade since the first); else None."""

    def top_of_book(self, market: str) -> TopOfBook | None: ...

    def last_price(self, market: str) -> int | None: ...

    def last_trade_id(self, market: str) -> int:
        """The newest trade the matcher published (0 if not known)."""

    def restore(self, snap: MarketSnapshot) -> bool:
        """Write ``snap`` back unless newer data is held; True if it was written."""

    def oldest_kline_time(self, market: str, interval: Interval) -> int | None: ...

    def klines(self, market: str, interval: Interval, start_ms: int, end_ms: int, limit: int,
               *, newest: bool) -> list[Candle]:
        """Candles opening within [start_ms, end_ms], ascending; the newest ``limit`` of
        them if ``newest``, else the oldest."""

    def ticker_stats(self, market: str, last_trade_id: int) -> dict[str, int] | None:
        """The 24 h statistics cached as of the market's trade ``last_trade_id``, until
        their time to live has passed."""

    def cache_ticker_stats(self, market: str, last_trade_id: int, stats: dict[str, int],
                           ttl_ms: int) -> None: ...


class SettledNotice(Protocol):
    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for word that the matcher settled one of the watched
        orders since the watch began (or since the last wait that returned True)."""


class SettledOrders(Protocol):
    """Word from the matcher, after its commit, naming the orders a batch settled: a
    waiter reads an order again when told, instead of polling the database."""

    def watch(self, order_ids: Collection[int]) -> AbstractContextManager[SettledNotice]:
        """Listen for the orders from now on (before their command is published, so
        that no word is missed) until the block ends."""

"""Candles in PostgreSQL (history) and Kafka (kline events).

PostgreSQL is the source of truth. ``CandleRepository.fold`` applies a batch of trades in
ONE transaction: it locks the ``candle_progress`` rows of the batch's markets (sorted, so
concurrent invocations cannot deadlock), drops the trades at or below each market's
``last_trade_id`` (already folded: a redelivery), upserts the candles of the rest with
one set-based statement that merges them into the stored ones, advances the progress,
and reads back every candle the batch's trades touch, as they are at commit (the lock
keeps other writers of these markets out until then).

Redis (``market_cache.RecentKlines``) and Kafka are written from those committed rows,
after the commit. Both writes are idempotent and carry the candle's last trade id, so
they can be redone at any time from PostgreSQL: a redelivered batch folds nothing but
rewrites its candles' Redis entries and kline events, which repairs whatever a failure
after the commit left out (the caller leaves out those already sent final).

``CandleRepository.ended`` is the other side, for the matcher's time marks: the candles
a market's last trade is in that have ended by the mark, with the market's progress row
locked while the caller sends them, so that closers of a market take turns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer

from chalicelib.adapters.postgres import FUNCTION_LIMITS, DbLimits, Deadline, connect
from chalicelib.domain.candles import Candle, Interval, Trade, fold, open_time, touched_keys
from chalicelib.domain.stream_events import KlineEvent, encode

Conn = psycopg.Connection[Any]

# Merging follows chalicelib.domain.candles.merge: the open of the lower first trade id,
# the close of the higher last trade id, extremes and sums combined.
_UPSERT = (
    "INSERT INTO candles (market, interval, open_time, close_time, open, high, low, close,"
    "  volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume,"
    "  first_trade_id, last_trade_id)"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::bigint[],"
    "  %b::numeric[], %b::numeric[], %b::numeric[], %b::numeric[], %b::numeric[],"
    "  %b::numeric[], %b::bigint[], %b::numeric[], %b::numeric[], %b::bigint[], %b::bigint[])"
    " ON CONFLICT (market, interval, open_time) DO UPDATE SET"
    "  open = CASE WHEN EXCLUDED.first_trade_id < candles.first_trade_id"
    "   THEN EXCLUDED.open ELSE candles.open END,"
    "  high = GREATEST(candles.high, EXCLUDED.high),"
    "  low = LEAST(candles.low, EXCLUDED.low),"
    "  close = CASE WHEN EXCLUDED.last_trade_id > candles.last_trade_id"
    "   THEN EXCLUDED.close ELSE candles.close END,"
    "  volume = candles.volume + EXCLUDED.volume,"
    "  quote_volume = candles.quote_volume + EXCLUDED.quote_volume,"
    "  trade_count = candles.trade_count + EXCLUDED.trade_count,"
    "  taker_buy_volume = candles.taker_buy_volume + EXCLUDED.taker_buy_volume,"
    "  taker_buy_quote_volume = candles.taker_buy_quote_volume"
    "   + EXCLUDED.taker_buy_quote_volume,"
    "  first_trade_id = LEAST(candles.first_trade_id, EXCLUDED.first_trade_id),"
    "  last_trade_id = GREATEST(candles.last_trade_id, EXCLUDED.last_trade_id)"
)

_SELECT_TOUCHED = (
    "SELECT c.market, c.interval, c.open_time, c.close_time, c.open, c.high, c.low, c.close,"
    "  c.volume, c.quote_volume, c.trade_count, c.taker_buy_volume, c.taker_buy_quote_volume,"
    "  c.first_trade_id, c.last_trade_id"
    " FROM candles c"
    " JOIN unnest(%b::text[], %b::text[], %b::bigint[]) AS k(market, interval, open_time)"
    "  ON c.market = k.market AND c.interval = k.interval AND c.open_time = k.open_time"
    " ORDER BY c.market, c.interval, c.open_time"
)

# The candle before each given one (the one a newly opened candle closes).
_SELECT_PREVIOUS = (
    "SELECT p.market, p.interval, p.open_time, p.close_time, p.open, p.high, p.low, p.close,"
    "  p.volume, p.quote_volume, p.trade_count, p.taker_buy_volume, p.taker_buy_quote_volume,"
    "  p.first_trade_id, p.last_trade_id"
    " FROM unnest(%b::text[], %b::text[], %b::bigint[]) AS k(market, interval, open_time)"
    " CROSS JOIN LATERAL (SELECT * FROM candles c WHERE c.market = k.market"
    "  AND c.interval = k.interval AND c.open_time < k.open_time"
    "  ORDER BY c.open_time DESC LIMIT 1) AS p"
)


@dataclass(frozen=True, slots=True)
class FoldResult:
    folded_trades: int
    skipped_trades: int
    written_candles: int
    # Every candle the batch's trades fall in (folded now or before), as committed.
    candles: list[Candle]
    # The candles a later one has begun after (Binance's final kline, ``x: true``): those
    # of ``candles`` but the newest of each market and interval, and the stored candle
    # before each candle this batch opened.
    closed: list[Candle] = field(default_factory=list)
    # The 1s candles of the seconds the batch's trades fall in (not stored: built from
    # every trade of those seconds, for the kline_1s streams).
    seconds: list[Candle] = field(default_factory=list)


class CandleRepository:
    """Folds trades into the ``candles`` table; keeps one connection across invocations."""

    def __init__(self, database_url: str, limits: DbLimits = FUNCTION_LIMITS) -> None:
        self._url = database_url
        self._limits = limits
        self._conn: Conn | None = None

    def fold(self, trades: Mapping[str, Sequence[Trade]]) -> FoldResult:
        """Fold each market's trades (any order) in one transaction; see the module doc."""
        markets = sorted(m for m, market_trades in trades.items() if market_trades)
        if not markets:
            return FoldResult(0, 0, 0, [])
        conn = self._connection()
        with Deadline(conn, self._limits.deadline_s), conn.transaction():
            progress = _lock_progress(conn, markets)
            fresh = {m: _complete(conn, m, progress[m], trades[m]) for m in markets}
            new_candles = [c for m in markets for c in fold(m, fresh[m])]
            _upsert(conn, new_candles)
            _advance_progress(conn, {m: max(t.trade_id for t in fresh[m])
                                     for m in markets if fresh[m]})
            touched = set().union(*(touched_keys(m, [*trades[m], *fresh[m]]) for m in markets))
            committed = _select(conn, sorted(touched))
            closed = _closed(conn, committed, progress)
        seconds: list[Candle] = []
        for m in markets:
            current, ended = _seconds(conn, m, [*trades[m], *fresh[m]], progress[m])
            seconds += current
            closed += ended
        folded = sum(len(ts) for ts in fresh.values())
        total = sum(len(trades[m]) for m in markets)
        return FoldResult(folded, max(total - folded, 0), len(new_candles), committed, closed,
                          seconds)

    def unfolded(self, market: str, up_to_id: int) -> list[Trade]:
        """The market's trades after those folded, up to id ``up_to_id``, from the table:
        a time mark names the last trade, and one whose event never came must be in its
        candle before that closes."""
        rows = self._connection().execute(
            "SELECT id, floor(extract(epoch FROM executed_at) * 1000)::bigint, price,"
            " quantity, quote_quantity, buyer_is_maker FROM trades WHERE market = %s"
            " AND id <= %s AND id > COALESCE((SELECT last_trade_id FROM candle_progress"
            " WHERE market = %s), 0) ORDER BY id", (market, up_to_id, market)).fetchall()
        return [Trade(int(i), int(ms), int(p), int(q), int(qq), bool(m))
                for i, ms, p, q, qq, m in rows]

    @contextmanager
    def ended(self, market: str, before_ms: int) -> Iterator[list[Candle]]:
        """The market's candles that may still be open (those holding its last folded
        trade, 1s included) and ended before ``before_ms``; the market's progress row
        stays locked until the block ends, so closers of a market take turns."""
        conn = self._connection()
        with Deadline(conn, self._limits.deadline_s), conn.transaction():
            folded_up_to = _lock_progress(conn, [market])[market]
            yield _newest_ended(conn, market, folded_up_to, before_ms)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self._url, autocommit=True, limits=self._limits)
        return self._conn


def _lock_progress(conn: Conn, markets: list[str]) -> dict[str, int]:
    conn.execute("INSERT INTO candle_progress (market) SELECT unnest(%b::text[])"
                 " ON CONFLICT (market) DO NOTHING", (markets,))
    rows = conn.execute("SELECT market, last_trade_id FROM candle_progress"
                        " WHERE market = ANY(%b::text[]) ORDER BY market FOR UPDATE",
                        (markets,)).fetchall()
    return {str(market): int(last) for market, last in rows}


def _complete(conn: Conn, market: str, folded_up_to: int, trades: Sequence[Trade]) -> list[Trade]:
    """The market's trades after ``folded_up_to`` up to the newest in ``trades``, each once.

    The matcher publishes trade events after its commit, best effort: a crash in between
    loses some. Folding acknowledges every earlier trade id, so a gap would stay forever;
    instead the missing trades are read from the ``trades`` table, which has them all.
    """
    fresh = {t.trade_id: t for t in trades if t.trade_id > folded_up_to}
    if not fresh or len(fresh) == max(fresh) - folded_up_to:
        return [fresh[i] for i in sorted(fresh)]
    rows = conn.execute(
        "SELECT id, (extract(epoch FROM executed_at) * 1000)::bigint, price, quantity,"
        " quote_quantity, buyer_is_maker FROM trades"
        " WHERE market = %s AND id > %s AND id <= %s ORDER BY id",
        (market, folded_up_to, max(fresh))).fetchall()
    stored = [Trade(int(i), int(ms), int(p), int(q), int(qq), bool(m))
              for i, ms, p, q, qq, m in rows]
    return stored or [fresh[i] for i in sorted(fresh)]


def _upsert(conn: Conn, candles: Sequence[Candle]) -> None:
    if not candles:
        return
    conn.execute(_UPSERT, (
        [c.market for c in candles], [c.interval.value for c in candles],
        [c.open_time for c in candles], [c.close_time for c in candles],
        [c.open for c in candles], [c.high for c in candles], [c.low for c in candles],
        [c.close for c in candles], [c.volume for c in candles],
        [c.quote_volume for c in candles], [c.trade_count for c in candles],
        [c.taker_buy_volume for c in candles], [c.taker_buy_quote_volume for c in candles],
        [c.first_trade_id for c in candles], [c.last_trade_id for c in candles]))


def _advance_progress(conn: Conn, last_trade_ids: dict[str, int]) -> None:
    if not last_trade_ids:
        return
    markets = sorted(last_trade_ids)
    conn.execute("UPDATE candle_progress p SET last_trade_id = v.last_trade_id"
                 " FROM unnest(%b::text[], %b::bigint[]) AS v(market, last_trade_id)"
                 " WHERE p.market = v.market",
                 (markets, [last_trade_ids[m] for m in markets]))


def _select(conn: Conn, keys: Sequence[tuple[str, Interval, int]]) -> list[Candle]:
    rows = conn.execute(_SELECT_TOUCHED, ([k[0] for k in keys], [k[1].value for k in keys],
                                          [k[2] for k in keys])).fetchall()
    return [candle_from_row(row) for row in rows]


def _closed(conn: Conn, committed: Sequence[Candle], folded_before: Mapping[str, int]
            ) -> list[Candle]:
    """``FoldResult.closed``; ``committed`` is by market, interval and open time."""
    closed: list[Candle] = []
    opened: list[Candle] = []
    for _, group in groupby(committed, key=lambda c: (c.market, c.interval)):
        candles = list(group)
        closed += candles[:-1]
        if candles[0].first_trade_id > folded_before[candles[0].market]:
            opened.append(candles[0])
    if not opened:
        return closed
    rows = conn.execute(_SELECT_PREVIOUS, ([c.market for c in opened],
                                           [c.interval.value for c in opened],
                                           [c.open_time for c in opened])).fetchall()
    return [candle_from_row(row) for row in rows] + closed


# The newest stored candle of each interval of a market.
_SELECT_NEWEST = (
    "SELECT DISTINCT ON (interval) market, interval, open_time, close_time, open, high, low,"
    "  close, volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume,"
    "  first_trade_id, last_trade_id"
    " FROM candles WHERE market = %s ORDER BY interval, open_time DESC"
)


def _newest_ended(conn: Conn, market: str, folded_up_to: int, before_ms: int
                  ) -> list[Candle]:
    """``CandleRepository.ended``: trades fold in id order, so the newest candle of each
    interval holds the last folded trade; every older one was closed by a later trade."""
    newest = [candle_from_row(row) for row in conn.execute(_SELECT_NEWEST, (market,))]
    last = conn.execute("SELECT floor(extract(epoch FROM executed_at) * 1000)::bigint"
                        " FROM trades WHERE market = %s AND id = %s",
                        (market, folded_up_to)).fetchone()
    if last is not None:
        second = open_time(Interval.S1, int(last[0]))
        newest += fold(market, _trades_between(conn, market, second, second + 999),
                       [Interval.S1])
    return [c for c in newest if c.close_time < before_ms]


def _seconds(conn: Conn, market: str, batch: Sequence[Trade], folded_before: int
             ) -> tuple[list[Candle], list[Candle]]:
    """The 1s candles of the seconds ``batch`` falls in, folded from every trade of those
    seconds, and those that closed (as ``FoldResult.closed`` says)."""
    touched = {open_time(Interval.S1, t.time_ms) for t in batch}
    found = [c for c in fold(market, _trades_between(conn, market, min(touched),
                                                     max(touched) + 999), [Interval.S1])
             if c.open_time in touched]
    if not found:
        return [], []
    closed = found[:-1]
    if found[0].first_trade_id > folded_before:
        before = conn.execute("SELECT floor(extract(epoch FROM executed_at) * 1000)::bigint"
                              " FROM trades WHERE market = %s AND id < %s"
                              " ORDER BY id DESC LIMIT 1",
                              (market, found[0].first_trade_id)).fetchone()
        if before is not None:
            second = open_time(Interval.S1, int(before[0]))
            closed = fold(market, _trades_between(conn, market, second, second + 999),
                          [Interval.S1]) + closed
    return found, closed


def _trades_between(conn: Conn, market: str, start_ms: int, end_ms: int) -> list[Trade]:
    rows = conn.execute(
        "SELECT id, floor(extract(epoch FROM executed_at) * 1000)::bigint, price, quantity,"
        " quote_quantity, buyer_is_maker FROM trades WHERE market = %s"
        " AND executed_at >= 'epoch'::timestamptz + %s * interval '1 millisecond'"
        " AND executed_at < 'epoch'::timestamptz + %s * interval '1 millisecond'"
        " ORDER BY id", (market, start_ms, end_ms + 1)).fetchall()
    return [Trade(int(i), int(ms), int(p), int(q), int(qq), bool(m))
            for i, ms, p, q, qq, m in rows]


def candle_from_row(row: Sequence[Any]) -> Candle:
    """A ``candles`` row (columns in Candle's field order) as a Candle."""
    market, interval, *numbers = row
    return Candle(str(market), Interval(interval), *(int(n) for n in numbers))


class KlinePublishError(RuntimeError):
    """Some kline events were not acknowledged by the broker."""


class KlineEvents:
    """Produces ``{"type": "kline", ...}`` events to market-events, keyed by market."""

    def __init__(self, producer: Producer, topic: str, flush_seconds: float = 10.0) -> None:
        self._producer = producer
        self._topic = topic
        self._flush_seconds = flush_seconds

    def publish(self, candles: Sequence[Candle], closed: Sequence[Candle] = ()) -> int:
        """Produce one event per candle and wait for the broker; returns how many. The
        ``closed`` ones are final (``x: true``); those not among ``candles`` (older than
        them) go first."""
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        final, current = {c.key for c in closed}, {c.key for c in candles}
        events = [replace(KlineEvent.of(c), closed=True) for c in closed
                  if c.key not in current]
        events += [replace(KlineEvent.of(c), closed=c.key in final) for c in candles]
        for event in events:
            self._producer.produce(self._topic, key=event.market, value=encode(event),
                                   on_delivery=delivered)
        unsent = self._producer.flush(self._flush_seconds)
        if unsent or errors:
            raise KlinePublishError(f"{unsent} kline events unsent, {len(errors)} failed:"
                                    f" {[str(e) for e in errors[:3]]}")
        return len(events)


"""Public market data in Redis: the one owner of its keys, their values and their scripts.

The matcher writes a market's keys after each committed batch (``write``); the API
reads them, and when keys are lost writes them all back from one PostgreSQL snapshot
(``restore``); the candles function writes recent candles (``RecentKlines``). Every
write is guarded by a sequence, so data only moves forward: a stale batch (from a
matcher that lost its partition just after committing) or a rebuild racing the
matcher can only lose. Reads answer None (or a shorter list) when Redis does not hold
what was asked, never a guess.

Layout (amounts are decimal strings of smallest units, as at the API):

* ``seq:{market}``    the market sequence every other value reflects.
* ``book:{market}``   JSON ``{"seq", "bids": [[price, qty], ...], "asks": [...]}``,
  the top ``BOOK_LEVELS`` levels, best first.
* ``ticker:{market}`` hash: ``seq``, ``best_bid``, ``bid_qty``, ``best_ask``, ``ask_qty``
  (empty strings when that side is empty) and ``last_price`` (set once a trade happened).
* ``last:{market}``   JSON ``{"seq", "price", "trade_id"}``: the last trade.
* ``trades:{market}`` list of trade events (``stream_events``), newest first, capped at
  ``RECENT_TRADES``.
* ``klines:{market}:{interval}`` sorted set, score = open time (ms), member = a kline
  event's candle fields, the ``RECENT_KLINES`` newest candles.
* ``ticker24hr:{market}:{last trade id}`` a rolling 24 h statistic, for a second.
* ``klines_final:{market}`` ms: every candle of the market that closed before this
  time was sent final (``ClosedKlines``, the candles function's guard).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.market_data import BookSnapshot, MarketSnapshot, TopOfBook
from chalicelib.domain.stream_events import (
    Level,
    TradeEvent,
    decode_kline_member,
    decode_trade,
    encode,
    encode_kline_member,
)

# The top levels of the book (Binance's default depth limit), the newest trades (the
# maximum /trades limit) and the newest candles per interval.
BOOK_LEVELS = 100
RECENT_TRADES = 1000
RECENT_KLINES = 1000

# Both market scripts take KEYS = market_keys(market): seq, book, ticker, last, trades.

# A batch's market data, applied only if newer than what Redis holds. ARGV: seq, book
# JSON, ticker JSON object, last-trade JSON (or ""), trades to keep, trade JSONs oldest
# first.
GUARDED_UPDATE = """
local seq = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= seq then return 0 end
redis.call('SET', KEYS[1], seq)
redis.call('SET', KEYS[2], ARGV[2])
for field, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[3], field, value) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4]) end
for i = 6, #ARGV do redis.call('LPUSH', KEYS[5], ARGV[i]) end
if #ARGV >= 6 then redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[5]) - 1) end
return 1
"""

# A market's whole state, written unless Redis already holds a newer one. An equal
# sequence is rewritten: the data is the same, only more complete (the trades list may
# have lost its older part). ARGV: seq, book JSON, ticker JSON object, last-trade JSON
# (or ""), trade JSONs newest first.
GUARDED_RESTORE = """
local seq = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '-1') > seq then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
for field, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[3], field, value) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4]) else redis.call('DEL', KEYS[4]) end
redis.call('DEL', KEYS[5])
for i = 5, #ARGV do redis.call('RPUSH', KEYS[5], ARGV[i]) end
return 1
"""

# Replaces the member at one open time unless Redis already holds a later state of that
# candle (a higher last trade id: a slower invocation must not overwrite a newer one),
# then keeps the newest ARGV[4] candles. KEYS: klines key. ARGV: open time, last trade
# id, member JSON, how many to keep.
PUT_KLINE = """
local held = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
for _, member in ipairs(held) do
  if tonumber(cjson.decode(member)['L']) > tonumber(ARGV[2]) then return 0 end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
return 1
"""


# Moves a market's ``klines_final`` time forward only. ARGV: the new time.
ADVANCE_FINAL = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 0
"""


def market_keys(market: str) -> list[str]:
    return [f"seq:{market}", f"book:{market}", f"ticker:{market}", f"last:{market}",
            f"trades:{market}"]


def klines_key(market: str, interval: Interval) -> str:
    return f"klines:{market}:{interval.value}"


@dataclass(frozen=True, slots=True)
class MarketWrite:
    """A market's state after committed batches: its book's top levels at ``seq`` and
    the trades since the previous write, oldest first, encoded as trade events."""

    market: str
    seq: int
    bids: list[Level]
    asks: list[Level]
    trade_events: list[bytes]
    last_trade: TradeEvent | None


class MarketDataCache:
    """The market data the matcher keeps in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._update = client.register_script(GUARDED_UPDATE)
        self._restore = client.register_script(GUARDED_RESTORE)

    def book(self, market: str) -> BookSnapshot | None:
        raw = self._redis.get(f"book:{market}")
        if raw is None:
            return None
        data = json.loads(raw)
        return BookSnapshot(int(data["seq"]), _levels(data["bids"]), _levels(data["asks"]))

    def newest_trades(self, market: str, limit: int) -> list[TradeEvent] | None:
        """The newest ``limit`` trades, newest first, if Redis holds them without a gap
        (or holds every trade since the first); else None."""
        trades = [decode_trade(item) for item in self._redis.lrange(f"trades:{market}", 0,
                                                                    limit - 1)]
        if not trades:
            return None
        contiguous = all(a.trade_id == b.trade_id + 1 for a, b in itertools.pairwise(trades))
        complete = len(trades) == limit or trades[-1].trade_id == 1
        return trades if contiguous and complete else None

    def top_of_book(self, market: str) -> TopOfBook | None:
        ticker = {_text(k): _text(v) for k, v in self._redis.hgetall(f"ticker:{market}").items()}
        if "best_bid" not in ticker or "best_ask" not in ticker:
            return None
        return TopOfBook(int(ticker["best_bid"] or 0), int(ticker.get("bid_qty") or 0),
                         int(ticker["best_ask"] or 0), int(ticker.get("ask_qty") or 0))

    def last_price(self, market: str) -> int | None:
        raw = self._redis.get(f"last:{market}")
        return None if raw is None else int(json.loads(raw)["price"])

    def last_trade_id(self, market: str) -> int:
        """The newest trade the matcher published (0 if Redis does not know)."""
        raw = self._redis.get(f"last:{market}")
        return 0 if raw is None else int(json.loads(raw)["trade_id"])

    def write(self, writes: Sequence[MarketWrite],
              then_publish: Notice | None = None) -> dict[str, Exception]:
        """One guarded update per market, then ``then_publish`` if given, all in one
        round trip; the markets (or the notice's channel) whose write failed, with the
        error (raises RedisError when Redis cannot be reached)."""
        calls = [
            (market_keys(w.market),
             [w.seq, _book_json(w.seq, w.bids, w.asks),
              _ticker_json(w.seq, w.bids, w.asks, w.last_trade.price if w.last_trade else None),
              _last_trade_json(w.last_trade) if w.last_trade else "", RECENT_TRADES,
              *w.trade_events[-RECENT_TRADES:]])
            for w in writes]
        replies = _run_script(self._redis, self._update, calls, then_publish)
        failed: dict[str, Exception] = {
            w.market: reply for w, reply in zip(writes, replies, strict=False)
            if isinstance(reply, Exception)}
        if then_publish is not None and isinstance(replies[-1], Exception):
            failed[then_publish.channel] = replies[-1]
        return failed

    def restore(self, snap: MarketSnapshot) -> bool:
        """Write ``snap`` back unless Redis holds newer data; True if it was written."""
        book = snap.book
        newest = snap.trades[0] if snap.trades else None
        written = self._restore(
            keys=market_keys(snap.market),
            args=[book.seq, _book_json(book.seq, book.bids, book.asks),
                  _ticker_json(book.seq, book.bids, book.asks,
                               newest.price if newest else None),
                  _last_trade_json(newest) if newest else "",
                  *[encode(t) for t in snap.trades]])
        return bool(written)

    def oldest_kline_time(self, market: str, interval: Interval) -> int | None:
        oldest = self._redis.zrange(klines_key(market, interval), 0, 0, withscores=True)
        return int(oldest[0][1]) if oldest else None

    def klines(self, market: str, interval: Interval, start_ms: int, end_ms: int, limit: int,
               *, newest: bool) -> list[Candle]:
        """Candles opening within [start_ms, end_ms], ascending; the newest ``limit`` of
        them if ``newest``, else the oldest."""
        key = klines_key(market, interval)
        if newest:
            raw = self._redis.zrevrangebyscore(key, end_ms, start_ms, start=0, num=limit)
            raw = raw[::-1]
        else:
            raw = self._redis.zrangebyscore(key, start_ms, end_ms, start=0, num=limit)
        return [decode_kline_member(market, interval, _text(item)) for item in raw]

    def ticker_stats(self, market: str, last_trade_id: int) -> dict[str, int] | None:
        """The 24 h statistics cached as of the market's trade ``last_trade_id``."""
        raw = self._redis.get(f"ticker24hr:{market}:{last_trade_id}")
        return None if raw is None else dict(json.loads(raw))

    def cache_ticker_stats(self, market: str, last_trade_id: int, stats: dict[str, int],
                           ttl_ms: int) -> None:
        self._redis.set(f"ticker24hr:{market}:{last_trade_id}", _dumps(stats), px=ttl_ms)


class RecentKlines:
    """The newest candles of each (market, interval), as the candles function wrote them."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._put = client.register_script(PUT_KLINE)

    def put(self, candles: Iterable[Candle]) -> None:
        """Write committed candles, in one round trip; each key's update is atomic."""
        _raise_first(_run_script(self._redis, self._put, [
            ([klines_key(c.market, c.interval)],
             [c.open_time, c.last_trade_id, encode_kline_member(c), RECENT_KLINES])
            for c in candles]))


ScriptCall = tuple[list[str], list[Any]]


@dataclass(frozen=True, slots=True)
class Notice:
    """A pub/sub message sent right after a write, in its round trip."""

    channel: str
    payload: bytes


def _run_script(client: redis.Redis, script: Script, calls: Iterable[ScriptCall],
                then_publish: Notice | None = None) -> list[Any]:
    """The replies of ``script`` run once per (keys, args) call, then (last) the reply
    to ``then_publish``, in one round trip; a failed call's reply is its error.

    Plain EVALSHA: a redis-py script queued on a pipeline would first ask SCRIPT EXISTS,
    one more round trip on every write. A Redis that lost its script cache (restarted,
    failed over, flushed) answers NOSCRIPT without running anything, so those calls are
    run again, once, after loading the script: each call still runs at most once. The
    notice then goes out once more, after them: it never only precedes what it follows.
    """
    pending = list(calls)
    replies = _evalsha(client, script.sha, pending, then_publish)
    missing = [i for i, reply in enumerate(replies[:len(pending)])
               if isinstance(reply, NoScriptError)]
    if missing:
        client.script_load(script.script)
        retried = _evalsha(client, script.sha, [pending[i] for i in missing], then_publish)
        for i, reply in zip(missing, retried, strict=False):
            replies[i] = reply
        if then_publish is not None:
            replies[-1] = retried[-1]
    return replies


def _evalsha(client: redis.Redis, sha: str, calls: list[ScriptCall],
             then_publish: Notice | None) -> list[Any]:
    if not calls and then_publish is None:
        return []
    pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(sha, len(keys), *keys, *args)
    if then_publish is not None:
        pipe.publish(then_publish.channel, then_publish.payload)
    return list(pipe.execute(raise_on_error=False))


def _raise_first(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _levels(levels: list[list[str]]) -> list[Level]:
    return [(int(price), int(qty)) for price, qty in levels]


def _book_json(seq: int, bids: list[Level], asks: list[Level]) -> str:
    return _dumps({"seq": seq, "bids": _level_strings(bids[:BOOK_LEVELS]),
                   "asks": _level_strings(asks[:BOOK_LEVELS])})


def _ticker_json(seq: int, bids: list[Level], asks: list[Level],
                 last_price: int | None) -> str:
    """The ``ticker:`` fields to set: the last price only when there is one."""
    bid = (str(bids[0][0]), str(bids[0][1])) if bids else ("", "")
    ask = (str(asks[0][0]), str(asks[0][1])) if asks else ("", "")
    fields = {"seq": str(seq), "best_bid": bid[0], "bid_qty": bid[1], "best_ask": ask[0],
              "ask_qty": ask[1]}
    return _dumps(fields if last_price is None else {**fields, "last_price": str(last_price)})


def _last_trade_json(trade: TradeEvent) -> str:
    return _dumps({"seq": trade.seq, "price": str(trade.price), "trade_id": trade.trade_id})


def _level_strings(levels: list[Level]) -> list[list[str]]:
    return [[str(price), str(qty)] for price, qty in levels]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class ClosedKlines:
    """Up to when each market's candles were sent final, so that none is sent twice.

    The candles function reads it before sending kline events and moves it forward once
    the broker has them: a redelivery, or a second closer after the first, finds its
    finals sent. Lost (Redis flushed), it reads 0 and the finals of the candles still
    in hand go out once more.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._advance = client.register_script(ADVANCE_FINAL)

    def sent_before(self, markets: Sequence[str]) -> dict[str, int]:
        if not markets:
            return {}
        values = self._redis.mget([_final_key(m) for m in markets])
        return {m: int(v) if v is not None else 0
                for m, v in zip(markets, values, strict=True)}

    def advance(self, times: dict[str, int]) -> None:
        _raise_first(_run_script(self._redis, self._advance, [
            ([_final_key(market)], [time_ms]) for market, time_ms in times.items()]))


def _final_key(market: str) -> str:
    return f"klines_final:{market}"

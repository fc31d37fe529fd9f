"""The candles function against the real stack: trades published as the matcher does,
delivered by the local MSK runner, folded into PostgreSQL, Redis and kline events."""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest
import redis
from confluent_kafka import Message

from chalicelib.adapters.candles_store import CandleRepository, candle_from_row
from chalicelib.adapters.market_cache import RECENT_KLINES, RecentKlines
from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.domain.agg_trades import agg_trade_events
from chalicelib.domain.candles import Candle, Interval, Trade
from chalicelib.domain.metric_catalogue import FUNCTION_RECORDS, FUNCTION_UNREADABLE_RECORDS
from chalicelib.domain.stream_events import (
    DepthEvent,
    KlineEvent,
    TradeEvent,
    decode,
    decode_kline_member,
    decode_trade,
    encode,
)
from chalicelib.domain.tracing import KAFKA_HEADER
from chalicelib.settings import Settings
from lambdas import candles
from lambdas.msk_runner import LocalContext, msk_event
from tests.integration.matching.support import create_market, create_topic, read_topic
from tests.support.polling import wait_until

from .conftest import RunRunner, produce

Conn = psycopg.Connection[tuple[object, ...]]

MARKETS = ("BTCUSDT", "ETHUSDT")
INTERVAL_NAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
                  "3d", "1w", "1M")
MINUTES = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
           "6h": 360, "8h": 480, "12h": 720, "1d": 1440}
# Sunday 2024-03-31 20:00 UTC: 31 hours of trades from here cross a day, a week
# (Monday 04-01), a month (April) and a 3d candle (04-02, epoch day 19815 = 3 * 6605).
START = datetime(2024, 3, 31, 20, tzinfo=UTC)
BTC = 10**8


def ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


@dataclass(frozen=True)
class SeedTrade:
    market: str
    trade_id: int
    time: int
    price: int
    qty: int
    buyer_is_maker: bool

    @property
    def quote_qty(self) -> int:
        return self.price * self.qty // BTC

    def event(self) -> bytes:
        """The trade event exactly as the matcher publishes it."""
        return encode(TradeEvent(
            market=self.market, seq=self.trade_id * 2, trade_id=self.trade_id,
            time_ms=self.time, price=self.price, qty=self.qty, quote_qty=self.quote_qty,
            buyer_is_maker=self.buyer_is_maker, maker_order_id=self.trade_id,
            taker_order_id=self.trade_id + 1))


def seed_trades(market: str, batches: int, rng: random.Random) -> list[list[SeedTrade]]:
    """Matcher batches of 1-4 trades sharing a time, 31 hours of them."""
    step_ms = 31 * 3_600_000 // batches
    price, trade_id, out = 60_000_00, 0, []
    for b in range(batches):
        time_ms = ms(START) + b * step_ms + rng.randrange(step_ms)
        batch = []
        for _ in range(rng.randint(1, 4)):
            trade_id += 1
            price = max(100, price + rng.randint(-5, 5) * 100)
            batch.append(SeedTrade(market, trade_id, time_ms, price,
                                   rng.randint(1, 200) * 10**6, rng.random() < 0.5))
        out.append(batch)
    return out


def matcher_records(batches: dict[str, list[list[SeedTrade]]]) -> list[tuple[int, str, bytes]]:
    """(partition, key, value) per event: each market's batches as the matcher publishes
    them (trade events, their aggregates' events, a depth event), markets interleaved;
    market i on partition i."""
    records: list[tuple[int, str, bytes]] = []
    longest = max(len(b) for b in batches.values())
    for index in range(longest):
        for partition, market in enumerate(MARKETS):
            if index >= len(batches[market]):
                continue
            batch = batches[market][index]
            records += [(partition, market, t.event()) for t in batch]
            aggregates = agg_trade_events(market, [decode_trade(t.event()) for t in batch])
            records += [(partition, market, encode(a)) for a in aggregates]
            depth = DepthEvent(market=market, first_seq=batch[0].trade_id * 2,
                               last_seq=batch[-1].trade_id * 2, bids=[], asks=[])
            records.append((partition, market, encode(depth)))
    return records


# ------------------------------------------------- expected candles, computed independently

def expected_open(interval: str, time_ms: int) -> int:
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "1M":
        return ms(midnight.replace(day=1))
    if interval == "1w":
        return ms(midnight - timedelta(days=moment.weekday()))
    if interval == "3d":
        days = time_ms // 86_400_000
        return (days - days % 3) * 86_400_000
    minute_of_day = moment.hour * 60 + moment.minute
    return ms(midnight) + (minute_of_day - minute_of_day % MINUTES[interval]) * 60_000


def expected_close(interval: str, open_ms: int) -> int:
    start = datetime.fromtimestamp(open_ms / 1000, UTC)
    if interval == "1M":
        following = (start.replace(year=start.year + 1, month=1) if start.month == 12
                     else start.replace(month=start.month + 1))
    elif interval == "1w":
        following = start + timedelta(days=7)
    elif interval == "3d":
        following = start + timedelta(days=3)
    else:
        following = start + timedelta(minutes=MINUTES[interval])
    return ms(following) - 1


Key = tuple[str, str, int]


def expected_klines(trades: list[SeedTrade]) -> dict[Key, Candle]:
    groups: dict[Key, list[SeedTrade]] = defaultdict(list)
    for t in trades:
        for interval in INTERVAL_NAMES:
            groups[(t.market, interval, expected_open(interval, t.time))].append(t)
    klines = {}
    for (market, interval, open_ms), group in groups.items():
        group.sort(key=lambda t: t.trade_id)
        takers = [t for t in group if not t.buyer_is_maker]
        klines[(market, interval, open_ms)] = Candle(
            market, Interval(interval), open_ms, expected_close(interval, open_ms),
            group[0].price, max(t.price for t in group), min(t.price for t in group),
            group[-1].price, sum(t.qty for t in group), sum(t.quote_qty for t in group),
            len(group), sum(t.qty for t in takers), sum(t.quote_qty for t in takers),
            group[0].trade_id, group[-1].trade_id)
    return klines


# ------------------------------------------------------------------ what the function wrote

def pg_klines(conn: Conn) -> dict[Key, Candle]:
    rows = conn.execute(
        "SELECT market, interval, open_time, close_time, open, high, low, close, volume,"
        " quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume,"
        " first_trade_id, last_trade_id FROM candles").fetchall()
    return {c.key: c for c in map(candle_from_row, rows)}


def redis_klines(client: redis.Redis) -> dict[Key, Candle]:
    klines: dict[Key, Candle] = {}
    for key in client.scan_iter("klines:*"):
        _, market, interval = key.decode().split(":")
        members: list[tuple[bytes, float]] = client.zrange(  # type: ignore[assignment]
            key, 0, -1, withscores=True)
        for member, score in members:
            kline = decode_kline_member(market, Interval(interval), member)
            assert kline.open_time == int(score)
            klines[kline.key] = kline
    return klines


def kline_events(messages: list[Message]) -> tuple[dict[Key, Candle], set[Key]]:
    """The newest kline event of each candle (the topic keeps a market in one partition),
    and the candles that were sent final (closed); nothing follows a final event."""
    newest: dict[Key, Candle] = {}
    final: set[Key] = set()
    for m in sorted(messages, key=lambda m: (m.partition() or 0, m.offset() or 0)):
        event = decode(m.value() or b"")
        if isinstance(event, KlineEvent):
            assert m.key() == event.market.encode()
            key = event.candle.key
            assert key not in final, f"an event of {key} after its final one"
            newest[key] = event.candle
            if event.closed:
                final.add(key)
    return newest, final


def all_but_the_newest(candles: dict[Key, Candle]) -> set[Key]:
    """The candles a later one of their market and interval follows: closed ones."""
    newest: dict[tuple[str, str], int] = {}
    for market, interval, open_ms in candles:
        newest[market, interval] = max(open_ms, newest.get((market, interval), open_ms))
    return {k for k in candles if k[2] != newest[k[0], k[1]]}


def progress(conn: Conn) -> dict[str, int]:
    rows = conn.execute("SELECT market, last_trade_id FROM candle_progress").fetchall()
    return {str(m): int(last) for m, last in rows}  # type: ignore[call-overload]


# ------------------------------------------------------------------------------- fixtures

@pytest.fixture
def settings(test_settings: Settings, topic_name: str, monkeypatch: pytest.MonkeyPatch,
             redis_client: redis.Redis) -> Iterator[Settings]:
    """The function's settings: the test database, Redis db (flushed: it holds up to when
    each market's klines were sent final) and a fresh topic."""
    configured = test_settings.model_copy(update={"market_events_topic": topic_name})
    monkeypatch.setattr(candles, "get_settings", lambda: configured)
    yield configured
    candles.components(configured).repository.close()
    candles.components.cache_clear()


@pytest.fixture
def markets(db: Conn) -> None:
    create_market(db, "BTCUSDT", "BTC", "USDT")
    create_market(db, "ETHUSDT", "ETH", "USDT")


class Recorder:
    """The real handler, keeping every event it was given and every answer."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.responses: list[Any] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        response = candles.handler(event, context)
        self.responses.append(response)
        return response


def invoke(event: dict[str, Any]) -> Any:
    return candles.handler(event, LocalContext("candles"))


# ---------------------------------------------------------------------------------- tests

@pytest.mark.usefixtures("markets")
def test_trades_become_every_intervals_candles_once_however_often_delivered(
        db: Conn, redis_client: redis.Redis, settings: Settings, kafka_bootstrap: str,
        run_runner: RunRunner) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, len(MARKETS))
    rng = random.Random(20240331)
    batches = {market: seed_trades(market, 120 + 40 * i, rng)
               for i, market in enumerate(MARKETS)}
    trades = [t for market_batches in batches.values() for b in market_batches for t in b]
    last_ids = {m: max(t.trade_id for t in trades if t.market == m) for m in MARKETS}
    produce(kafka_bootstrap, topic, matcher_records(batches))
    recorder = Recorder()

    with run_runner(recorder, topic, f"candles-{uuid.uuid4().hex[:8]}", batch_size=40):
        wait_until(lambda: progress(db), until=lambda seen: seen == last_ids, timeout=120,
                   what="every trade folded")

    expected = expected_klines(trades)
    assert {interval for _, interval, _ in expected} == set(INTERVAL_NAMES)
    assert len({t for m, i, t in expected if i == "1w"}) == 2  # the week boundary is crossed
    assert len({t for m, i, t in expected if i == "1M"}) == 2
    assert len({t for m, i, t in expected if i == "3d"}) == 2
    assert len(recorder.events) > 5
    assert all(r == {"batchItemFailures": []} for r in recorder.responses)
    assert pg_klines(db) == expected
    assert redis_klines(redis_client) == expected
    events, final = kline_events(read_topic(kafka_bootstrap, topic))
    assert events == expected
    assert final == all_but_the_newest(expected)

    # Redelivering every batch, twice, changes nothing.
    candles_before, redis_before = pg_klines(db), redis_klines(redis_client)
    for event in recorder.events * 2:
        assert invoke(event) == {"batchItemFailures": []}
    assert pg_klines(db) == candles_before
    assert redis_klines(redis_client) == redis_before
    assert progress(db) == last_ids


@pytest.mark.usefixtures("markets")
def test_redelivery_repairs_redis_from_the_committed_candles(
        db: Conn, redis_client: redis.Redis, settings: Settings, kafka_bootstrap: str) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    batches = {"BTCUSDT": seed_trades("BTCUSDT", 10, random.Random(7)), "ETHUSDT": []}
    produce(kafka_bootstrap, topic, matcher_records(batches))
    event = msk_event(read_topic(kafka_bootstrap, topic), kafka_bootstrap)
    assert invoke(event) == {"batchItemFailures": []}
    committed = pg_klines(db)

    redis_client.flushdb()  # say, Redis failed right after the commit
    assert invoke(event) == {"batchItemFailures": []}

    assert pg_klines(db) == committed
    assert redis_klines(redis_client) == committed


def store_trades(db: Conn, trades: list[SeedTrade]) -> None:
    """The trades as the matcher commits them (the source the candles fill gaps from)."""
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO trades (market, id, sequence, price, quantity, quote_quantity,"
            " maker_order_id, taker_order_id, maker_user_id, taker_user_id, buyer_is_maker,"
            " maker_fee, maker_fee_asset, taker_fee, taker_fee_asset, executed_at) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, 1, 2, %s, 0, 'BTC', 0, 'USDT', %s)",
            [(t.market, t.trade_id, 2 * t.trade_id, t.price, t.qty, t.quote_qty, t.trade_id,
              t.trade_id + 1, t.buyer_is_maker,
              datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=t.time))
             for t in trades])


def two_markets_records(btc: list[SeedTrade], eth: list[SeedTrade],
                        middle: bytes) -> list[tuple[int, str, bytes]]:
    """BTCUSDT's trades on partition 0 with ``middle`` at offset 2, ETHUSDT's on 1."""
    events = [t.event() for t in btc]
    return [*[(0, "BTCUSDT", v) for v in [*events[:2], middle, *events[2:]]],
            *[(1, "ETHUSDT", e.event()) for e in eth]]


def sample_trades() -> tuple[list[SeedTrade], list[SeedTrade]]:
    t = ms(START)
    return ([SeedTrade("BTCUSDT", i, t + i * 1000, 60_000_00 + i * 100, BTC, False)
             for i in range(1, 5)],
            [SeedTrade("ETHUSDT", i, t + i * 1000, 3_000_00, BTC, True) for i in range(1, 4)])


@pytest.mark.usefixtures("markets")
def test_a_record_that_can_never_be_read_is_skipped_and_its_trade_taken_from_the_table(
        db: Conn, settings: Settings, kafka_bootstrap: str) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 2)
    btc, eth = sample_trades()
    store_trades(db, btc + eth)
    # Trade 3's event is one the function cannot read (an event from before "time").
    legacy = json.loads(btc[2].event())
    del legacy["time"]
    records = two_markets_records(btc[:2] + btc[3:], eth, b"\xff not an event")
    records.insert(3, (0, "BTCUSDT", json.dumps(legacy).encode()))
    produce(kafka_bootstrap, topic, records)
    metrics = cast(PrometheusMetrics, candles.metrics)
    unreadable = metrics.sample(FUNCTION_UNREADABLE_RECORDS, function="candles") or 0

    response = invoke(msk_event(read_topic(kafka_bootstrap, topic), kafka_bootstrap))

    assert response == {"batchItemFailures": []}
    assert metrics.sample(FUNCTION_UNREADABLE_RECORDS, function="candles") == unreadable + 2
    assert progress(db) == {"BTCUSDT": 4, "ETHUSDT": 3}
    assert pg_klines(db) == expected_klines(btc + eth)


@pytest.mark.usefixtures("markets")
def test_a_failed_record_fails_the_rest_of_its_partition_and_is_redelivered(
        db: Conn, settings: Settings, kafka_bootstrap: str, run_runner: RunRunner,
        monkeypatch: pytest.MonkeyPatch) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 2)
    btc, eth = sample_trades()
    produce(kafka_bootstrap, topic, two_markets_records(btc, eth, encode(DepthEvent(
        market="BTCUSDT", first_seq=5, last_seq=5, bids=[], asks=[]))))
    messages = read_topic(kafka_bootstrap, topic)
    failing = {(f"{topic}", 0, 2)}  # say, a record whose handling hits a passing fault
    decode = candles.decode_record

    def flaky_decode(record: Any) -> Any:
        if (record.topic, record.partition, record.offset) in failing:
            raise RuntimeError("a passing fault")
        return decode(record)

    monkeypatch.setattr(candles, "decode_record", flaky_decode)
    response = invoke(msk_event(messages, kafka_bootstrap))

    assert response == {"batchItemFailures": [
        {"itemIdentifier": {"partition": f"{topic}-0", "offset": offset}}
        for offset in (2, 3, 4)]}
    assert progress(db) == {"BTCUSDT": 2, "ETHUSDT": 3}
    assert pg_klines(db) == expected_klines(btc[:2] + eth)

    # Through the runner: partition 0 comes again from the failed record; once the
    # fault has passed, the rest folds in order.
    recorder = Recorder()

    def redelivered_from_failure() -> bool:
        starts = [e["records"][f"{topic}-0"][0]["offset"] for e in list(recorder.events)
                  if f"{topic}-0" in e["records"]]
        if starts.count(2) >= 2:
            failing.clear()
        return not failing

    with run_runner(recorder, topic, f"candles-{uuid.uuid4().hex[:8]}"):
        wait_until(redelivered_from_failure, timeout=60,
                   what="partition 0 redelivered from offset 2")
        wait_until(lambda: progress(db),
                   until=lambda seen: seen == {"BTCUSDT": 4, "ETHUSDT": 3}, timeout=60,
                   what="the rest of partition 0 folded")
    assert pg_klines(db) == expected_klines(btc + eth)


def test_a_failure_after_decoding_redelivers_the_whole_batch_until_it_folds(
        db: Conn, redis_client: redis.Redis, settings: Settings, kafka_bootstrap: str,
        run_runner: RunRunner) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    batches = {"BTCUSDT": seed_trades("BTCUSDT", 5, random.Random(3)), "ETHUSDT": []}
    trades = [t for b in batches["BTCUSDT"] for t in b]
    produce(kafka_bootstrap, topic, matcher_records(batches))
    recorder = Recorder()

    # The market is missing, so the transaction fails (foreign key) and the handler raises.
    with run_runner(recorder, topic, f"candles-{uuid.uuid4().hex[:8]}"):
        wait_until(lambda: len(recorder.events) >= 2, timeout=60, what="a redelivery")
        assert recorder.responses == []
        create_market(db, "BTCUSDT", "BTC", "USDT")
        wait_until(lambda: progress(db),
                   until=lambda seen: seen == {"BTCUSDT": trades[-1].trade_id}, timeout=60,
                   what="the batch folded once the market exists")

    assert pg_klines(db) == expected_klines(trades)
    assert redis_klines(redis_client) == expected_klines(trades)


def test_redis_keeps_the_newest_candles_and_never_an_older_state(
        redis_client: redis.Redis) -> None:
    recent = RecentKlines(redis_client)
    minute = ms(START)
    newer = Candle("BTCUSDT", Interval.M1, minute, minute + 59_999, 5, 9, 4, 8, 3, 30, 2, 1,
                   10, 1, 2)
    older = Candle("BTCUSDT", Interval.M1, minute, minute + 59_999, 5, 5, 5, 5, 1, 10, 1, 1,
                   10, 1, 1)
    recent.put([newer])
    recent.put([older])  # a slower invocation's state of the same candle
    assert redis_klines(redis_client) == {newer.key: newer}

    many = [Candle("BTCUSDT", Interval.M1, minute + i * 60_000, minute + i * 60_000 + 59_999,
                   1, 1, 1, 1, 1, 1, 1, 0, 0, i + 10, i + 10) for i in range(RECENT_KLINES + 5)]
    recent.put(many)
    held = redis_klines(redis_client)
    assert len(held) == RECENT_KLINES
    assert min(t for _, _, t in held) == many[5].open_time


@pytest.mark.usefixtures("markets")
def test_amounts_beyond_64_bits_stay_exact(db: Conn, settings: Settings) -> None:
    repository = CandleRepository(settings.database_url)
    huge = 10**30
    trades = [Trade(1, ms(START), huge, huge, huge * 3, False),
              Trade(2, ms(START) + 1, 7, huge, huge, True)]
    try:
        result = repository.fold({"BTCUSDT": trades})
    finally:
        repository.close()
    assert result.folded_trades == 2
    minute = next(c for c in result.candles if c.interval is Interval.M1)
    assert (minute.open, minute.low, minute.volume, minute.quote_volume) == (
        huge, 7, 2 * huge, 4 * huge)
    assert (minute.taker_buy_volume, minute.taker_buy_quote_volume) == (huge, huge * 3)
    assert pg_klines(db)[("BTCUSDT", Interval.M1, ms(START))].volume == 2 * huge


@pytest.mark.usefixtures("markets")
def test_trades_whose_events_were_lost_are_read_from_the_trades_table(
        db: Conn, settings: Settings, kafka_bootstrap: str) -> None:
    # The matcher committed five trades but crashed before publishing the middle three.
    trades = [t for b in seed_trades("BTCUSDT", 5, random.Random(11)) for t in b][:5]
    store_trades(db, trades)
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    published = [trades[0], trades[4]]
    produce(kafka_bootstrap, topic, [(0, t.market, t.event()) for t in published])

    event = msk_event(read_topic(kafka_bootstrap, topic), kafka_bootstrap)
    assert invoke(event) == {"batchItemFailures": []}

    assert pg_klines(db) == expected_klines(trades)
    assert progress(db) == {"BTCUSDT": trades[-1].trade_id}


@pytest.mark.usefixtures("markets")
def test_one_second_candles_are_sent_from_every_trade_of_the_seconds_a_batch_touches(
        db: Conn, settings: Settings, kafka_bootstrap: str) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    second = ms(START)
    trades = [SeedTrade("BTCUSDT", 1, second + 100, 60_000_00, BTC, False),
              SeedTrade("BTCUSDT", 2, second + 900, 60_100_00, BTC, True),
              SeedTrade("BTCUSDT", 3, second + 1500, 59_900_00, 2 * BTC, False),
              SeedTrade("BTCUSDT", 4, second + 5200, 60_000_00, BTC, False)]
    store_trades(db, trades)
    produce(kafka_bootstrap, topic, [(0, "BTCUSDT", t.event()) for t in trades])
    messages = read_topic(kafka_bootstrap, topic)

    # One delivery with the first second's trades, then one with the other two.
    for part in (messages[:2], messages[2:]):
        assert invoke(msk_event(part, kafka_bootstrap)) == {"batchItemFailures": []}

    sent = [e for e in (decode(m.value() or b"") for m in read_topic(kafka_bootstrap, topic))
            if isinstance(e, KlineEvent) and e.interval is Interval.S1]
    assert [(e.t, e.T, e.o, e.c, e.n, e.closed) for e in sent] == [
        (second, second + 999, 60_000_00, 60_100_00, 2, False),  # the first delivery
        (second, second + 999, 60_000_00, 60_100_00, 2, True),  # trade 3 began a second
        (second + 1000, second + 1999, 59_900_00, 59_900_00, 1, True),
        (second + 5000, second + 5999, 60_000_00, 60_000_00, 1, False)]
    events, final = kline_events(read_topic(kafka_bootstrap, topic))
    assert final == all_but_the_newest(events)


@pytest.mark.usefixtures("markets")
def test_a_batch_is_counted_and_logged_with_its_records_correlation_ids(
        settings: Settings, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    btc, _ = sample_trades()
    # As Lambda sends them: each header a list of byte values; the last trade untraced.
    records = [{"topic": topic, "partition": 0, "offset": offset, "timestamp": t.time,
                "timestampType": "CREATE_TIME",
                "key": base64.b64encode(b"BTCUSDT").decode(),
                "value": base64.b64encode(t.event()).decode(),
                "headers": [{KAFKA_HEADER: list(f"req-{offset}".encode())}] if offset < 3 else []}
               for offset, t in enumerate(btc)]
    metrics = cast(PrometheusMetrics, candles.metrics)
    counted = metrics.sample(FUNCTION_RECORDS, function="candles") or 0
    caplog.set_level(logging.INFO)

    response = invoke({"eventSource": "aws:kafka", "records": {f"{topic}-0": records}})

    assert response == {"batchItemFailures": []}
    assert metrics.sample(FUNCTION_RECORDS, function="candles") == counted + len(btc)
    (line,) = [vars(r) for r in caplog.records if r.getMessage() == "batch folded"]
    assert line["correlation_ids"] == ["req-0", "req-1", "req-2"]
    assert line["trades_folded"] == len(btc)

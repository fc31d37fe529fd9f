"""Candles close on time: the matcher's time marks on ``market-events`` make the candles
function send final (Binance's ``x: true``) the candles of a market that stopped
trading, each exactly once however often the mark is delivered or however many
closers run at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from chalicelib.bootstrap import CandleServices, bootstrap_candles
from chalicelib.domain.stream_events import KlineEvent, TimeMarkEvent, decode, encode
from chalicelib.settings import Settings
from lambdas import candles
from lambdas.msk_runner import msk_event
from tests.integration.matching.support import create_market, create_topic, read_topic
from tests.support.polling import wait_until

from .conftest import produce
from .test_candles import (
    BTC,
    START,
    SeedTrade,
    invoke,
    kline_events,
    ms,
    store_trades,
)

Conn = psycopg.Connection[tuple[object, ...]]
SECOND = ms(START)  # Sunday 2024-03-31 20:00:00 UTC


@pytest.fixture
def settings(test_settings: Settings, topic_name: str, monkeypatch: pytest.MonkeyPatch,
             redis_client: redis.Redis, db: Conn) -> Iterator[Settings]:
    """As test_candles' (Redis flushed: it holds when klines were last sent final), with
    the market."""
    create_market(db, "BTCUSDT", "BTC", "USDT")
    configured = test_settings.model_copy(update={"market_events_topic": topic_name})
    monkeypatch.setattr(candles, "get_settings", lambda: configured)
    yield configured
    candles.components(configured).repository.close()
    candles.components.cache_clear()


def mark(time_ms: int, last_trade_id: int = 2) -> tuple[int, str, bytes]:
    return 0, "BTCUSDT", encode(TimeMarkEvent(market="BTCUSDT", time_ms=time_ms,
                                              last_trade_id=last_trade_id))


def trade(trade_id: int, time_ms: int, price: int) -> SeedTrade:
    return SeedTrade("BTCUSDT", trade_id, time_ms, price, BTC, False)


def finals(bootstrap: str, topic: str) -> Counter[tuple[str, int]]:
    """How many final kline events each (interval, open time) got."""
    events = (decode(m.value() or b"") for m in read_topic(bootstrap, topic))
    return Counter((e.interval.value, e.t) for e in events
                   if isinstance(e, KlineEvent) and e.closed)


def deliver(bootstrap: str, topic: str, records: list[tuple[int, str, bytes]]) -> dict[str, Any]:
    """Produce the records and deliver them (alone) to the function; the delivery."""
    before = len(read_topic(bootstrap, topic))
    produce(bootstrap, topic, records)
    event = msk_event(read_topic(bootstrap, topic)[before:before + len(records)], bootstrap)
    assert invoke(event) == {"batchItemFailures": []}
    return event


def test_a_quiet_markets_candles_close_once_their_interval_is_over(
        db: Conn, settings: Settings, kafka_bootstrap: str) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    trades = [trade(1, SECOND + 100, 60_000_00), trade(2, SECOND + 900, 60_100_00)]
    store_trades(db, trades)

    # Two trades in one second, then nothing: the mark after the second closes its 1s
    # candle only; redelivered (trades and mark), nothing is sent final again.
    first = deliver(kafka_bootstrap, topic, [*[(0, t.market, t.event()) for t in trades],
                                             mark(SECOND + 1_000)])
    assert finals(kafka_bootstrap, topic) == {("1s", SECOND): 1}
    assert invoke(first) == {"batchItemFailures": []}
    assert finals(kafka_bootstrap, topic) == {("1s", SECOND): 1}

    # The minute is over: its candle closes (and only it: 3m and longer still run).
    deliver(kafka_bootstrap, topic, [mark(SECOND + 60_000, last_trade_id=2)])
    assert finals(kafka_bootstrap, topic) == {("1s", SECOND): 1, ("1m", SECOND): 1}

    # A later trade opens new candles without sending the closed ones again.
    late = trade(3, SECOND + 180_500, 59_900_00)
    store_trades(db, [late])
    deliver(kafka_bootstrap, topic, [(0, late.market, late.event())])
    assert finals(kafka_bootstrap, topic) == {("1s", SECOND): 1, ("1m", SECOND): 1,
                                              ("3m", SECOND): 1}
    newest, final = kline_events(read_topic(kafka_bootstrap, topic))  # none after its final
    assert newest[("BTCUSDT", "1m", SECOND)].trade_count == 2
    assert ("BTCUSDT", "1m", SECOND + 180_000) not in final


def test_two_closers_at_once_send_a_candle_final_once(
        db: Conn, settings: Settings, kafka_bootstrap: str) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    only = trade(1, SECOND + 100, 60_000_00)
    store_trades(db, [only])
    deliver(kafka_bootstrap, topic, [(0, only.market, only.event())])
    closers = [bootstrap_candles(settings) for _ in range(2)]
    sent: list[int] = []

    def close(parts: CandleServices) -> None:
        sent.append(candles.close_ended(parts, {"BTCUSDT": SECOND + 60_000}))

    threads = [threading.Thread(target=close, args=(parts,)) for parts in closers]
    with db.transaction():  # hold the market's progress row until both closers wait on it
        db.execute("SELECT 1 FROM candle_progress WHERE market = 'BTCUSDT' FOR UPDATE")
        for thread in threads:
            thread.start()
        wait_until(lambda: waiting_on_locks(db), until=lambda waiting: waiting == 2, timeout=30,
                   what="both closers waiting on the progress row")
    for thread, parts in zip(threads, closers, strict=True):
        thread.join(30)
        parts.repository.close()

    assert sorted(sent) == [0, 2]  # the 1s and 1m candles, by one of them
    assert finals(kafka_bootstrap, topic) == {("1s", SECOND): 1, ("1m", SECOND): 1}


def waiting_on_locks(db: Conn) -> int:
    """How many sessions of the test database wait on a lock. Asked inside a transaction,
    pg_stat_activity would answer from the snapshot of its first reading: cleared first."""
    db.execute("SELECT pg_stat_clear_snapshot()")
    row = db.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid IN"
                     " (SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
                     ).fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def test_a_trade_whose_event_was_lost_is_in_its_candle_when_the_mark_closes_it(
        db: Conn, settings: Settings, kafka_bootstrap: str) -> None:
    topic = settings.market_events_topic
    create_topic(kafka_bootstrap, topic, 1)
    trades = [trade(1, SECOND + 100, 60_000_00), trade(2, SECOND + 900, 60_100_00)]
    store_trades(db, trades)  # the matcher committed both, but trade 2's event was lost

    deliver(kafka_bootstrap, topic, [(0, "BTCUSDT", trades[0].event()),
                                     mark(SECOND + 60_000, last_trade_id=2)])

    newest, final = kline_events(read_topic(kafka_bootstrap, topic))
    assert final == {("BTCUSDT", "1s", SECOND), ("BTCUSDT", "1m", SECOND)}
    assert all((newest[key].trade_count, newest[key].close) == (2, 60_100_00)
               for key in final)

"""The matcher, the candles function and the fan-out killed with SIGKILL mid-batch,
repeatedly, and the matcher's host clock stepped, under a running order stream through
the API on the isolated exchange (conftest.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from websockets.sync.client import connect

from opscli.faults import checks
from opscli.faults.exchange import IsolatedExchange

from .process_faults import (
    Conn,
    assert_nothing_lost,
    order_stream,
    wait_caught_up,
    wait_for_answers,
    wait_for_trades,
)

ROUNDS = 3
# Debian's libfaketime (scripts/install.sh), in the machine's multiarch folder.
LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"),
                   Path("libfaketimeMT.so.1"))


def test_matcher_candles_and_fanout_killed_mid_batch_repeatedly_lose_and_repeat_nothing(
    faulty_exchange: IsolatedExchange, faulty_db: Conn, synchronous_commit: bool,
) -> None:
    exchange = faulty_exchange
    pause = random.Random(5)
    with order_stream(exchange, "kills") as stream:
        for _round in range(ROUNDS):
            for name in ("matcher", "candles", "fanout"):
                # Under this load each of them is inside a batch nearly all the time.
                wait_for_trades(faulty_db, pause.randint(3, 12))
                exchange.kill_app(name)
                exchange.start_app(name)
        wait_for_answers(stream, 20)
        # The fan-out streams again after its last restart.
        with connect(f"ws://127.0.0.1:{exchange.ports.ws}/ws/btcusdt@trade",
                     open_timeout=10) as client:
            event = json.loads(client.recv(timeout=30))
        assert (event["e"], event["s"]) == ("trade", "BTCUSDT")
    answers = stream.answers()

    assert_nothing_lost(exchange, faulty_db, answers)
    # Candles are folded once per trade (candle_problems, above); each final is the
    # stored candle, and one sent again (a candles function killed after the broker took
    # it, before recording it) is identical: finals, like the fan-out, are at least once.
    bootstrap, topic = (exchange.settings.kafka_bootstrap_servers,
                        exchange.settings.market_events_topic)
    assert checks.kline_final_problems(faulty_db, checks.topic_events(
        bootstrap, topic, "kline")) == []
    # A trade is settled once, so published at most once; a kill between the commit
    # and the publication loses its event (best effort: the REST answers have it).
    trade_events = checks.topic_events(bootstrap, topic, "trade")
    gaps = checks.trade_event_gaps(faulty_db, trade_events)
    print("trade events after the kills:", gaps)
    assert gaps["events_repeated"] == 0
    assert checks.published_trade_problems(faulty_db, trade_events) == []
    assert checks.published_order_problems(faulty_db, checks.topic_events(
        bootstrap, exchange.settings.order_events_topic, "order")) == []


def test_a_clock_step_on_the_matchers_host_changes_no_trade_time(
    faulty_exchange: IsolatedExchange, faulty_db: Conn, tmp_path: Path,
) -> None:
    """The matcher runs under libfaketime, its wall clock stepped 65 minutes forward (past
    the hour after which the broker refuses a record's timestamp as in the future), then
    ten minutes back; its monotonic clock, as on a real host, is not moved. Trades,
    their events and the candles keep the database's time."""
    exchange = faulty_exchange
    bootstrap, topic = (exchange.settings.kafka_bootstrap_servers,
                        exchange.settings.market_events_topic)
    unpublished = checks.trade_event_gaps(faulty_db, checks.topic_events(
        bootstrap, topic, "trade"))["without_event"]
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    exchange.restart_app("matcher", {
        "LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"})
    try:
        with order_stream(exchange, "clock") as stream:
            wait_for_trades(faulty_db, 10)
            offset.write_text("+3900\n")
            wait_for_trades(faulty_db, 20)
            offset.write_text("+3300\n")
            wait_for_trades(faulty_db, 20)
        wait_caught_up(faulty_db)
        assert checks.trade_time_problems(faulty_db) == []
        ahead = faulty_db.execute("SELECT max(executed_at) - now() FROM trades").fetchone()
        assert ahead is not None
        assert ahead[0].total_seconds() < 5, f"trades stamped {ahead[0]} ahead"
        assert_nothing_lost(exchange, faulty_db, stream.answers())
        assert checks.kline_final_problems(faulty_db, checks.topic_events(
            bootstrap, topic, "kline")) == []
        gaps = checks.trade_event_gaps(faulty_db, checks.topic_events(bootstrap, topic,
                                                                      "trade"))
        assert gaps["without_event"] == unpublished
    finally:
        exchange.restart_app("matcher")

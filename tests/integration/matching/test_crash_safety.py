"""Crash safety and fencing under load, with the real stack.

* kill -9 the matcher process at random moments (at least 10 times) while a seeded
  stream of 20,000 orders and cancels from many users (with republished duplicates)
  flows, restart it each time; once drained, PostgreSQL must equal a fresh engine
  replaying the topic, with every lock accounted for and the ledger balanced.
* two matcher instances at once, a rebalance in the middle of the load and one of them
  leaving: nothing applied twice.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from chalicelib.settings import Settings
from matching_cluster.service.consumer import Matcher
from tests.conftest import as_role
from tests.support.http_get import http_get
from tests.support.polling import wait_until

from .conftest import Topics
from .load import LoadGenerator, assert_applied_exactly_once
from .support import Market, create_market, publish, wait_applied

Conn = psycopg.Connection[Any]
WAVES = 20
WAVE_SIZE = 1000
KILLS = 10


@pytest.fixture
def markets(db: Conn, market: Market) -> list[Market]:
    return [market, create_market(db, "ETHUSDT", "ETH", "USDT")]


class MatcherProcess:
    """``python -m matching_cluster.service`` as a child process we can kill -9."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "matching_cluster.service"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def matcher_process(
    db_url: str, test_settings: Settings, kafka_bootstrap: str, topics: Topics, tmp_path: Path,
) -> Iterator[MatcherProcess]:
    env = {**os.environ, "DATABASE_URL": as_role(test_settings, "matcher").database_url,
           "REDIS_URL": test_settings.redis_url,
           "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "ORDERS_TOPIC": topics.orders,
           "MARKET_EVENTS_TOPIC": topics.market_events,
           "ORDER_EVENTS_TOPIC": topics.order_events,
           "MATCHER_GROUP_ID": f"crash-{topics.orders}", "MATCHER_INSTANCE_ID": "crash-0",
           "MATCHER_STATIC_MEMBERSHIP": "true", "EXCHANGE_MATCHER_PORT": str(free_port()),
           "MATCHER_SESSION_TIMEOUT_MS": "6000", "LOG_LEVEL": "WARNING"}
    process = MatcherProcess(env, tmp_path / "matcher.log")
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.kill()



def http_status(port: str, path: str) -> int:
    """The status of a GET, 0 while nothing listens (a process still starting up)."""
    try:
        return http_get(port, path)[0]
    except ConnectionRefusedError:
        return 0


def assert_health_endpoints(port: str) -> None:
    # The last restart may still be starting up.
    wait_until(lambda: http_status(port, "/readyz"), until=lambda status: status == 200,
               timeout=30, what="the matcher ready")
    assert http_get(port, "/healthz")[0] == 200
    status, metrics = http_get(port, "/metrics")
    assert status == 200
    for name in ("exchange_matcher_commands_total", "exchange_matcher_batch_size_bucket",
                 "exchange_matcher_engine_seconds_bucket",
                 "exchange_matcher_settlement_seconds_bucket",
                 "exchange_matcher_rebuild_seconds_bucket", "exchange_matcher_consumer_lag",
                 "exchange_matcher_ready 1.0", "exchange_matcher_partitions_owned"):
        assert name in metrics


def pending(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM order_commands WHERE applied_at IS NULL").fetchone()
    assert row is not None
    return int(row[0])


def applied(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM order_commands WHERE applied_at IS NOT NULL"
                       ).fetchone()
    assert row is not None
    return int(row[0])


def has_work_soon(conn: Conn, producing: threading.Thread) -> bool:
    """Whether commands wait to be applied, within a moment while the stream still runs
    (the matcher can be faster than the generator: a kill then waits for the next wave)."""
    try:
        wait_until(lambda: pending(conn) or not producing.is_alive(), timeout=2,
                   what="commands waiting for the matcher")
    except TimeoutError:
        return False
    return pending(conn) > 0


def wait_mid_stream(conn: Conn, producing: threading.Thread) -> None:
    """Until a matcher has settled part of the stream while more is on its way."""
    wait_until(lambda: applied(conn) > 0 and has_work_soon(conn, producing), timeout=60,
               what="part of the stream settled")
    assert producing.is_alive(), "the stream should still flow"


def produce_in_background(
    load: LoadGenerator, producer: Producer, topic: str, pause: float,
) -> threading.Thread:
    def run() -> None:
        for _ in range(WAVES):
            publish(producer, topic, load.wave(WAVE_SIZE))
            time.sleep(pause)  # paces the load as users would: it flows while matchers die

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_kill_9_at_random_moments_applies_everything_exactly_once(
    db_url: str, kafka_bootstrap: str, producer: Producer, topics: Topics,
    markets: list[Market], matcher_process: MatcherProcess,
) -> None:
    rng = random.Random(20240601)
    # The generator writes from its own thread: it gets its own connection.
    with psycopg.connect(db_url, autocommit=True) as conn, \
            psycopg.connect(db_url, autocommit=True) as load_conn:
        load = LoadGenerator(load_conn, markets, users=60, seed=1)
        matcher_process.start()
        producing = produce_in_background(load, producer, topics.orders, pause=0.3)
        kills, killed_mid_work = 0, 0
        while kills < KILLS or producing.is_alive():
            time.sleep(rng.uniform(0.5, 2.5))  # the kill -9 comes at a random moment
            killed_mid_work += has_work_soon(conn, producing)
            matcher_process.kill()
            kills += 1
            matcher_process.start()
        producing.join()
        wait_applied(conn, load.command_ids, timeout=120)
        assert_health_endpoints(matcher_process.env["EXCHANGE_MATCHER_PORT"])
        assert matcher_process.terminate() == 0  # SIGTERM: finish, commit, leave
        assert kills >= KILLS
        assert len(load.command_ids) == WAVES * WAVE_SIZE
        assert killed_mid_work >= KILLS // 2, "most kills should hit a matcher with work"
        assert_applied_exactly_once(conn, kafka_bootstrap, topics.orders, markets)


def test_two_instances_rebalance_mid_load_apply_nothing_twice(
    db_url: str, kafka_bootstrap: str, producer: Producer, topics: Topics,
    markets: list[Market], start_matcher: Callable[[str], Matcher],
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn, \
            psycopg.connect(db_url, autocommit=True) as load_conn:
        load = LoadGenerator(load_conn, markets, users=40, seed=2)
        first = start_matcher("a")
        producing = produce_in_background(load, producer, topics.orders, pause=0.2)
        wait_mid_stream(conn, producing)
        second = start_matcher("b")  # joins mid-load: the partitions are split
        wait_until(lambda: first.status.assigned and second.status.assigned, timeout=30,
                   what="the partitions split between both matchers")
        producing.join()
        wait_applied(conn, load.command_ids, timeout=120)
        owners = conn.execute("SELECT DISTINCT owner FROM matcher_offsets").fetchall()
        assert {o for (o,) in owners} == {"a", "b"}
        assert_applied_exactly_once(conn, kafka_bootstrap, topics.orders, markets)

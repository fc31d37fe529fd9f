"""API benchmark: what an order placement costs in the handler, and requests/s.

The real Chalice app runs in process through Chalice's test client, as the e2e tests
drive it. Its handlers are what Lambda runs, against a scratch database
``exchange_bench_<hex>`` (dropped at the end), Redis db 13 (``--redis-db``, emptied
first) and a fresh
``orders`` topic. A signed-up trader with an API key places LIMIT buys far below any
price with ``newOrderRespType=ACK``: the filters are checked, the funds locked and the
order and its outbox row inserted in one PostgreSQL transaction, then the command is
durably in Kafka (idempotent producer, acks=all). No matcher runs, since ACK does not
wait for one.

Baselines in the same run:
- ``GET /api/v3/ping``: routing, middleware and JSON only;
- a signed ``GET /api/v3/account``: the API key and signature checks plus one read.

For each route it reports sequential requests/s from one client thread, wall latency
(p50/p99/p99.9), this process's CPU ms per request (librdkafka's threads included, so
what a Lambda would be billed for; how much of it ran in threads other than the
handler's is reported apart), the CPU ms PostgreSQL spent per request (every local
``postgres`` process, both nodes: what the writer and its standby pay) and its network
waits per request: PostgreSQL round trips (each wait of a psycopg connection on the
server), Redis round trips (each command or pipeline sent) and Kafka publishes (each
produce-and-wait for the broker's acknowledgement). The order rate limits follow a clock
that moves a day per reading, so one trader can place thousands of orders; ``--profile``
prints where a placement's CPU goes (cProfile, by cumulative time).

    .venv/bin/python bench/api.py --requests 2000 [--profile 30]

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import math
import pstats
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
import psycopg
import redis
from chalice.test import Client

from chalicelib.bootstrap import Services, bootstrap_api
from chalicelib.domain.clock import SYSTEM_CLOCK
from chalicelib.domain.command_trace import CommandTrace
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.service_layer.ports import CommandPublisher
from chalicelib.settings import PROJECT_ROOT, Settings, local_postgres_url
from tests.e2e.conftest import Caller
from tests.integration.matching.support import create_market, fund

WARMUP = 50
TRIP_SAMPLE = 100
DAY_MS = 86_400_000


class CountingProxy:
    """A loopback TCP proxy in front of a server that counts round trips: each flight of
    bytes a client sends after the server last answered it (pipelined requests sent
    together count once, as they cost one wait)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.round_trips = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            answered = threading.Event()
            answered.set()
            threading.Thread(target=self._pump, args=(client, server, answered, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, answered, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answered: threading.Event,
              from_client: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if from_client and answered.is_set():
                    answered.clear()
                    with self._lock:
                        self.round_trips += 1
                elif not from_client:
                    answered.set()
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class RoundTrips:
    """This process's network waits: PostgreSQL and Redis round trips (through counting
    proxies) and Kafka publishes (each a produce, then a wait for the acks)."""

    def __init__(self) -> None:
        self.postgres: CountingProxy | None = None
        self.redis: CountingProxy | None = None
        self.kafka = 0

    def snapshot(self) -> tuple[int, int, int]:
        assert self.postgres is not None
        assert self.redis is not None
        return self.postgres.round_trips, self.redis.round_trips, self.kafka


TRIPS = RoundTrips()


@dataclasses.dataclass
class CountingPublisher:
    """The app's publisher, each publish (produce, then wait for the acks) counted."""

    inner: CommandPublisher

    def publish(self, commands: Sequence[OrderCommand],
                traces: Mapping[int, CommandTrace] | None = None) -> list[int]:
        TRIPS.kafka += 1
        return self.inner.publish(commands, traces)


class DayPerReadingClock:
    """Order counts' clock: each reading a day later, so no order window fills up."""

    def __init__(self) -> None:
        self.readings = 0

    def now_ms(self) -> int:
        self.readings += 1
        return SYSTEM_CLOCK.now_ms() + self.readings * DAY_MS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="requests per route")
    parser.add_argument("--redis-db", type=int, default=13,
                        help="the Redis database to use (emptied first)")
    parser.add_argument("--profile", type=int, default=0, metavar="LINES",
                        help="print the placement's top LINES functions by cumulative time")
    return parser.parse_args()


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def measure(name: str, call: Callable[[], Any], count: int) -> dict[str, Any]:
    """``count`` sequential calls after a warm-up; every answer must be a 200."""
    for _ in range(WARMUP):
        call()
    wall: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    thread_started, postgres_started = time.thread_time(), _load.postgres_cpu_seconds()
    for _ in range(count):
        before = time.perf_counter()
        response = call()
        wall.append((time.perf_counter() - before) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.body!r}")
    seconds = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) * 1000 / count
    other_threads_ms = cpu_ms - (time.thread_time() - thread_started) * 1000 / count
    postgres_ms = (_load.postgres_cpu_seconds() - postgres_started) * 1000 / count
    wall.sort()
    result = {"route": name, "requests": count, "requests_per_s": round(count / seconds),
              "cpu_ms_per_request": round(cpu_ms, 3),
              "other_threads_cpu_ms": round(other_threads_ms, 3),
              "postgres_cpu_ms": round(postgres_ms, 3),
              "p50_ms": round(percentile(wall, 0.5), 2),
              "p99_ms": round(percentile(wall, 0.99), 2),
              "p999_ms": round(percentile(wall, 0.999), 2)}
    print(f"{name}: {result['requests_per_s']} requests/s, {result['cpu_ms_per_request']} CPU ms"
          f" per request ({result['other_threads_cpu_ms']} in other threads),"
          f" PostgreSQL {result['postgres_cpu_ms']} CPU ms,"
          f" p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms", flush=True)
    return result


def count_trips(name: str, call: Callable[[], Any]) -> dict[str, Any]:
    """Round trips per call over ``TRIP_SAMPLE`` calls, through the counting proxies (in
    a pass of its own: the proxies' threads would add to the CPU measured)."""
    before = TRIPS.snapshot()
    for _ in range(TRIP_SAMPLE):
        call()
    postgres, redis_trips, kafka = (round((after - start) / TRIP_SAMPLE, 2) for start, after
                                    in zip(before, TRIPS.snapshot(), strict=True))
    print(f"{name}: per request {postgres} PostgreSQL, {redis_trips} Redis round trips,"
          f" {kafka} Kafka publishes", flush=True)
    return {"postgres_round_trips": postgres, "redis_round_trips": redis_trips,
            "kafka_publishes": kafka}


def profile(call: Callable[[], Any], count: int, lines: int) -> None:
    """Where ``count`` calls spend their CPU, top ``lines`` by cumulative time."""
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(lambda: [call() for _ in range(count)])
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    print(out.getvalue(), flush=True)


def bench_settings(settings: Settings, db_url: str, redis_port: int, redis_db: int,
                   topic: str) -> Settings:
    """The app's settings on the scratch database; rate limits out of the way."""
    return settings.model_copy(update={
        "database_url": db_url, "database_read_url": db_url,
        "redis_url": f"redis://127.0.0.1:{redis_port}/{redis_db}", "orders_topic": topic,
        "ip_weight_per_minute": 10**9, "api_key_weight_per_minute": 10**9})


def proxied_settings(settings: Settings, redis_port: int) -> Settings:
    """The same, PostgreSQL and Redis reached through counting proxies."""
    db_url = settings.database_url
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT inet_server_port(), current_user, current_database()"
                           ).fetchone()
    assert row is not None
    TRIPS.postgres, TRIPS.redis = CountingProxy(int(row[0])), CountingProxy(redis_port)
    password = psycopg.conninfo.conninfo_to_dict(db_url).get("password") or ""
    proxied = local_postgres_url(str(row[1]), str(password), str(row[2]),
                                 (TRIPS.postgres.port, TRIPS.postgres.port))
    return settings.model_copy(update={
        "database_url": proxied, "database_read_url": proxied,
        "redis_url": settings.redis_url.replace(f":{redis_port}/", f":{TRIPS.redis.port}/")})


def load_app() -> Any:
    sys.path.insert(0, str(PROJECT_ROOT / "api"))
    try:
        from app import app
    finally:
        sys.path.remove(str(PROJECT_ROOT / "api"))
    return app


def run(count: int, redis_db: int, profile_lines: int) -> list[dict[str, Any]]:
    settings = Settings()
    stack = _load.stack_up(settings)
    topic = f"bench-api-{uuid.uuid4().hex[:8]}-orders"
    with _load.scratch_database(stack, settings.test_db_name) as db_url:
        _load.create_topics(stack.kafka_bootstrap, {topic: 4})
        try:
            configured = bench_settings(settings, db_url, stack.redis_port, redis_db, topic)
            redis.Redis.from_url(configured.redis_url).flushdb()
            app = load_app()
            proxied = proxied_settings(configured, stack.redis_port)
            with closing(bootstrap_api(configured, weight_clock=DayPerReadingClock())
                         ) as direct, \
                    closing(bootstrap_api(proxied, weight_clock=DayPerReadingClock())
                            ) as through_proxies, \
                    Client(app, stage_name="dev") as client, \
                    psycopg.connect(db_url, autocommit=True) as conn:
                return measure_routes(app, client, conn, (direct, counted(through_proxies)),
                                      count, profile_lines)
        finally:
            _load.delete_topics(stack.kafka_bootstrap, [topic])


def counted(services: Services) -> Services:
    return dataclasses.replace(services, publisher=CountingPublisher(services.publisher))


def measure_routes(app: Any, client: Client, conn: psycopg.Connection[Any],
                   services: tuple[Services, Services], count: int,
                   profile_lines: int) -> list[dict[str, Any]]:
    """Each route's CPU and latency on ``services[0]`` (and the placement's profile),
    then its round trips on ``services[1]`` (the same app through the counting proxies)."""
    direct, through_proxies = services
    app.use_services(direct)
    trader = Caller(client, f"bench-{uuid.uuid4().hex[:8]}@example.com")
    market = create_market(conn)
    fund(conn, {(trader.user_id, market.quote): 10**15})
    key = trader.new_api_key(["READ", "TRADE"])
    order = {"symbol": market.symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "price": "10000", "quantity": "0.01", "newOrderRespType": "ACK"}
    def place() -> Any:
        return key.post_form("/api/v3/order", order)

    calls = {"GET /api/v3/ping": lambda: client.http.get("/api/v3/ping"),
             "GET /api/v3/account (signed)": lambda: key.get("/api/v3/account"),
             "POST /api/v3/order (ACK)": place}
    routes = [measure(name, call, count) for name, call in calls.items()]
    for route in routes:  # the yardstick: a route's CPU in pings, from this run
        route["cpu_in_pings"] = round(route["cpu_ms_per_request"]
                                      / routes[0]["cpu_ms_per_request"], 1)
    if profile_lines:
        profile(place, min(count, 500), profile_lines)
    app.use_services(through_proxies)  # closes the direct services: they are done
    for route, (name, call) in zip(routes, calls.items(), strict=True):
        route.update(count_trips(name, call))
    return routes


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    routes = run(args.requests, args.redis_db, args.profile)
    print(json.dumps({"bench": "api", "requests_per_route": args.requests, "routes": routes,
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()

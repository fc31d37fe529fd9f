"""API benchmark: what an order placement costs in the handler, and requests/s.

The real Chalice app runs in process through Chalice's test client, as the e2e tests
drive it. Its handlers are what Lambda runs, against a scratch database
``exchange_bench_<hex>`` (dropped at the end), Redis db 14 (emptied first) and a fresh
``orders`` topic. A signed-up trader with an API key places LIMIT buys far below any
price with ``newOrderRespType=ACK``: the filters are checked, the funds locked and the
order and its outbox row inserted in one PostgreSQL transaction, then the command is
durably in Kafka (idempotent producer, acks=all). No matcher runs, since ACK does not
wait for one.

Baselines in the same run:
- ``GET /api/v3/ping``: routing, middleware and JSON only;
- a signed ``GET /api/v3/account``: the API key and signature checks plus one read.

For each route it reports sequential requests/s from one client thread, wall latency
(p50/p99/p99.9) and this process's CPU ms per request. The CPU includes librdkafka's
threads, so it is what a Lambda would be billed for.

    .venv/bin/python bench/api.py --requests 2000

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
import psycopg
import redis
from chalice.test import Client

from chalicelib.bootstrap import bootstrap_api
from chalicelib.settings import PROJECT_ROOT, Settings
from tests.e2e.conftest import Caller
from tests.integration.matching.support import create_market, fund

REDIS_DB = 14
WARMUP = 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="requests per route")
    return parser.parse_args()


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def measure(name: str, call: Callable[[], Any], count: int) -> dict[str, Any]:
    """``count`` sequential calls after a warm-up; every answer must be a 200."""
    for _ in range(WARMUP):
        call()
    wall: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    for _ in range(count):
        before = time.perf_counter()
        response = call()
        wall.append((time.perf_counter() - before) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.body!r}")
    seconds = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) * 1000 / count
    wall.sort()
    result = {"route": name, "requests": count, "requests_per_s": round(count / seconds),
              "cpu_ms_per_request": round(cpu_ms, 3), "p50_ms": round(percentile(wall, 0.5), 2),
              "p99_ms": round(percentile(wall, 0.99), 2),
              "p999_ms": round(percentile(wall, 0.999), 2)}
    print(f"{name}: {result['requests_per_s']} requests/s, {result['cpu_ms_per_request']} CPU ms"
          f" per request, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms", flush=True)
    return result


def bench_settings(settings: Settings, db_url: str, redis_port: int, topic: str) -> Settings:
    """The app's settings on the scratch database; rate limits out of the way."""
    return settings.model_copy(update={
        "database_url": db_url, "database_read_url": db_url,
        "redis_url": f"redis://127.0.0.1:{redis_port}/{REDIS_DB}", "orders_topic": topic,
        "ip_weight_per_minute": 10**9, "api_key_weight_per_minute": 10**9})


def load_app() -> Any:
    sys.path.insert(0, str(PROJECT_ROOT / "api"))
    try:
        from app import app
    finally:
        sys.path.remove(str(PROJECT_ROOT / "api"))
    return app


def run(count: int) -> list[dict[str, Any]]:
    settings = Settings()
    stack = _load.stack_up(settings)
    topic = f"bench-api-{uuid.uuid4().hex[:8]}-orders"
    with _load.scratch_database(stack, settings.test_db_name) as db_url:
        _load.create_topics(stack.kafka_bootstrap, {topic: 4})
        try:
            configured = bench_settings(settings, db_url, stack.redis_port, topic)
            redis.Redis.from_url(configured.redis_url).flushdb()
            app = load_app()
            with closing(bootstrap_api(configured)) as services, \
                    Client(app, stage_name="dev") as client, \
                    psycopg.connect(db_url, autocommit=True) as conn:
                app.use_services(services)
                return measure_routes(client, conn, count)
        finally:
            _load.delete_topics(stack.kafka_bootstrap, [topic])


def measure_routes(client: Client, conn: psycopg.Connection[Any],
                   count: int) -> list[dict[str, Any]]:
    trader = Caller(client, f"bench-{uuid.uuid4().hex[:8]}@example.com")
    market = create_market(conn)
    fund(conn, {(trader.user_id, market.quote): 10**15})
    key = trader.new_api_key(["READ", "TRADE"])
    order = {"symbol": market.symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "price": "10000", "quantity": "0.01", "newOrderRespType": "ACK"}
    return [
        measure("GET /api/v3/ping", lambda: client.http.get("/api/v3/ping"), count),
        measure("GET /api/v3/account (signed)", lambda: key.get("/api/v3/account"), count),
        measure("POST /api/v3/order (ACK)", lambda: key.post_form("/api/v3/order", order),
                count),
    ]


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    routes = run(args.requests)
    print(json.dumps({"bench": "api", "requests_per_route": args.requests, "routes": routes,
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()

"""Network faults between every client and PostgreSQL, Redis and Kafka, under a running
order stream through the API.

The API (in this process), the matcher and the sweeper (child processes, restarted when
they exit, as Kubernetes and the scheduler would) reach each service only through
Toxiproxy. One fault at a time on one proxy: added latency and a bandwidth limit, which
every request survives; connections reset as the server answers (the work done, its
answer lost); half-open connections, where data stops and the connection stays up.
Each request ends within its limit, either accepted or refused in the API's format (a
4xx, or a 503 saying the outcome is unknown), never a 500. Once the fault is gone the
API answers again, and in the end every command recorded is applied exactly once:
each accepted order is in the database once, each order's fills are its trades, the
ledger balances and the locks are the open orders' (SPEC's invariants).
"""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from chalice.test import Client

from chalicelib.bootstrap import bootstrap_api
from chalicelib.domain.errors import ErrorCode
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from opscli.stack.toxiproxy import Toxic, bandwidth, cut_after, half_open, latency, reset_peer
from tests.e2e.conftest import API_DIR, ApiKey, Caller, fund, stepped_up_admin
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

from .conftest import FaultyNetwork, Supervised
from .stream import SYMBOL, OrderStream

Conn = psycopg.Connection[Any]

FAULTS: dict[str, Toxic] = {
    "latency": latency(50, jitter_ms=10),
    "bandwidth": bandwidth(kb_per_second=4),
    "reset_peer": reset_peer(after_ms=0),
    "cut_mid_request": cut_after(byte_count=3000),
    "half_open": half_open(),
}
SURVIVED = {"latency", "bandwidth"}
"""Faults under which every request still succeeds, only slower."""
REQUESTS_UNDER_FAULT = {"latency": 3, "bandwidth": 3, "reset_peer": 4, "cut_mid_request": 6,
                        "half_open": 2}
REQUEST_LIMIT_S = float(json.loads((API_DIR / ".chalice" / "config.json").read_text())
                        ["lambda_timeout"])
"""The API Lambda's timeout: Lambda ends a request still running then (API Gateway has
answered 504 a second before), so it hung as far as its client knows."""
RESULT_WAIT_MS = 1000
ACCEPTED_AFTER = 2
"""Requests accepted once the fault is gone: the API has recovered."""


@dataclass(frozen=True)
class Exchange:
    buyer: ApiKey
    seller: ApiKey
    user_ids: list[int]
    matcher: Supervised
    sweeper: Supervised


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def api_app(faulty_network: FaultyNetwork) -> Iterator[ExchangeApp]:
    """The API's app (api/app.py, a module-level app as in tests/e2e) on this stack."""
    sys.path.insert(0, str(API_DIR))
    try:
        from app import app
    finally:
        sys.path.remove(str(API_DIR))
    services = bootstrap_api(faulty_network.settings(
        "api", order_result_wait_ms=RESULT_WAIT_MS))
    app.use_services(services)
    yield app
    services.close()


@pytest.fixture(scope="module")
def exchange(faulty_network: FaultyNetwork, api_app: ExchangeApp,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    """A market, two funded traders with API keys, a matcher and a sweeper."""
    logs = tmp_path_factory.mktemp("network-faults-logs")
    matcher = Supervised("matching_cluster.service", [], {
        **faulty_network.environment("matcher", matcher_health_port=free_port()),
        "MATCHER_GROUP_ID": f"network-faults-{uuid.uuid4().hex[:8]}",
        "MATCHER_INSTANCE_ID": "network-faults-0", "MATCHER_SESSION_TIMEOUT_MS": "6000",
        "LOG_LEVEL": "WARNING"}, logs / "matcher.log")
    sweeper = Supervised("lambdas.sweeper", ["--interval", "1"], faulty_network.environment(
        "functions", sweeper_threshold_seconds=2), logs / "sweeper.log")
    with Client(api_app, stage_name="dev") as client, \
            psycopg.connect(faulty_network.owner_url, autocommit=True) as db:
        admin = stepped_up_admin(client, db, "ops@network-faults.test")
        for asset, scale in (("BTC", 8), ("USDT", 6)):
            created = admin.post("/v1/admin/assets", {"symbol": asset, "scale": scale})
            assert created.status_code == 201, created.body
        created = admin.post("/v1/admin/markets", {
            "symbol": SYMBOL, "baseAsset": "BTC", "quoteAsset": "USDT", "tickSize": "0.01",
            "stepSize": "0.0001", "minQty": "0.0001", "maxQty": "1000", "minNotional": "5",
            "makerFeePpm": 1000, "takerFeePpm": 2000})
        assert created.status_code == 201, created.body
        traders = [Caller(client, f"{name}@network-faults.test") for name in ("buyer", "seller")]
        for trader in traders:
            fund(admin, trader, "USDT", "100000000")
            fund(admin, trader, "BTC", "10000")
        keys = [trader.new_api_key(["READ", "TRADE"]) for trader in traders]
        matcher.start()
        sweeper.start()
        try:
            yield Exchange(keys[0], keys[1], [t.user_id for t in traders], matcher, sweeper)
        finally:
            sweeper.stop()
            matcher.stop()


@pytest.fixture
def db(faulty_network: FaultyNetwork) -> Iterator[Conn]:
    """The database as its owner, not through the proxy."""
    with psycopg.connect(faulty_network.owner_url, autocommit=True) as conn:
        yield conn


def watched(stream: OrderStream, predicate: Callable[[], bool], what: str,
            timeout: float) -> None:
    """Wait for ``predicate``, failing at once if a request hangs or raises."""

    def holds() -> bool:
        stream.check()
        return predicate()

    wait_until(holds, timeout=timeout, what=what)


def accepted_in(stream: OrderStream, phase: str) -> int:
    return sum(o.accepted for o in stream.in_phase(phase))


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("proxy", ["postgres", "redis", "kafka"])
def test_requests_succeed_or_fail_clearly_and_nothing_moves_twice(
    faulty_network: FaultyNetwork, exchange: Exchange, db: Conn, proxy: str, fault: str,
) -> None:
    toxiproxy = faulty_network.toxiproxy
    toxiproxy.reset()
    restarts = exchange.matcher.restarts, exchange.sweeper.restarts
    stream = OrderStream(exchange.buyer, exchange.seller, REQUEST_LIMIT_S)
    stream.start()
    try:
        watched(stream, lambda: accepted_in(stream, "before") >= 1, timeout=60,
                what="the stream flowing before the fault")
        stream.phase = "during"
        with toxiproxy.toxic(proxy, FAULTS[fault]):
            watched(stream, lambda: len(stream.in_phase("during")) >= REQUESTS_UNDER_FAULT[fault],
                    timeout=REQUESTS_UNDER_FAULT[fault] * REQUEST_LIMIT_S,
                    what=f"{REQUESTS_UNDER_FAULT[fault]} requests under {fault} on {proxy}")
        healed = time.monotonic()
        stream.phase = "after"
        watched(stream, lambda: accepted_in(stream, "after") >= ACCEPTED_AFTER, timeout=60,
                what=f"the API accepting orders again after {fault} on {proxy}")
    finally:
        stream.stop()

    unclear = [o for o in stream.outcomes if not (o.accepted or o.clear_error)]
    assert unclear == [], f"answers neither accepted nor a clear error: {unclear}"
    if fault in SURVIVED:
        refused = [o for o in stream.in_phase("during") if not o.accepted]
        assert refused == [], f"{fault} on {proxy} should only slow requests down"
    stored = assert_applied_exactly_once(db, stream, exchange.user_ids)
    # -1001 promises that nothing was done (a client may send it again); -1007 that the
    # outcome is unknown.
    done_anyway = [o for o in stream.outcomes if o.kind == "PLACE" and o.client_order_id in stored
                   and o.code == ErrorCode.DISCONNECTED]
    assert done_anyway == [], f"orders placed though the API answered -1001: {done_anyway}"
    print(summary(proxy, fault, stream, healed, stored),
          f"all applied {time.monotonic() - healed:.1f} s after the fault ended;"
          f" matcher restarts {exchange.matcher.restarts - restarts[0]},"
          f" sweeper restarts {exchange.sweeper.restarts - restarts[1]}")


def summary(proxy: str, fault: str, stream: OrderStream, healed: float,
            stored: set[str]) -> str:
    """What a user saw during the fault, how long until the API accepted orders again,
    and how many refused placements were in fact placed (their status was unknown)."""
    during = stream.in_phase("during")
    answers = Counter(f"{o.status} {o.code or ''}".strip() for o in during)
    first_accepted = min((o.finished for o in stream.in_phase("after") if o.accepted),
                         default=float("nan"))
    refused = [o for o in stream.outcomes if o.kind == "PLACE" and not o.accepted]
    placed_anyway = Counter(o.code for o in refused if o.client_order_id in stored)
    return (f"[network-faults] {proxy:<8} {fault:<10} {FAULTS[fault].describe()}: "
            f"answers during {dict(answers)}, slowest {max(o.seconds for o in during):.2f} s,"
            f" mean {sum(o.seconds for o in during) / len(during):.2f} s"
            f" (slowest of the stream {max(o.seconds for o in stream.outcomes):.2f} s);"
            f" accepted again {first_accepted - healed:.2f} s after the fault ended;"
            f" refused placements stored anyway, by code: {dict(placed_anyway)} of"
            f" {len(refused)};")


def assert_applied_exactly_once(db: Conn, stream: OrderStream, user_ids: list[int]) -> set[str]:
    """Every command recorded is applied (the sweeper publishes what a fault held back),
    each accepted order is stored once, no order was placed twice, fills equal trades,
    and SPEC's ledger invariants and locks hold. Returns the client order ids stored."""
    wait_until(lambda: scalar(db, "SELECT count(*) FROM order_commands WHERE applied_at IS NULL"),
               until=lambda left: left == 0, timeout=90, what="every recorded command applied")
    placed = [o for o in stream.outcomes if o.kind == "PLACE"]
    stored = dict(db.execute(
        "SELECT client_order_id, count(*) FROM orders WHERE client_order_id = ANY(%s)"
        " GROUP BY client_order_id", ([o.client_order_id for o in placed],)).fetchall())
    missing = [o for o in placed if o.accepted and o.client_order_id not in stored]
    assert missing == [], f"accepted orders not in the database: {missing}"
    twice = db.execute("SELECT user_id, client_order_id, count(*) FROM orders"
                       " GROUP BY user_id, client_order_id HAVING count(*) > 1").fetchall()
    assert twice == [], f"orders placed more than once: {twice}"
    unknown = set(stored) - {o.client_order_id for o in placed}
    assert unknown == set()
    misfilled = db.execute(
        "SELECT o.id, o.executed_qty, coalesce(f.qty, 0) FROM orders o LEFT JOIN ("
        "  SELECT order_id, sum(quantity) AS qty FROM ("
        "    SELECT maker_order_id AS order_id, quantity FROM trades"
        "    UNION ALL SELECT taker_order_id, quantity FROM trades) t GROUP BY order_id) f"
        " ON f.order_id = o.id WHERE o.executed_qty <> coalesce(f.qty, 0)").fetchall()
    assert misfilled == [], f"orders whose fills differ from their trades: {misfilled}"
    assert_ledger_invariants(db)
    assert_locks_match_open_orders(db, user_ids)
    return set(stored)


def scalar(db: Conn, query: str) -> int:
    row = db.execute(query.encode()).fetchone()
    assert row is not None
    return int(row[0])


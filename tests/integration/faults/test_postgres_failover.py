"""PostgreSQL's primary killed with SIGKILL under a running order stream through the API,
on the isolated exchange (conftest.py), and the db-watchdog failing over to the standby;
then the new primary killed the same way, failing back. While there is no writer the
API answers 503 in its error format with Retry-After (never a 500, never a hang), then
carries on; nothing committed is lost, and every accepted order is applied once."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from opscli.faults import checks
from opscli.faults.exchange import IsolatedExchange
from opscli.faults.traffic import (
    REQUEST_TIMEOUT_SECONDS,
    Answer,
    OrderStream,
    Request,
    figures,
    signed_path,
)
from opscli.stack.pg_node import PostgresNode
from opscli.stack.replication import standby_state
from tests.support.polling import wait_until

from .process_faults import Conn, assert_nothing_lost, order_stream, wait_for_answers

ROUNDS = 2  # node1 fails over to node2, then node2 back to node1
UNAVAILABLE = {"503/-1001", "503/-1007"}
# A cancel may meet an order that has just filled: a client's error, not the fault's.
CLIENT_ERRORS = {"400/-2011"}
PROBE_INTERVAL_SECONDS = 0.2
MAX_PROBES = 2_000  # a bound: 400 s of probing
FAILOVER_SECONDS = 90  # the watchdog waits EXCHANGE_DB_FAILOVER_AFTER_SECONDS (5) first
FAILOVER_AFTER_SECONDS = 5.0  # chalicelib.settings' default, which the isolated exchange keeps


@dataclass(frozen=True)
class ProbeAnswer:
    """A probe's request and what came back, with its Retry-After header."""

    answer: Answer
    retry_after: str | None


class Probe:
    """Besides the stream, placements and account reads, five a second, each sent when due
    whatever the others take, keeping the headers the stream does not: what a client
    sees, request by request."""

    def __init__(self, exchange: IsolatedExchange, run_id: str) -> None:
        self._exchange = exchange
        self._run_id = run_id
        self._stop = threading.Event()
        self._scheduler = threading.Thread(target=self._schedule, daemon=True)
        self._requests: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.answers: list[ProbeAnswer] = []

    def __enter__(self) -> Probe:
        self._scheduler.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._scheduler.join()
        for request in self._requests:
            request.join(REQUEST_TIMEOUT_SECONDS * 2)

    def _schedule(self) -> None:
        for number in range(MAX_PROBES):
            if self._stop.wait(PROBE_INTERVAL_SECONDS):
                return
            request = threading.Thread(target=self._send, args=(number,), daemon=True)
            self._requests.append(request)
            request.start()

    def _send(self, number: int) -> None:
        traders = self._exchange.traders
        trader = number % len(traders)
        if number % 2:
            request = Request("account", trader, "BTCUSDT", "", {})
            method, path = "GET", "/api/v3/account"
        else:
            # Well below the market: it rests, holding its lock, until the end.
            client_id = f"{self._run_id}-probe-{number}"
            request = Request("place", trader, "BTCUSDT", client_id, {
                "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "0.1000", "price": "60.00", "newClientOrderId": client_id,
                "newOrderRespType": "ACK"})
            method, path = "POST", "/api/v3/order"
        due = time.monotonic()
        status, body, retry_after = self._call(
            method, signed_path(traders[trader], path, request.params), traders[trader].api_key)
        code = body.get("code") if isinstance(body, dict) else None
        order_id = body.get("orderId") if isinstance(body, dict) and code is None else None
        answer = ProbeAnswer(Answer(
            request, status, code if isinstance(code, int) else None,
            order_id if isinstance(order_id, int) else None, due, time.monotonic()),
            retry_after)
        with self._lock:
            self.answers.append(answer)

    def _call(self, method: str, path: str, api_key: str) -> tuple[int, Any, str | None]:
        conn = http.client.HTTPConnection("127.0.0.1", self._exchange.ports.api,
                                          timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            conn.request(method, path, headers={"X-MBX-APIKEY": api_key})
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            return 0, None, None
        finally:
            conn.close()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        return response.status, body, response.getheader("Retry-After")


@dataclass(frozen=True)
class Committed:
    """Rows committed on the primary at one moment: ids of orders and commands, and the
    trades and ledger entries themselves (never updated). With ``settled_again``, the
    matcher's commits did not wait for the standby: a batch a reader saw may be lost and
    its commands settled again, which writes the same trades (their time apart, as
    always here) and the same entries under the same transaction references, with new
    ids; the entries are then compared by reference."""

    orders: set[int]
    commands: set[int]
    trades: set[tuple[Any, ...]]
    entries: set[tuple[Any, ...]]
    settled_again: bool


def committed(conn: Conn, *, settled_again: bool) -> Committed:
    entries = ("SELECT t.kind, t.reference, e.balance_id, e.bucket, e.amount"
               " FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id"
               if settled_again else
               "SELECT id, transaction_id, balance_id, bucket, amount FROM ledger_entries")
    return Committed(
        {row[0] for row in conn.execute("SELECT id FROM orders")},
        {row[0] for row in conn.execute("SELECT id FROM order_commands")},
        set(conn.execute("SELECT market, id, price, quantity, maker_order_id, taker_order_id"
                         " FROM trades").fetchall()),
        set(conn.execute(entries).fetchall()), settled_again)


def lost(before: Committed, conn: Conn) -> dict[str, int]:
    """How many of the rows in ``before`` are not in the database now, by table (only
    tables that lost some)."""
    now = committed(conn, settled_again=before.settled_again)
    missing = {"orders": len(before.orders - now.orders),
               "commands": len(before.commands - now.commands),
               "trades": len(before.trades - now.trades),
               "ledger entries": len(before.entries - now.entries)}
    return {table: count for table, count in missing.items() if count}


def wait_synchronous_pair(primary: PostgresNode, standby: PostgresNode) -> None:
    wait_until(lambda: standby_state(primary, standby), timeout=FAILOVER_SECONDS,
               what=f"{standby.name} a synchronous standby of {primary.name}",
               until=lambda seen: seen.synchronous)


def watchdog_failovers(exchange: IsolatedExchange) -> list[dict[str, Any]]:
    log = exchange.apps["db-watchdog"].log_path.read_text().splitlines()
    events = [json.loads(line) for line in log if line.startswith("{")]
    return [e for e in events if e.get("event") == "failover_done"]


@dataclass(frozen=True)
class Round:
    """One kill and failover: when (monotonic seconds) each thing happened."""

    old: PostgresNode
    new: PostgresNode
    killed: float
    promoted: float
    paired: float
    before: Committed
    probed: list[ProbeAnswer]


def kill_and_fail_over(exchange: IsolatedExchange, stream: OrderStream, run_id: str,
                       *, synchronous_commit: bool) -> Round:
    """SIGKILL the primary once the stream flows, wait for the watchdog to promote its
    standby and for placements to be accepted again, then for the old primary to be a
    synchronous standby again (a commit is on both before any next kill)."""
    old = exchange.postgres.primary()
    new = exchange.postgres.peer(old)
    with Probe(exchange, run_id) as probe:
        wait_for_answers(stream, 30)
        with psycopg.connect(exchange.owner_url(), autocommit=True) as conn:
            before = committed(conn, settled_again=not synchronous_commit)
        exchange.kill_postgres_primary()
        killed = time.monotonic()
        wait_until(new.role, timeout=FAILOVER_SECONDS,
                   what=f"{new.name} promoted (pg_is_in_recovery() false)",
                   until=lambda role: role == "primary")
        promoted = time.monotonic()
        wait_for_answers(stream, 20, since=promoted)
        wait_synchronous_pair(new, old)
        paired = time.monotonic()
    return Round(old, new, killed, promoted, paired, before, probe.answers)


def describe(fault: Round, stream: OrderStream) -> str:
    """What clients saw, for docs/operations.md: the stream's answers to requests due
    while there was no writer, how long the probe's requests then took, when orders
    were accepted again."""
    answers = stream.answers()
    window = figures(answers, fault.killed, fault.promoted)
    placed_again = min(a.answered for a in answers if a.request.kind == "place"
                       and a.status == 200 and a.due >= fault.killed)
    probed = [p for p in fault.probed if fault.killed <= p.answer.due < fault.promoted]
    refused = [p.answer.latency for p in probed if p.answer.status == 503]
    waited = [p.answer.latency for p in probed if p.answer.status == 200]
    return (f"[pg-failover] {fault.old.name} killed; {fault.new.name} promoted after"
            f" {fault.promoted - fault.killed:.1f} s; first placement accepted again"
            f" {placed_again - fault.killed:.1f} s after the kill; {fault.old.name} a"
            f" synchronous standby after {fault.paired - fault.killed:.1f} s. Stream requests"
            f" due without a writer: {window.outcomes} (p50 {window.p50_ms} ms, p99"
            f" {window.p99_ms} ms); probe: {len(waited)} answered 200 after up to"
            f" {max(waited, default=0):.1f} s, {len(refused)} answered 503 after"
            f" {min(refused, default=0):.1f}-{max(refused, default=0):.1f} s, Retry-After"
            f" {sorted({p.retry_after for p in probed if p.retry_after})}")


def test_primary_killed_then_failover_503_not_500_and_nothing_committed_is_lost(
    faulty_exchange: IsolatedExchange, synchronous_commit: bool,
) -> None:
    exchange = faulty_exchange
    pg = exchange.postgres
    first = pg.primary()
    wait_synchronous_pair(first, pg.peer(first))
    failovers_before = len(watchdog_failovers(exchange))
    rounds = []
    with order_stream(exchange, "pgkill") as stream:
        for number in range(ROUNDS):
            rounds.append(kill_and_fail_over(exchange, stream, f"pgkill{number}",
                                             synchronous_commit=synchronous_commit))
            print(describe(rounds[-1], stream), flush=True)
    probed = [p for fault in rounds for p in fault.probed]
    answers = stream.answers() + [p.answer for p in probed]
    failovers = watchdog_failovers(exchange)[failovers_before:]
    print(f"[pg-failover] the watchdog's failovers took {[f['seconds'] for f in failovers]} s;"
          f" the stream's answers: {dict(Counter(a.outcome for a in stream.answers()))},"
          f" dropped {stream.dropped}", flush=True)
    assert [f["primary"] for f in failovers] == [fault.new.name for fault in rounds]

    # While there was no writer and after: accepted, refused with a 503 in the error
    # format with Retry-After, or a client's own error; never a 500, never a hang. The
    # fault bit each time: placements were due while there was no writer, and none of
    # them was accepted before the watchdog could have promoted the standby (it waits
    # FAILOVER_AFTER_SECONDS first): each was refused, or waited for the new writer (a
    # placement is two round trips now, so few are in flight at the kill; the others
    # retry their connection across the failover).
    assert [a for a in answers if a.status == 0] == [], "requests without an answer"
    # Without the commit's wait, a batch the kill took back is settled again only once
    # the matcher is back: until then its fills' proceeds and the locks it released are
    # not there, and an order placed against them is refused (never accepted).
    client_errors = CLIENT_ERRORS if synchronous_commit else CLIENT_ERRORS | {"400/-2010"}
    assert {a.outcome for a in answers} <= {"200"} | UNAVAILABLE | client_errors
    for fault in rounds:
        placed = [a for a in answers if a.request.kind == "place"
                  and fault.killed <= a.due < fault.promoted]
        assert placed, "no placement met the outage"
        assert [a for a in placed if a.status == 200
                and a.answered - fault.killed < FAILOVER_AFTER_SECONDS] == [], \
            "a placement was accepted while there was no writer"
    refused = [p for p in probed if p.answer.status == 503]
    assert all(int(p.retry_after or 0) > 0 for p in refused), refused
    with psycopg.connect(exchange.owner_url(), autocommit=True) as conn:
        assert_nothing_lost(exchange, conn, answers)
        # Every event the matcher published, batches cut short by the kills included, is
        # what the database kept: events follow the commit (or the durability barrier),
        # never run ahead of it, and none is sent twice.
        trade_events = checks.topic_events(exchange.settings.kafka_bootstrap_servers,
                                           exchange.settings.market_events_topic, "trade")
        assert checks.published_trade_problems(conn, trade_events) == []
        assert checks.trade_event_gaps(conn, trade_events)["events_repeated"] == 0
        assert checks.published_order_problems(conn, checks.topic_events(
            exchange.settings.kafka_bootstrap_servers, exchange.settings.order_events_topic,
            "order")) == []
        # Rows committed just before each kill are all there, through both failovers.
        assert [lost(fault.before, conn) for fault in rounds] == [{}] * ROUNDS
        # -1001 promises the order was not placed (a client may send it again).
        refused_ids = [a.request.client_order_id for a in answers
                       if a.request.kind == "place" and a.outcome == "503/-1001"]
        assert conn.execute("SELECT client_order_id FROM orders"
                            " WHERE client_order_id = ANY(%s)", (refused_ids,)).fetchall() == []
    # Back where the session started: node1 primary, node2 its synchronous standby.
    assert pg.primary().name == first.name
    wait_synchronous_pair(first, pg.peer(first))

"""What the process-fault tests share: an order stream through the isolated exchange's API
for the length of a block, waiting on its answers and on the exchange catching up, and
the checks every fault test ends with."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from opscli.faults import checks
from opscli.faults.exchange import IsolatedExchange
from opscli.faults.traffic import Answer, OrderStream
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
RATE = 15.0  # orders per second: hundreds of orders per test on the 2-core machine
CATCH_UP_SECONDS = 120


@contextmanager
def order_stream(exchange: IsolatedExchange, run_id: str,
                 rate: float = RATE) -> Iterator[OrderStream]:
    stream = OrderStream(exchange.api_url, exchange.traders, rate=rate, run_id=run_id,
                         seed=sum(map(ord, run_id)))
    stream.start()
    try:
        yield stream
    finally:
        stream.stop()


def answered_since(stream: OrderStream, since: float, outcome: str = "200") -> int:
    """How many requests due after ``since`` were answered with ``outcome``."""
    return sum(1 for a in stream.answers() if a.due >= since and a.outcome == outcome)


def wait_for_answers(stream: OrderStream, count: int, *, since: float | None = None,
                     outcome: str = "200", timeout: float = 90) -> None:
    start = time.monotonic() if since is None else since
    wait_until(lambda: answered_since(stream, start, outcome), until=lambda n: n >= count,
               timeout=timeout, what=f"{count} answers {outcome}")


def trade_count(conn: Conn) -> int:
    return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])  # type: ignore[index]


def wait_for_trades(conn: Conn, more: int, timeout: float = 90) -> None:
    start = trade_count(conn)
    wait_until(lambda: trade_count(conn) - start, until=lambda n: n >= more, timeout=timeout,
               what=f"{more} more trades")


def wait_caught_up(conn: Conn) -> None:
    """Every command published and applied, every trade folded into the candles."""
    wait_until(lambda: checks.pending_commands(conn), until=lambda n: n == 0,
               timeout=CATCH_UP_SECONDS, what="every command published and applied")
    wait_until(lambda: checks.candles_caught_up(conn), timeout=CATCH_UP_SECONDS,
               what="the candles function caught up with the trades")


def assert_nothing_lost(exchange: IsolatedExchange, conn: Conn,
                        answers: list[Answer]) -> None:
    """SPEC's invariants 1-5 after the stream: the ledger, locks equal to open orders,
    every accepted order there and applied exactly once; no answer was a 500."""
    wait_caught_up(conn)
    assert [a for a in answers if a.status == 500] == []
    assert_ledger_invariants(conn)
    assert_locks_match_open_orders(conn, [t.user_id for t in exchange.traders])
    assert checks.all_problems(conn, answers) == []
    assert checks.candle_problems(conn) == []

"""A batch that fails pauses the matcher's partitions and never ends the process, on the
isolated exchange (conftest.py) under a running order stream.

The matcher runs under libfaketime (as the soak runs it), where every ``time.sleep``
fails with EINVAL: a loop that slept after a failed batch ended the process there, as
the soak's half-open and PostgreSQL-failover phases did."""

from __future__ import annotations

from pathlib import Path

import psycopg

from opscli.faults.exchange import DB_NAME, IsolatedExchange
from tests.support.polling import wait_until

from .process_faults import (
    Conn,
    assert_nothing_lost,
    order_stream,
    trade_count,
    wait_caught_up,
    wait_for_trades,
)

# Debian's libfaketime (scripts/install.sh), in the machine's multiarch folder.
LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"),
                   Path("libfaketimeMT.so.1"))


def test_a_failed_batch_pauses_the_partitions_and_the_matcher_carries_on(
    faulty_exchange: IsolatedExchange, faulty_db: Conn, tmp_path: Path,
) -> None:
    exchange = faulty_exchange
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    exchange.restart_app("matcher", {
        "LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"})
    matcher = exchange.apps["matcher"]
    pid = matcher.running_pid()
    try:
        with order_stream(exchange, "failedbatch") as stream:
            wait_for_trades(faulty_db, 10)
            # The matcher's connection dies under it (ended by a session of its own role,
            # the one allowed to): its next batch fails.
            with psycopg.connect(exchange.config.database_url(DB_NAME, "matcher"),
                                 autocommit=True) as own:
                wait_until(lambda: own.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE usename = current_user AND pid <> pg_backend_pid()").fetchone(),
                    until=lambda row: row is not None and row[0] > 0, timeout=30,
                    what="the matcher's connection terminated")
            start = trade_count(faulty_db)
            traded, running = wait_until(
                lambda: (trade_count(faulty_db) - start, matcher.running_pid()),
                until=lambda seen: seen[0] >= 20 or seen[1] != pid, timeout=90,
                what="20 more trades from the same matcher process")
            assert running == pid, f"the matcher exited after {traded} more trades"
        wait_caught_up(faulty_db)
        assert_nothing_lost(exchange, faulty_db, stream.answers())
    finally:
        exchange.restart_app("matcher")

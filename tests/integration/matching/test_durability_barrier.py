"""The publishing thread's durability barrier on the real database: a batch's events go
out once a commit that waits for the standby has returned; after the barrier's
connection breaks, only the batches whose stored offsets show they survived."""

from __future__ import annotations

import socket
import threading
from typing import Any

import psycopg

from chalicelib.settings import Settings
from matching_cluster.service.durability import DurabilityBarrier
from tests.conftest import as_role

Conn = psycopg.Connection[Any]

BATCHES = [
    ((0, 3, 90),),  # settled before the stored offset: survived
    ((0, 3, 101),),  # past it: lost, settled again later
    ((1, 1, 40),),  # of an epoch fenced since: not known
    ((0, 3, 100), (1, 2, 50)),  # both partitions, each exactly at the stored offset
    (),  # time marks
]


def test_batches_go_out_after_a_barrier_and_after_a_break_only_those_that_survived(
    db: Conn, test_settings: Settings,
) -> None:
    db.execute("INSERT INTO matcher_offsets (topic, partition, owner_epoch, owner, next_offset)"
               " VALUES ('orders', 0, 3, 'm1', 100), ('orders', 1, 2, 'm1', 50)")
    url = as_role(test_settings, "matcher").database_url
    opened: list[Conn] = []

    def connect() -> Conn:
        opened.append(psycopg.connect(url, autocommit=True))
        return opened[-1]

    barrier = DurabilityBarrier(connect, owner="m1", topic="orders", deadline_s=10,
                                retry_backoff_s=0.05, max_backoff_s=1)
    try:
        assert barrier.confirm(BATCHES, threading.Event()) == [True] * len(BATCHES)
        assert opened[0].execute("SHOW synchronous_commit").fetchone() == ("on",)
        # A commit waits for the flush and the standby only if it wrote WAL: a row.
        assert db.execute("SELECT count(*) FROM durability_barriers WHERE owner = 'm1'"
                          ).fetchone() == (1,)
        # As the server's crash or a broken route would: the next statement fails.
        with socket.fromfd(opened[0].fileno(), socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)

        assert barrier.confirm(BATCHES, threading.Event()) == [True, False, False, True, True]
        assert len(opened) == 2
        assert opened[0].broken
    finally:
        barrier.close()


def test_a_barrier_that_cannot_reach_the_database_holds_its_batches_until_stopped() -> None:
    stopping = threading.Event()
    attempts: list[int] = []

    def unreachable() -> Conn:
        attempts.append(1)
        if len(attempts) == 3:
            stopping.set()
        return psycopg.connect("postgresql://matcher@127.0.0.1:1/exchange", connect_timeout=2)

    barrier = DurabilityBarrier(unreachable, owner="m1", topic="orders", deadline_s=5,
                                retry_backoff_s=0.01, max_backoff_s=1)
    assert barrier.confirm(BATCHES, stopping) == [False] * len(BATCHES)
    assert len(attempts) == 3

"""Events only of batches no crash can take back: the durability barrier.

With ``MATCHER_SYNCHRONOUS_COMMIT=false`` the matcher commits each batch without waiting
for its WAL to be flushed or to reach the synchronous standby (``synchronous_commit`` off
on its connection): below saturation that wait is most of a batch's fixed cost. What the
world is told of a batch (its events, Redis, the settled orders' notice) waits instead
for a barrier on a connection of the publishing thread's own: one row written and
committed with ``synchronous_commit`` on. WAL is one sequence, so once that commit
returns, every batch committed before it is flushed and on the standby, and one barrier
covers every batch queued meanwhile.

The price: a reader of PostgreSQL (the REST API) sees a batch as soon as it commits. If
a crash or a failover then loses it, its commands are settled again from the stored
offset: the same trades, ids and order states, but the trades' times and the ledger
entries' ids are new. With ``synchronous_commit`` on, nothing a reader saw is lost.

If the barrier fails (the server crashed, failed over, or the connection broke), the
batches in hand may or may not have survived. On a new connection, a batch whose every
partition still has its epoch and a stored offset at or past the batch's end survived,
and is published after a barrier there. Any other is dropped: if it was lost, its
commands are settled again from the stored offset and published then; if it survived
but its partition was fenced since (the matcher's own recovery does that at once), its
events are lost, as when the matcher is killed between a commit and its publication
(events are best effort; the REST answers have it). Nothing published is ever taken back
or sent twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

import psycopg

from chalicelib.adapters.postgres import Deadline

from . import durability_repository as repo
from .repository import Conn

log = logging.getLogger(__name__)

Offsets = tuple[tuple[int, int, int], ...]
"""Where a committed batch stands: each slice's (partition, epoch, next offset). Time
marks hold no data and stand nowhere: ``()``."""


def survived(offsets: Offsets, stored: Mapping[int, tuple[int, int]]) -> bool:
    """Whether a batch committed at ``offsets`` is known to be in the database, given
    each partition's stored (epoch, next offset). A later epoch means the partition was
    fenced since: the batch may have been lost and settled again, so it is not known."""
    for partition, epoch, next_offset in offsets:
        row = stored.get(partition)
        if row is None or row[0] != epoch or row[1] < next_offset:
            return False
    return True


class DurabilityBarrier:
    """The publishing thread's barrier; ``connect`` opens its connection (autocommit);
    ``owner`` names its row (the matcher instance). After a failure it retries with the
    matcher's own backoff: from ``retry_backoff_s``, doubling up to ``max_backoff_s``."""

    def __init__(self, connect: Callable[[], Conn], *, owner: str, topic: str,
                 deadline_s: float, retry_backoff_s: float, max_backoff_s: float) -> None:
        self._connect = connect
        self._owner = owner
        self._topic = topic
        self._deadline_s = deadline_s
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s
        self._conn: Conn | None = None

    def confirm(self, batches: Sequence[Offsets], stopping: threading.Event) -> list[bool]:
        """For each batch, whether to publish it: all of them once a barrier commits.
        After a failure, those that survived, once the database answers again (retried
        until then, or until ``stopping`` is set: then none)."""
        try:
            self._commit_durably()
            return [True] * len(batches)
        except psycopg.Error as exc:
            log.warning("durability barrier failed; checking which batches survived",
                        extra={"batches": len(batches), "error": str(exc).strip()})
        backoff = self._retry_backoff_s
        while not stopping.is_set():
            try:
                kept = self._survivors(batches)
            except psycopg.Error as exc:
                log.warning("database away; events held until it answers", extra={
                    "batches": len(batches), "retry_in_s": backoff,
                    "error": str(exc).strip()})
                stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            if not all(kept):
                log.warning("events of batches not known to have survived dropped", extra={
                    "dropped": kept.count(False), "published": kept.count(True)})
            return kept
        return [False] * len(batches)

    def _survivors(self, batches: Sequence[Offsets]) -> list[bool]:
        conn = self._connection()
        with Deadline(conn, self._deadline_s):
            stored = repo.stored_offsets(conn, self._topic,
                                         {p for offsets in batches for p, _, _ in offsets})
        # What was read is made durable too: a batch survived only once this commits.
        self._commit_durably()
        return [survived(offsets, stored) for offsets in batches]

    def _commit_durably(self) -> None:
        conn = self._connection()
        with Deadline(conn, self._deadline_s):
            repo.commit_durably(conn, self._owner)

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._connect()
            repo.wait_for_commits(self._conn, synchronous=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

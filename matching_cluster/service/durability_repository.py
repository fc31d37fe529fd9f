"""The durability barrier's SQL (``durability``): the stored offsets it checks batches
against, and the commit that waits."""

from __future__ import annotations

from collections.abc import Iterable

from .repository import Conn


def stored_offsets(conn: Conn, topic: str, partitions: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Each partition's stored (owner epoch, next offset)."""
    rows = conn.execute(
        "SELECT partition, owner_epoch, next_offset FROM matcher_offsets"
        " WHERE topic = %s AND partition = ANY(%s::int[])",
        (topic, sorted(set(partitions)))).fetchall()
    return {int(p): (int(epoch), int(offset)) for p, epoch, offset in rows}


def wait_for_commits(conn: Conn, *, synchronous: bool) -> None:
    """Whether this session's commits wait for their WAL to be flushed and on the
    synchronous standby (``synchronous_commit``)."""
    conn.execute(f"SET synchronous_commit = {'on' if synchronous else 'off'}")


def commit_durably(conn: Conn, owner: str) -> None:
    """Commit a write on a connection whose commits wait (``wait_for_commits``), in
    autocommit: WAL is one sequence, so once it returns every transaction committed
    before it, on any connection, is flushed and on the synchronous standby too. (A
    transaction that wrote no WAL would not wait: hence the row.)"""
    conn.execute("INSERT INTO durability_barriers (owner, committed_at) VALUES (%s, now())"
                 " ON CONFLICT (owner) DO UPDATE SET committed_at = EXCLUDED.committed_at",
                 (owner,))

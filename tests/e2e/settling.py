"""The matcher's progress on a market, as the end-to-end tests wait for it."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]


def last_sequence(db: Conn, market: str) -> int:
    """The sequence of the market's last batch the matcher committed."""
    row = db.execute("SELECT last_sequence FROM market_sequences WHERE market = %s",
                     (market,)).fetchone()
    return int(row[0]) if row else 0


def unapplied_commands(db: Conn, market: str) -> int:
    row = db.execute("SELECT count(*) FROM order_commands WHERE market = %s"
                     " AND applied_at IS NULL", (market,)).fetchone()
    assert row is not None
    return int(row[0])


def wait_until_settled(db: Conn, market: str) -> int:
    """The market's last sequence once the matcher has applied every command the API
    recorded for it (cancels answer before the matcher has applied them)."""
    wait_until(lambda: unapplied_commands(db, market), until=lambda left: left == 0,
               timeout=30, what=f"the matcher to apply every command of {market}")
    return last_sequence(db, market)

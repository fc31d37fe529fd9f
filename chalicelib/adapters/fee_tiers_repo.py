"""SQL for fee tiers and the accounts' tiers (migration 0009). Each function runs in
the caller's transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from chalicelib.domain.fees import FeeTier, Rates

Conn = psycopg.Connection[Any]
DAYS_COUNTED = 30


def tiers(conn: Conn) -> list[FeeTier]:
    rows = conn.execute(
        "SELECT tier, volume_asset, min_volume, maker_fee_ppm, taker_fee_ppm FROM fee_tiers"
        " ORDER BY tier").fetchall()
    return [FeeTier(int(t), str(a), int(v), int(m), int(k)) for t, a, v, m, k in rows]


def replace_tiers(conn: Conn, new: list[FeeTier]) -> None:
    """The tiers become ``new``; accounts in a tier that is gone fall back to none."""
    conn.execute("DELETE FROM fee_tiers WHERE NOT tier = ANY(%s)", ([t.tier for t in new],))
    for t in new:
        conn.execute(
            "INSERT INTO fee_tiers (tier, volume_asset, min_volume, maker_fee_ppm,"
            " taker_fee_ppm) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tier) DO UPDATE SET"
            " volume_asset = EXCLUDED.volume_asset, min_volume = EXCLUDED.min_volume,"
            " maker_fee_ppm = EXCLUDED.maker_fee_ppm, taker_fee_ppm = EXCLUDED.taker_fee_ppm,"
            " updated_at = now()",
            (t.tier, t.volume_asset, t.min_volume, t.maker_fee_ppm, t.taker_fee_ppm))


def user_exists(conn: Conn, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is not None


def pin_tier(conn: Conn, user_id: int, tier: int | None) -> None:
    """Pin the account to ``tier``; None un-pins it (its volume decides from now on)."""
    if tier is None:
        conn.execute("DELETE FROM user_fee_tiers WHERE user_id = %s", (user_id,))
        return
    conn.execute(
        "INSERT INTO user_fee_tiers (user_id, tier, pinned) VALUES (%s, %s, true)"
        " ON CONFLICT (user_id) DO UPDATE SET tier = EXCLUDED.tier, pinned = true,"
        " volume_30d = NULL, updated_at = now()", (user_id, tier))


def volumes_30d(conn: Conn, asset: str) -> dict[int, int]:
    """Each account's quote volume over the last 30 days in markets quoted in ``asset``
    (both sides of a trade count, each for its own account)."""
    rows = conn.execute(
        "WITH counted AS (SELECT t.maker_user_id, t.taker_user_id, t.quote_quantity"
        "  FROM trades t JOIN markets m ON m.symbol = t.market WHERE m.quote_asset = %s"
        "  AND t.executed_at > now() - make_interval(days => %s))"
        " SELECT user_id, sum(quote_quantity) FROM ("
        "  SELECT maker_user_id AS user_id, quote_quantity FROM counted UNION ALL"
        "  SELECT taker_user_id, quote_quantity FROM counted) AS sides GROUP BY user_id",
        (asset, DAYS_COUNTED)).fetchall()
    return {int(user): int(volume) for user, volume in rows}


def assign_by_volume(conn: Conn, assigned: dict[int, tuple[int, int] | None]) -> None:
    """Set each unpinned account's tier (tier, volume) by volume; None removes it."""
    for user_id, tier in assigned.items():
        if tier is None:
            conn.execute("DELETE FROM user_fee_tiers WHERE user_id = %s AND NOT pinned",
                         (user_id,))
            continue
        conn.execute(
            "INSERT INTO user_fee_tiers (user_id, tier, pinned, volume_30d)"
            " VALUES (%s, %s, false, %s) ON CONFLICT (user_id) DO UPDATE SET"
            " tier = EXCLUDED.tier, volume_30d = EXCLUDED.volume_30d, updated_at = now()"
            " WHERE NOT user_fee_tiers.pinned", (user_id, tier[0], tier[1]))


def unpinned_users(conn: Conn) -> set[int]:
    rows = conn.execute("SELECT user_id FROM user_fee_tiers WHERE NOT pinned").fetchall()
    return {int(r[0]) for r in rows}


def tier_rates(conn: Conn, user_ids: list[int]) -> dict[int, Rates]:
    """The tier rates of those of ``user_ids`` who have a tier."""
    rows = conn.execute(
        "SELECT u.user_id, t.maker_fee_ppm, t.taker_fee_ppm FROM user_fee_tiers u"
        " JOIN fee_tiers t ON t.tier = u.tier WHERE u.user_id = ANY(%s)",
        (user_ids,)).fetchall()
    return {int(u): Rates(int(m), int(k)) for u, m, k in rows}


def user_tier(conn: Conn, user_id: int) -> tuple[int, bool] | None:
    """The account's tier and whether it is pinned; None without one."""
    row = conn.execute("SELECT tier, pinned FROM user_fee_tiers WHERE user_id = %s",
                       (user_id,)).fetchone()
    return None if row is None else (int(row[0]), bool(row[1]))

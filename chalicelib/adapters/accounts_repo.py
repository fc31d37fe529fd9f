"""SQL for users and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    password_hash: str
    is_admin: bool
    status: str
    totp_enabled: bool
    totp_secret_enc: bytes | None


@dataclass(frozen=True)
class ApiKeyRow:
    id: int
    user_id: int
    api_key: str
    secret_enc: bytes
    data_key_enc: bytes
    label: str
    permissions: list[str]
    ip_allowlist: list[str]


USER_COLUMNS = sql.SQL(
    "id, email::text, password_hash, is_admin, status, totp_enabled, totp_secret_enc")
KEY_COLUMNS = sql.SQL(
    "id, user_id, api_key, secret_enc, data_key_enc, label, permissions, ip_allowlist")


def insert_user(conn: Conn, email: str, password_hash: str) -> int | None:
    """The new user's id, or None when the email is taken."""
    row = conn.execute(
        "INSERT INTO users (email, password_hash) VALUES (%s, %s)"
        " ON CONFLICT (email) DO NOTHING RETURNING id", (email, password_hash)).fetchone()
    return int(row[0]) if row else None


def user_by_email(conn: Conn, email: str) -> UserRow | None:
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        query = sql.SQL("SELECT {} FROM users WHERE email = %s").format(USER_COLUMNS)
        return cur.execute(query, (email,)).fetchone()


def user_by_id(conn: Conn, user_id: int) -> UserRow | None:
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        query = sql.SQL("SELECT {} FROM users WHERE id = %s").format(USER_COLUMNS)
        return cur.execute(query, (user_id,)).fetchone()


def set_password(conn: Conn, user_id: int, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = %s, password_changed_at = now()"
                 " WHERE id = %s", (password_hash, user_id))


def set_totp(conn: Conn, user_id: int, secret_enc: bytes | None, enabled: bool) -> None:
    conn.execute("UPDATE users SET totp_secret_enc = %s, totp_enabled = %s WHERE id = %s",
                 (secret_enc, enabled, user_id))


def set_admin(conn: Conn, email: str, is_admin: bool) -> bool:
    cur = conn.execute("UPDATE users SET is_admin = %s WHERE email = %s", (is_admin, email))
    return cur.rowcount == 1


def insert_api_key(conn: Conn, user_id: int, api_key: str, secret_enc: bytes,
                   data_key_enc: bytes, label: str, permissions: list[str],
                   ip_allowlist: list[str]) -> int:
    row = conn.execute(
        "INSERT INTO api_keys (user_id, api_key, secret_enc, data_key_enc, label, permissions,"
        " ip_allowlist) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (user_id, api_key, secret_enc, data_key_enc, label, permissions, ip_allowlist),
    ).fetchone()
    assert row is not None
    return int(row[0])


def live_api_keys(conn: Conn, user_id: int) -> list[ApiKeyRow]:
    with conn.cursor(row_factory=class_row(ApiKeyRow)) as cur:
        query = sql.SQL("SELECT {} FROM api_keys WHERE user_id = %s AND deleted_at IS NULL"
                        " ORDER BY id").format(KEY_COLUMNS)
        return cur.execute(query, (user_id,)).fetchall()


def api_key_by_value(conn: Conn, api_key: str) -> ApiKeyRow | None:
    with conn.cursor(row_factory=class_row(ApiKeyRow)) as cur:
        query = sql.SQL("SELECT {} FROM api_keys WHERE api_key = %s"
                        " AND deleted_at IS NULL").format(KEY_COLUMNS)
        return cur.execute(query, (api_key,)).fetchone()


def delete_api_key(conn: Conn, user_id: int, key_id: int) -> bool:
    cur = conn.execute("UPDATE api_keys SET deleted_at = now() WHERE id = %s AND user_id = %s"
                       " AND deleted_at IS NULL", (key_id, user_id))
    return cur.rowcount == 1

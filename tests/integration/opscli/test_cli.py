"""The operator command against the test database."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscli.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_admin_grant_and_revoke(db: psycopg.Connection[Any], db_url: str) -> None:
    db.execute("INSERT INTO users (email, password_hash) VALUES ('ops@example.com', 'x')")

    granted = run_cli("admin", "grant", "OPS@example.com", "--database-url", db_url)
    assert granted.returncode == 0, granted.stderr
    assert db.execute("SELECT is_admin FROM users").fetchone() == (True,)

    revoked = run_cli("admin", "revoke", "ops@example.com", "--database-url", db_url)
    assert revoked.returncode == 0
    assert db.execute("SELECT is_admin FROM users").fetchone() == (False,)


def test_admin_grant_for_an_unknown_email_fails_and_says_so(db_url: str) -> None:
    result = run_cli("admin", "grant", "nobody@example.com", "--database-url", db_url)

    assert result.returncode == 1
    assert "no user with email nobody@example.com" in result.stderr


def test_db_migrate_reports_up_to_date(db_url: str) -> None:
    result = run_cli("db", "migrate", "--database-url", db_url)

    assert result.returncode == 0
    assert "up to date" in result.stdout

"""The demo seed: markets, funded traders and API keys, and a second run adds nothing;
the demo admin's password is generated, shown once and stored only as a hash; the web
trader's login is kept for `exchange up` to print."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg

from chalicelib.adapters.passwords import verify_password
from chalicelib.settings import Settings
from opscli.demo.seed import FUNDING, OPERATOR, TRADERS, WEB_TRADER, seed, web_login
from tests.support.ledger import assert_ledger_invariants


def test_seed_is_idempotent(db: psycopg.Connection[Any], test_settings: Settings,
                            tmp_path: Path) -> None:
    settings = test_settings.model_copy(update={"state_dir": tmp_path})

    first = seed(settings, report=lambda _: None)
    second = seed(settings, report=lambda _: None)

    assert first == second
    assert len(first) == len(TRADERS)
    assert json.loads((tmp_path / "demo" / "keys.json").read_text())[0]["email"] == TRADERS[0]
    markets = db.execute("SELECT symbol, status FROM markets ORDER BY symbol").fetchall()
    assert markets == [("BTCUSDT", "TRADING"), ("ETHUSDT", "TRADING")]
    assert db.execute("SELECT count(*) FROM deposits").fetchone() == (
        len(TRADERS) * len(FUNDING),)
    assert db.execute("SELECT count(*) FROM api_keys").fetchone() == (len(TRADERS),)
    assert_ledger_invariants(db)


def test_the_demo_admin_password_is_generated_and_shown_once(
    db: psycopg.Connection[Any], test_settings: Settings, tmp_path: Path
) -> None:
    settings = test_settings.model_copy(update={"state_dir": tmp_path})
    first: list[str] = []
    second: list[str] = []

    seed(settings, report=first.append)
    seed(settings, report=second.append)

    shown = [m[1] for line in first if (m := re.search(r"password: (\S+)", line))]
    assert len(shown) == 1
    password = shown[0]
    assert len(password) >= 20
    assert OPERATOR in "".join(first)
    assert not any(password in line for line in second)
    stored = db.execute("SELECT password_hash FROM users WHERE email = %s",
                        (OPERATOR,)).fetchone()
    assert stored is not None
    assert stored[0].startswith("$argon2id$")
    assert verify_password(stored[0], password)
    assert not verify_password(stored[0], "demo password 1234")
    everything_on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert password.encode() not in everything_on_disk


def test_every_demo_account_has_a_password_of_its_own(
    db: psycopg.Connection[Any], test_settings: Settings, tmp_path: Path
) -> None:
    seed(test_settings.model_copy(update={"state_dir": tmp_path}), report=lambda _: None)

    hashes = [row[0] for row in db.execute("SELECT password_hash FROM users")]
    assert len(hashes) == len(TRADERS) + 1
    assert not [h for h in hashes if verify_password(h, "demo password 1234")]


def test_the_web_trader_s_login_is_kept_and_logs_in(
    db: psycopg.Connection[Any], test_settings: Settings, tmp_path: Path
) -> None:
    settings = test_settings.model_copy(update={"state_dir": tmp_path})
    seed(settings, report=lambda _: None)
    seed(settings, report=lambda _: None)

    login = web_login(settings)

    assert login is not None
    email, password = login
    assert email == WEB_TRADER
    stored = db.execute("SELECT password_hash FROM users WHERE email = %s", (email,)).fetchone()
    assert stored is not None
    assert verify_password(stored[0], password)
    assert (tmp_path / "demo" / "web-login.json").stat().st_mode & 0o077 == 0

"""Demo data: two markets, an operator, a few funded traders with API keys.

Idempotent: running it again finds what exists and creates only what is missing.
The traders' API keys are written to `<state dir>/demo/keys.json` for the market
maker and for people trying the API. Every account gets a random password: the
operator's (an admin) is shown once, when it is created, and only its Argon2 hash is
kept; the traders' are never shown (they trade with their API keys).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.adapters import accounts_repo
from chalicelib.adapters.envelope import LocalMasterKey
from chalicelib.adapters.postgres import connect
from chalicelib.domain.errors import ApiError
from chalicelib.service_layer import admin, api_keys, auth, wallet
from chalicelib.settings import Settings

OPERATOR = "operator@demo.exchange"
TRADERS = ("maker@demo.exchange", "taker@demo.exchange", "alice@demo.exchange")
# The funded account `exchange up` offers a person for the web app (the market maker
# trades as maker and taker): its password is kept beside the demo API keys.
WEB_TRADER = "alice@demo.exchange"
ASSETS = (("BTC", 8, "Bitcoin"), ("ETH", 8, "Ether"), ("USDT", 6, "Tether USD"))
# symbol, base, quote, tick, lot, min qty, max qty, min notional (smallest units)
MARKETS = (("BTCUSDT", "BTC", "USDT", 10_000, 10_000, 10_000, 10_000_000_000, 5_000_000),
           ("ETHUSDT", "ETH", "USDT", 10_000, 100_000, 100_000, 100_000_000_000, 5_000_000))
FUNDING = (("BTC", 10 * 10**8), ("ETH", 200 * 10**8), ("USDT", 1_000_000 * 10**6))


@dataclass(frozen=True)
class DemoKey:
    email: str
    api_key: str
    secret: str


def ensure_user(conn: Any, email: str) -> tuple[int, str | None]:
    """The user's id, and the random password they were just created with (None if
    they existed already)."""
    existing = accounts_repo.user_by_email(conn, email)
    if existing:
        return existing.id, None
    password = secrets.token_urlsafe(18)
    return auth.signup(conn, email, password).id, password


def ensure_catalogue(conn: Any, operator_id: int) -> None:
    for symbol, scale, name in ASSETS:
        try:
            admin.create_asset(conn, actor_id=operator_id, symbol=symbol, scale=scale, name=name)
        except ApiError as error:
            if error.status != 409:
                raise
    for symbol, base, quote, tick, lot, min_qty, max_qty, min_notional in MARKETS:
        try:
            admin.create_market(conn, actor_id=operator_id, symbol=symbol, base=base,
                                quote=quote, tick_size=tick, lot_size=lot, min_qty=min_qty,
                                max_qty=max_qty, min_notional=min_notional,
                                maker_fee_ppm=1000, taker_fee_ppm=1000)
        except ApiError as error:
            if error.status != 409:
                raise


def seed(settings: Settings, report: Callable[[str], None] = print) -> list[DemoKey]:
    """Seed the demo; ``report`` gets the operator's password the one time it is made."""
    keys_file = settings.state_dir / "demo" / "keys.json"
    with connect(settings.database_url, autocommit=True) as conn:
        operator_id, password = ensure_user(conn, OPERATOR)
        if password is not None:
            report(f"demo admin: {OPERATOR} password: {password} (shown only now; the"
                   " exchange keeps only its hash)")
        accounts_repo.set_admin(conn, OPERATOR, True)
        ensure_catalogue(conn, operator_id)
        for email in TRADERS:
            user_id, password = ensure_user(conn, email)
            if email == WEB_TRADER and password is not None:
                write_private(web_login_file(settings), {"email": email, "password": password})
            for asset, amount in FUNDING:
                wallet.credit_deposit(conn, actor_id=operator_id, user_id=user_id, asset=asset,
                                      amount=amount, external_txid=f"demo-{email}-{asset}")
        if keys_file.exists():
            return load_keys(keys_file)
        master = LocalMasterKey(settings.local_master_key_path)
        keys = []
        for email in TRADERS:
            user_id, _ = ensure_user(conn, email)
            created = api_keys.create_api_key(conn, master, user_id, "demo",
                                              ["READ", "TRADE"], [])
            keys.append(DemoKey(email, str(created["apiKey"]), str(created["secretKey"])))
    write_private(keys_file, [k.__dict__ for k in keys])
    return keys


def web_login_file(settings: Settings) -> Path:
    return settings.state_dir / "demo" / "web-login.json"


def web_login(settings: Settings) -> tuple[str, str] | None:
    """The demo web trader's email and password, if this state folder made the account."""
    path = web_login_file(settings)
    if not path.exists():
        return None
    login = json.loads(path.read_text())
    return str(login["email"]), str(login["password"])


def write_private(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(content, indent=2))


def load_keys(path: Path) -> list[DemoKey]:
    return [DemoKey(**entry) for entry in json.loads(path.read_text())]

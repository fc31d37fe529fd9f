"""The web app in a real browser: Debian's Chromium, driven by playwright-core from the
web app's own end-to-end suite (web/tests/e2e, run by Vitest), against a whole exchange
run as `exchange up` runs it (opscli/faults IsolatedExchange, on ports of its own) with
the web app's server in front of the API. The browser suite signs a trader up, enrols
two-factor, logs in with a code, gets a deposit through the admin API, places, sees
filled and cancels orders, and has a withdrawal approved by an operator in the admin
views; it writes a screenshot of each main view. Here the database is checked after it:
SPEC's ledger invariants and what the trader did, as the ledger recorded it."""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from chalicelib.adapters import accounts_repo
from chalicelib.adapters.postgres import connect
from chalicelib.service_layer import auth, wallet
from chalicelib.settings import PROJECT_ROOT
from opscli.faults.exchange import FaultPorts, IsolatedExchange
from tests.support.ledger import assert_ledger_invariants

# Beside the fault tests' exchange (23xxx) and the observability tests' (20xxx).
PORT_OFFSET = 1000 + int(os.environ.get("EXCHANGE_FAULTS_PORT_OFFSET", "0"))
WEB_DIR = PROJECT_ROOT / "web"
CHROMIUM = "/usr/bin/chromium"
SUITE_TIMEOUT_SECONDS = 600
# Where the screenshots of the main views go (kept after the run, for people to look at).
SCREENSHOTS = PROJECT_ROOT / ".local" / "web-screenshots"
SELLER_BTC = 2 * 10**8


@pytest.fixture(scope="module")
def web_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedExchange]:
    if not (WEB_DIR / "dist" / "index.html").is_file():
        pytest.fail("web/dist is not built: run scripts/install.sh (it runs npm run build)")
    exchange = IsolatedExchange(tmp_path_factory.mktemp("web-app") / "state",
                                FaultPorts().shifted(PORT_OFFSET),
                                report=lambda line: print(line, flush=True),
                                extra_apps=("web",))
    try:
        exchange.start(traders=0)
        yield exchange
    finally:
        exchange.close()


def user_with_password(conn: psycopg.Connection[Any], email: str, password: str) -> int:
    return auth.signup(conn, email, password).id


def prepare_people(exchange: IsolatedExchange, run: str) -> dict[str, str]:
    """An operator (admin, no two-factor yet: the suite enrols it) and a seller holding
    BTC; the trader signs up in the browser."""
    people = {"ADMIN_EMAIL": f"ops-{run}@web.e2e", "SELLER_EMAIL": f"seller-{run}@web.e2e",
              "TRADER_EMAIL": f"trader-{run}@web.e2e", "PASSWORD": f"Pw-{uuid.uuid4().hex}"}
    with connect(exchange.settings.database_url, autocommit=True) as conn:
        admin_id = user_with_password(conn, people["ADMIN_EMAIL"], people["PASSWORD"])
        accounts_repo.set_admin(conn, people["ADMIN_EMAIL"], True)
        seller_id = user_with_password(conn, people["SELLER_EMAIL"], people["PASSWORD"])
        wallet.credit_deposit(conn, actor_id=admin_id, user_id=seller_id, asset="BTC",
                              amount=SELLER_BTC, external_txid=f"web-e2e-{run}")
    return people


def run_browser_suite(exchange: IsolatedExchange, people: dict[str, str]) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **people,
           "WEB_URL": f"http://127.0.0.1:{exchange.ports.web}/",
           "CHROMIUM_PATH": CHROMIUM, "SCREENSHOT_DIR": str(SCREENSHOTS)}
    result = subprocess.run(["npx", "vitest", "run", "--config", "vitest.e2e.config.ts"],
                            cwd=WEB_DIR, env=env, capture_output=True, text=True,
                            timeout=SUITE_TIMEOUT_SECONDS, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"the browser suite failed:\n{output}"
    return output


def test_a_trader_signs_up_trades_and_withdraws_in_the_browser(
        web_exchange: IsolatedExchange) -> None:
    people = prepare_people(web_exchange, uuid.uuid4().hex[:8])

    output = run_browser_suite(web_exchange, people)

    print(output)
    with psycopg.connect(web_exchange.owner_url(), autocommit=True) as conn:
        assert_ledger_invariants(conn)
        trader = accounts_repo.user_by_email(conn, people["TRADER_EMAIL"])
        assert trader is not None
        assert trader.totp_enabled
        trades = conn.execute(
            "SELECT count(*) FROM trades WHERE maker_user_id = %s OR taker_user_id = %s",
            (trader.id, trader.id)).fetchone()
        statuses = conn.execute(
            "SELECT status FROM withdrawals WHERE user_id = %s", (trader.id,)).fetchall()
    assert trades == (1,)
    assert [status for (status,) in statuses] == ["APPROVED"]
    assert {"account.png", "admin-withdrawals.png", "orders.png", "trade.png",
            "trade-phone.png", "wallet.png"} <= {path.name for path in SCREENSHOTS.glob("*.png")}


def test_the_web_server_sends_the_security_headers_and_fronts_the_api(
        web_exchange: IsolatedExchange) -> None:
    base = f"http://127.0.0.1:{web_exchange.ports.web}"
    with urllib.request.urlopen(f"{base}/", timeout=10) as page:  # noqa: S310 - loopback
        headers = page.headers
        body = page.read().decode()
    with urllib.request.urlopen(f"{base}/api/v3/ping", timeout=10) as ping:  # noqa: S310
        pong = ping.read()
    with urllib.request.urlopen(f"{base}/config.json", timeout=10) as config:  # noqa: S310
        settings = config.read().decode()

    assert '<div id="app">' in body
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert f"ws://127.0.0.1:{web_exchange.ports.ws}" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert pong == b"{}"
    assert f'"wsBaseUrl": "ws://127.0.0.1:{web_exchange.ports.ws}"' in settings


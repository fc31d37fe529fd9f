"""Binance's own client libraries, unmodified, pointed at the exchange.

The API is served over real HTTP on loopback the way `chalice local` serves it
(`chalice.local.LocalDevServer`), so python-binance (`binance.client.Client`) and the
official connector (`binance.spot.Spot`) talk to it exactly as they would to Binance:
only their base URLs and keys change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from binance.client import Client
from binance.spot import Spot
from chalice.config import Config
from chalice.local import create_local_server

from chalicelib.bootstrap import bootstrap_api
from chalicelib.domain.clock import ManualClock
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund


@pytest.fixture(scope="session")
def api_url(api_app: ExchangeApp) -> Iterator[str]:
    """The API served over HTTP on a free loopback port, as `chalice local` does."""
    server = create_local_server(api_app, Config.create(chalice_stage="dev"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server.server_address[1]}"
    server.shutdown()
    thread.join(10)


A_WINDOW_START_MS = 1_700_000_000_000


@contextmanager
def counted_on_a_set_clock(api_app: ExchangeApp, settings: Settings) -> Iterator[ManualClock]:
    """The API's order counts (and request weights) on a clock the test moves, set at the
    start of a 10 s window: the ORDERS limits (100 new orders in 10 s) apply as on
    Binance, and the next window comes when the test says."""
    frozen = ManualClock(A_WINDOW_START_MS)
    api_app.use_services(bootstrap_api(settings, weight_clock=frozen))
    try:
        yield frozen
    finally:
        api_app.use_services(bootstrap_api(settings))


@pytest.fixture
def clock(api_app: ExchangeApp, matcher: Settings) -> Iterator[ManualClock]:
    with counted_on_a_set_clock(api_app, matcher) as frozen:
        yield frozen


def python_binance(api_url: str, key: ApiKey | None = None) -> Client:
    """python-binance's client with only its base URLs changed (no ping: it would go
    to Binance before the URLs are set)."""
    client = Client(key.api_key if key else None, key.secret if key else None, ping=False)
    client.API_URL = f"{api_url}/api"
    client.MARGIN_API_URL = f"{api_url}/sapi"
    return client


def connector(api_url: str, key: ApiKey | None = None) -> Spot:
    """The official connector (binance-connector) with its base URL changed."""
    if key is None:
        return Spot(base_url=api_url)
    return Spot(api_key=key.api_key, api_secret=key.secret, base_url=api_url)


@dataclass(frozen=True)
class Trader:
    """A funded user of BTCUSDT as both libraries see them."""

    caller: Caller
    key: ApiKey
    pb: Client
    spot: Spot


def trader(api_url: str, admin: Caller, user: Caller) -> Trader:
    fund(admin, user, "USDT", "100000")
    fund(admin, user, "BTC", "10")
    key = user.new_api_key(["READ", "TRADE"])
    return Trader(user, key, python_binance(api_url, key), connector(api_url, key))


@pytest.fixture
def maker(api_url: str, admin: Caller, alice: Caller, btcusdt: str,
          matcher: Settings) -> Trader:
    """Alice, with 100,000 USDT and 10 BTC, trading BTCUSDT through both libraries."""
    return trader(api_url, admin, alice)


@pytest.fixture
def taker(api_url: str, admin: Caller, bob: Caller, btcusdt: str,
          matcher: Settings) -> Trader:
    """Bob, funded like Alice."""
    return trader(api_url, admin, bob)

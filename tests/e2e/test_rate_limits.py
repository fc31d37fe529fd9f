"""Request weight per IP and per API key, counted in Redis as Binance counts it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from chalice.app import Chalice
from chalice.test import Client

from chalicelib.entrypoints.http.services import Services, use_services
from chalicelib.settings import Settings
from tests.e2e.conftest import Caller

LIMIT = 30


def start_of_a_fresh_window() -> None:
    """Weights count per clock minute: keep a test from straddling two minutes."""
    if time.time() % 60 > 55:
        time.sleep(60 - time.time() % 60 + 0.05)


@pytest.fixture
def strict_client(api_app: Chalice, api_settings: Settings, client: Client) -> Iterator[Client]:
    """The API with a small weight budget per minute."""
    strict = Services.from_settings(api_settings.model_copy(
        update={"ip_weight_per_minute": LIMIT}))
    use_services(strict)
    try:
        yield client
    finally:
        use_services(Services.from_settings(api_settings))


def test_used_weight_is_reported_on_every_response(client: Client) -> None:
    start_of_a_fresh_window()
    first = client.http.get("/api/v3/ping")
    second = client.http.get("/api/v3/time")

    assert first.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert second.headers["X-MBX-USED-WEIGHT-1M"] == "2"


def test_an_ip_over_its_weight_gets_429_with_retry_after(strict_client: Client) -> None:
    start_of_a_fresh_window()
    statuses = [strict_client.http.get("/api/v3/ping").status_code for _ in range(LIMIT)]
    over = strict_client.http.get("/api/v3/ping")

    assert statuses == [200] * LIMIT
    assert over.status_code == 429
    assert over.json_body["code"] == -1003
    # The window is the clock minute: Retry-After is what is left of it.
    left = 60 - int(time.time()) % 60
    assert int(over.headers["Retry-After"]) in (left, left + 1)


@pytest.fixture
def strict_key_client(api_app: Chalice, api_settings: Settings,
                      client: Client) -> Iterator[Client]:
    strict = Services.from_settings(api_settings.model_copy(
        update={"api_key_weight_per_minute": 3}))
    use_services(strict)
    try:
        yield client
    finally:
        use_services(Services.from_settings(api_settings))


def test_an_api_key_over_its_weight_gets_429(strict_key_client: Client) -> None:
    start_of_a_fresh_window()
    key = Caller(strict_key_client, "bot@example.com").new_api_key(["READ"])
    other = Caller(strict_key_client, "other@example.com").new_api_key(["READ"])

    statuses = [key.get("/api/v3/account").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert other.get("/api/v3/account").status_code == 200

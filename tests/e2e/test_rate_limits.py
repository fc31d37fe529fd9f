"""Request weight per IP and per API key, counted in Redis per clock minute as Binance
counts it; the API's weight meter reads a clock the tests set."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from chalice.test import Client

from chalicelib.bootstrap import bootstrap_api
from chalicelib.domain.clock import ManualClock
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from tests.e2e.conftest import Caller

LIMIT = 30
MINUTE_MS = 60_000
A_MINUTE_START_MS = 1_700_000_040_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(A_MINUTE_START_MS)


@pytest.fixture
def api_with(api_app: ExchangeApp, api_settings: Settings, client: Client,
             clock: ManualClock) -> Iterator[Callable[..., Client]]:
    """The API with the weight limits given, its weights counted on ``clock``."""

    def configure(**limits: int) -> Client:
        api_app.use_services(bootstrap_api(api_settings.model_copy(update=limits),
                                           weight_clock=clock))
        return client

    yield configure
    api_app.use_services(bootstrap_api(api_settings))


def test_used_weight_is_reported_on_every_response(api_with: Callable[..., Client]) -> None:
    client = api_with()

    first = client.http.get("/api/v3/ping")
    second = client.http.get("/api/v3/time")

    assert first.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert second.headers["X-MBX-USED-WEIGHT-1M"] == "2"


def test_an_ip_over_its_weight_gets_429_with_retry_after(
    api_with: Callable[..., Client], clock: ManualClock
) -> None:
    client = api_with(ip_weight_per_minute=LIMIT)
    clock.advance(45_000)

    statuses = [client.http.get("/api/v3/ping").status_code for _ in range(LIMIT)]
    over = client.http.get("/api/v3/ping")

    assert statuses == [200] * LIMIT
    assert over.status_code == 429
    assert over.json_body["code"] == -1003
    # The window is the clock minute: Retry-After is what is left of it.
    assert over.headers["Retry-After"] == "15"


def test_the_next_minute_starts_a_fresh_count(
    api_with: Callable[..., Client], clock: ManualClock
) -> None:
    client = api_with(ip_weight_per_minute=LIMIT)
    for _ in range(LIMIT + 1):
        client.http.get("/api/v3/ping")

    clock.advance(MINUTE_MS)
    response = client.http.get("/api/v3/ping")

    assert response.status_code == 200
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "1"


def test_an_api_key_over_its_weight_gets_429(api_with: Callable[..., Client]) -> None:
    client = api_with(api_key_weight_per_minute=3)
    key = Caller(client, "bot@example.com").new_api_key(["READ"])
    other = Caller(client, "other@example.com").new_api_key(["READ"])

    statuses = [key.get("/api/v3/account").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert other.get("/api/v3/account").status_code == 200

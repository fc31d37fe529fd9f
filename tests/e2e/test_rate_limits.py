"""Request weight per IP and per API key, counted in Redis per clock minute as Binance
counts it; the API's weight meter reads a clock the tests set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from chalice.test import Client

from chalicelib.bootstrap import bootstrap_api
from chalicelib.domain.clock import ManualClock
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund

Conn = psycopg.Connection[Any]

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


@pytest.fixture
def placing(api_with: Callable[..., Client], admin: Caller, alice: Caller,
            btcusdt: str) -> Callable[..., ApiKey]:
    """A funded trader's key on the API with the weight limits given."""

    def configure(**limits: int) -> ApiKey:
        api_with(**limits)
        fund(admin, alice, "USDT", "1000")
        return alice.new_api_key(["READ", "TRADE"])

    return configure


BID = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
       "quantity": "0.001", "price": "10000", "newOrderRespType": "ACK"}


def test_a_placement_over_its_ips_weight_is_refused_and_counts_no_order(
        placing: Callable[..., ApiKey], clock: ManualClock, db: Conn) -> None:
    # A placement whose key the container keeps charges its IP's weight, its key's
    # weight and its order count together, right before its write.
    trader = placing(ip_weight_per_minute=LIMIT)
    answers = [trader.post_form("/api/v3/order", BID) for _ in range(LIMIT)]
    accepted = sum(r.status_code == 200 for r in answers)
    refused = [r.json_body for r in answers if r.status_code != 200]
    clock.advance(MINUTE_MS)

    after = trader.post_form("/api/v3/order", BID)

    assert 0 < accepted < LIMIT
    assert {(r["code"], "request weight per 1 MINUTE" in r["msg"]) for r in refused} == {
        (-1003, True)}
    assert after.headers["X-MBX-ORDER-COUNT-1D"] == str(accepted + 1)
    assert placed_orders(db) == accepted + 1


def test_a_placement_over_its_keys_weight_is_refused_and_counts_no_order(
        placing: Callable[..., ApiKey], db: Conn) -> None:
    trader = placing(api_key_weight_per_minute=3)
    accepted = [trader.post_form("/api/v3/order", BID) for _ in range(3)]

    over = trader.post_form("/api/v3/order", BID)

    assert [r.status_code for r in accepted] == [200, 200, 200]
    assert [r.headers["X-MBX-ORDER-COUNT-10S"] for r in accepted] == ["1", "2", "3"]
    assert (over.status_code, over.json_body["code"]) == (429, -1003)
    assert "on this API key" in over.json_body["msg"]
    assert "X-MBX-ORDER-COUNT-10S" not in over.headers
    assert placed_orders(db) == 3


def test_a_refused_placement_still_weighs_on_its_ip(placing: Callable[..., ApiKey]) -> None:
    trader = placing()
    first = trader.post_form("/api/v3/order", BID)
    bad_signature = trader.client.http.post(
        "/api/v3/order", body=trader.query(BID)[:-64] + "0" * 64,
        headers={"X-MBX-APIKEY": trader.api_key,
                 "Content-Type": "application/x-www-form-urlencoded"})
    malformed = trader.post_form("/api/v3/order", {**BID, "quantity": "abc"})

    weights = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (first, bad_signature, malformed)]
    assert (bad_signature.status_code, bad_signature.json_body["code"]) == (400, -1022)
    assert malformed.status_code == 400
    assert weights == [weights[0], weights[0] + 1, weights[0] + 2]


def placed_orders(db: Conn) -> int:
    row = db.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])

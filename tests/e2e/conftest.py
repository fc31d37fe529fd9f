"""The API through Chalice's test client, wired to the test database and Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import psycopg
import pyotp
import pytest
import redis
from chalice.test import Client
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from chalicelib.adapters.accounts_repo import set_admin
from chalicelib.bootstrap import Services, bootstrap_api
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import PROJECT_ROOT, Settings
from tests.conftest import as_role
from tests.support.topics import delete_topics, session_topic_name

API_DIR = PROJECT_ROOT / "api"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def api_settings(test_settings: Settings) -> Iterator[Settings]:
    """The test settings with an `orders` topic of the e2e run's own (deleted at the end)."""
    topic = session_topic_name("orders-e2e")
    admin = AdminClient({"bootstrap.servers": test_settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(
        timeout=30)
    yield test_settings.model_copy(update={"orders_topic": topic, "order_result_wait_ms": 300})
    delete_topics(test_settings.kafka_bootstrap_servers, [topic])


@pytest.fixture(scope="session")
def api_app(api_settings: Settings, migrated_db: str) -> Iterator[ExchangeApp]:
    """The API's app (api/app.py) with its services built from the test settings."""
    sys.path.insert(0, str(API_DIR))
    try:
        from app import app
    finally:
        sys.path.remove(str(API_DIR))
    app.use_services(bootstrap_api(api_settings))
    yield app
    app.services.close()


@pytest.fixture
def services(api_app: ExchangeApp) -> Services:
    """What the API's handlers use."""
    return api_app.services


@pytest.fixture
def client(api_app: ExchangeApp, db_url: str, redis_client: redis.Redis) -> Iterator[Client]:
    with Client(api_app, stage_name="dev") as test_client:
        yield test_client


class Caller:
    """A signed-up, logged-in user of the API."""

    def __init__(self, client: Client, email: str) -> None:
        self.client = client
        self.email = email
        created = post_json(client, "/v1/auth/signup", {"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.body
        self.user_id = int(created.json_body["id"])
        tokens = post_json(client, "/v1/auth/login", {"email": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.body
        self.access_token = tokens.json_body["accessToken"]
        self.refresh_token = tokens.json_body["refreshToken"]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}",
                "Content-Type": "application/json"}

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self.headers())

    def post(self, path: str, body: dict[str, object]) -> Any:
        return self.client.http.post(path, headers=self.headers(), body=json.dumps(body))

    def delete(self, path: str) -> Any:
        return self.client.http.delete(path, headers=self.headers())

    def new_api_key(self, permissions: list[str], allowlist: list[str] | None = None) -> ApiKey:
        response = self.post("/v1/api-keys", {"permissions": permissions,
                                              "ipAllowlist": allowlist or []})
        assert response.status_code == 201, response.body
        return ApiKey(self.client, response.json_body["apiKey"], response.json_body["secretKey"])


class ApiKey:
    """Signs requests exactly as Binance clients do."""

    def __init__(self, client: Client, api_key: str, secret: str) -> None:
        self.client = client
        self.api_key = api_key
        self.secret = secret

    def sign(self, payload: str, secret: str | None = None) -> str:
        return hmac.new((secret or self.secret).encode(), payload.encode(),
                        hashlib.sha256).hexdigest()

    def query(self, params: Mapping[str, object], timestamp_ms: int | None = None) -> str:
        stamped = {**params, "timestamp": timestamp_ms or now_ms()}
        query = urlencode(stamped)
        return f"{query}&signature={self.sign(query)}"

    def signed(self, method: str, path: str, params: Mapping[str, object] | None = None,
               **kw: Any) -> Any:
        """A signed request with every parameter in the query string."""
        return getattr(self.client.http, method)(f"{path}?{self.query(params or {}, **kw)}",
                                                 headers={"X-MBX-APIKEY": self.api_key})

    def get(self, path: str, params: Mapping[str, object] | None = None, **kw: Any) -> Any:
        return self.signed("get", path, params, **kw)

    def delete(self, path: str, params: Mapping[str, object]) -> Any:
        return self.signed("delete", path, params)

    def put(self, path: str, params: Mapping[str, object]) -> Any:
        return self.signed("put", path, params)

    def post_form(self, path: str, params: Mapping[str, object]) -> Any:
        return self.client.http.post(
            path, body=self.query(params),
            headers={"X-MBX-APIKEY": self.api_key,
                     "Content-Type": "application/x-www-form-urlencoded"})


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def post_json(client: Client, path: str, body: Mapping[str, object],
              headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, body=json.dumps(body),
                            headers={"Content-Type": "application/json", **(headers or {})})


@pytest.fixture
def alice(client: Client) -> Caller:
    return Caller(client, "alice@example.com")


@pytest.fixture
def bob(client: Client) -> Caller:
    return Caller(client, "bob@example.com")


class Admin(Caller):
    """An administrator with two-factor enabled whose session has stepped up, as money
    actions (deposit credits, withdrawal decisions) require."""

    totp: pyotp.TOTP


def stepped_up_admin(client: Client, db: psycopg.Connection[Any], email: str) -> Admin:
    operator = Admin(client, email)
    set_admin(db, operator.email, True)
    enrol = operator.post("/v1/auth/totp/enrol", {"password": PASSWORD})
    assert enrol.status_code == 200, enrol.body
    totp = operator.totp = pyotp.TOTP(enrol.json_body["secret"])
    assert operator.post("/v1/auth/totp/confirm", {"code": totp.now()}).status_code == 200
    # The next window's code (still accepted): the current one was spent confirming.
    stepped = operator.post("/v1/auth/step-up", {"totpCode": totp.at(int(time.time()) + 30)})
    assert stepped.status_code == 200, stepped.body
    return operator


@pytest.fixture
def admin(client: Client, db: psycopg.Connection[Any]) -> Admin:
    """An administrator, stepped up, who has created BTC (8 decimals) and USDT (6)."""
    operator = stepped_up_admin(client, db, "ops@example.com")
    assert operator.post("/v1/admin/assets", {"symbol": "BTC", "scale": 8}).status_code == 201
    assert operator.post("/v1/admin/assets", {"symbol": "USDT", "scale": 6}).status_code == 201
    return operator


@pytest.fixture
def second_admin(client: Client, db: psycopg.Connection[Any], admin: Admin) -> Admin:
    """Another administrator, stepped up: the second pair of eyes."""
    return stepped_up_admin(client, db, "ops2@example.com")


@pytest.fixture
def btcusdt(admin: Caller) -> str:
    """BTCUSDT: tick 0.01 USDT, step 0.0001 BTC, min notional 5 USDT, fees 0.1 %/0.2 %."""
    created = admin.post("/v1/admin/markets", {
        "symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT", "tickSize": "0.01",
        "stepSize": "0.0001", "minQty": "0.0001", "maxQty": "1000", "minNotional": "5",
        "makerFeePpm": 1000, "takerFeePpm": 2000})
    assert created.status_code == 201, created.body
    return "BTCUSDT"


def fund(admin: Caller, user: Caller, asset: str, amount: str) -> None:
    response = admin.post("/v1/admin/deposits", {"userId": user.user_id, "asset": asset,
                                                 "amount": amount,
                                                 "txid": f"fund-{uuid.uuid4().hex}"})
    assert response.status_code == 201, response.body


@pytest.fixture
def matcher(api_app: ExchangeApp, api_settings: Settings, db_url: str,
            redis_client: redis.Redis) -> Iterator[Settings]:
    """A matcher consuming an orders topic of this test's own, and the API publishing to
    it; yields the settings both use."""
    from matching_cluster.service.bootstrap import bootstrap_matcher
    from matching_cluster.service.consumer import MatcherConfig

    topic = session_topic_name("orders-e2e")
    admin = AdminClient({"bootstrap.servers": api_settings.kafka_bootstrap_servers})
    names = [topic, f"{topic}-market", f"{topic}-order"]
    created = admin.create_topics(
        [NewTopic(n, num_partitions=2, replication_factor=1) for n in names])
    for future in created.values():
        future.result(timeout=30)
    settings = api_settings.model_copy(update={"orders_topic": topic,
                                               "order_result_wait_ms": 10000})
    api_app.use_services(bootstrap_api(settings))
    process = bootstrap_matcher(
        as_role(settings, "matcher").model_copy(update={  # the matcher's own role
            "market_events_topic": names[1], "order_events_topic": names[2]}),
        MatcherConfig(group_id=f"g-{topic}", instance_id="e2e", session_timeout_ms=6000,
                      poll_timeout_seconds=0.02))
    engine = process.matcher
    stop = threading.Event()
    thread = threading.Thread(target=process.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(engine.status.assigned) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(engine.status.assigned) == 2, "the matcher did not get its partitions"
    try:
        yield settings
    finally:
        stop.set()
        thread.join(30)
        api_app.use_services(bootstrap_api(api_settings))
        delete_topics(api_settings.kafka_bootstrap_servers, names)

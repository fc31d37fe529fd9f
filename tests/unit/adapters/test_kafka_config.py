"""With KAFKA_SECURITY=iam every Kafka client the API, the functions, the matcher and the
operator's tools build authenticates to MSK with IAM; locally they stay plaintext."""

from __future__ import annotations

import ast
import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import pytest

import chalicelib.adapters.kafka as kafka
from chalicelib.adapters.kafka import make_admin, make_consumer, make_producer, security_config
from chalicelib.adapters.order_publisher import CommandPublisher
from chalicelib.domain.clock import SystemClock
from chalicelib.settings import PROJECT_ROOT, Settings
from lambdas import candles
from lambdas.msk_runner import MskRunner
from matching_cluster.service.consumer import Matcher, MatcherConfig
from matching_cluster.service.metrics import Metrics
from opscli.stack.config import StackConfig
from opscli.stack.kafka_broker import KafkaBroker

REGION = "eu-west-1"
BOOTSTRAP = "b-1.msk.internal:9098"
SASL = {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}
# Where production code lives: none of it may build a Kafka client but chalicelib's adapter.
PRODUCTION_PACKAGES = ("api", "chalicelib", "lambdas", "matching_cluster", "opscli")
CLIENT_CLASSES = {"Producer", "Consumer", "AdminClient"}


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY", "iam")
    monkeypatch.setenv("AWS_REGION", REGION)
    # Fake credentials: the signer signs locally, nothing goes to the network.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The configuration of every Kafka client built meanwhile (none is connected)."""
    configs: list[dict[str, Any]] = []

    def recorder(config: dict[str, Any]) -> object:
        configs.append(config)
        return object()

    for name in CLIENT_CLASSES:
        monkeypatch.setattr(kafka, name, recorder)
    yield configs
    candles.components.cache_clear()


def test_locally_clients_connect_in_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_SECURITY", raising=False)

    assert security_config() == {}


def test_iam_clients_use_sasl_ssl_with_oauthbearer(iam: None) -> None:
    config = security_config()

    assert {key: config[key] for key in SASL} == SASL
    assert callable(config["oauth_cb"])


def test_the_oauth_callback_returns_a_signed_token_and_its_expiry_in_seconds(iam: None) -> None:
    token, expiry = security_config()["oauth_cb"]("")

    # The token is the signed request URL, base64url without padding.
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    query = parse_qs(urlparse(url).query)
    assert urlparse(url).hostname == f"kafka.{REGION}.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith("AKIAFAKEFAKEFAKEFAKE/")
    assert f"/{REGION}/kafka-cluster/" in query["X-Amz-Credential"][0]
    # Seconds since the epoch, a few minutes ahead: milliseconds would be ~1000x larger.
    assert time.time() < expiry < time.time() + 3600


def matcher() -> object:
    return Matcher(conn_factory=lambda: cast(Any, None), topic="orders",
                   config=MatcherConfig(), bootstrap_servers=BOOTSTRAP,
                   publish=lambda _updates, _offsets: None,
                   publish_marks=lambda _marks: None,
                   metrics=Metrics(), clock=SystemClock())


def local_stack_admin() -> object:
    config = StackConfig.from_settings(Settings(EXCHANGE_KAFKA_PORT=29092))
    return KafkaBroker(config).admin_client()


CLIENT_BUILDERS: dict[str, Callable[[], object]] = {
    "API and sweeper: order commands producer":
        lambda: CommandPublisher(BOOTSTRAP, "orders").producer,
    "matcher: orders consumer": matcher,
    "matcher: market and order events producer": lambda: make_producer(BOOTSTRAP),
    "candles function: kline events producer":
        lambda: candles.components(Settings(kafka_bootstrap_servers=BOOTSTRAP)),
    "local MSK event source": lambda: MskRunner(
        lambda _event, _context: {}, bootstrap_servers=BOOTSTRAP, topics=["trades"],
        group="candles", function_name="candles"),
    "release job and operators: admin": lambda: make_admin(BOOTSTRAP),
    "a consumer": lambda: make_consumer(BOOTSTRAP, "group"),
    "local stack: admin": local_stack_admin,
}


@pytest.mark.parametrize("build", CLIENT_BUILDERS.values(), ids=CLIENT_BUILDERS.keys())
def test_every_client_the_services_build_authenticates_with_iam(
    iam: None, built: list[dict[str, Any]], build: Callable[[], object]
) -> None:
    build()

    assert built, "no Kafka client was built"
    for config in built:
        assert {key: config.get(key) for key in SASL} == SASL
        assert callable(config["oauth_cb"])


def client_constructions(path: Path) -> list[int]:
    """Lines of `path` that call Producer(...), Consumer(...) or AdminClient(...)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in CLIENT_CLASSES:
                lines.append(node.lineno)
    return lines


def test_no_production_code_builds_a_kafka_client_around_the_adapter() -> None:
    adapter = PROJECT_ROOT / "chalicelib" / "adapters" / "kafka.py"
    elsewhere = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for package in PRODUCTION_PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if path.resolve() != adapter and (lines := client_constructions(path))
    }

    assert elsewhere == {}
    assert client_constructions(adapter)


def test_producers_stay_durable_and_only_the_api_sends_without_lingering(
    built: list[dict[str, Any]]
) -> None:
    _ = CommandPublisher(BOOTSTRAP, "orders").producer
    make_producer(BOOTSTRAP)  # the matcher's events, the candles function's klines

    api, batched = built
    for config in built:  # a retried send never duplicates nor reorders a partition
        assert (config["enable.idempotence"], config["acks"]) == (True, "all")
    # The API answers once its command is durable: waiting for company would add to it.
    assert api["linger.ms"] == 0
    # Everything else fills requests: the broker's CPU goes by requests, not bytes.
    assert batched["linger.ms"] >= 5

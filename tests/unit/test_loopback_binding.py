"""Local processes listen on loopback unless told otherwise: the API that `exchange up`
starts and the matcher's health/metrics port."""

from __future__ import annotations

import pytest

from chalicelib.settings import Settings
from matching_cluster.service.consumer import Status
from matching_cluster.service.health import start_health_server
from matching_cluster.service.metrics import Metrics
from opscli.stack.apps import app_processes


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXCHANGE_API_HOST", "EXCHANGE_MATCHER_HOST", "SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)


def api_command(settings: Settings) -> list[str]:
    return next(p.command for p in app_processes(settings) if p.name == "api")


def host_argument(command: list[str]) -> str:
    return command[command.index("--host") + 1]


def test_the_local_api_listens_on_the_configured_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_API_HOST", "::1")

    assert host_argument(api_command(Settings())) == "::1"
    assert host_argument(api_command(Settings(EXCHANGE_API_HOST="127.0.0.1"))) == "127.0.0.1"


def test_the_matcher_health_port_is_bound_to_loopback_by_default() -> None:
    settings = Settings()

    server = start_health_server(settings.matcher_health_host, 0, Status(), Metrics())
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()


def test_the_matcher_health_host_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_MATCHER_HOST", "0.0.0.0")  # noqa: S104 - as a pod sets it

    assert Settings().matcher_health_host == "0.0.0.0"  # noqa: S104


def test_readiness_checks_reach_the_api_where_it_listens() -> None:
    api = next(p for p in app_processes(Settings(EXCHANGE_API_HOST="::1")) if p.name == "api")

    assert api.ready_url == f"http://[::1]:{Settings().api_port}/api/v3/ping"

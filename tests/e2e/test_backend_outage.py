"""The API while a backend is away: PostgreSQL refusing connections or Redis unreachable
answer 503 in the API's error format with a Retry-After header, never a 500, and
within the connection limits rather than hanging; with the backend back, it serves."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice.test import Client
from psycopg.conninfo import make_conninfo

from chalicelib.bootstrap import bootstrap_api
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.settings import Settings

pytestmark = pytest.mark.e2e

# How long a request may take before the test calls it a hang: past every limit set here.
HANG_S = 30


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def outage(api_app: ExchangeApp, api_settings: Settings) -> Iterator[
        Callable[[dict[str, Any]], None]]:
    """Point the API at other endpoints (``update`` to its settings) until the test ends."""

    def point(update: dict[str, Any]) -> None:
        api_app.use_services(bootstrap_api(api_settings.model_copy(update=update)))

    yield point
    api_app.use_services(bootstrap_api(api_settings))


def bounded_get(client: Client, path: str) -> Any:
    """The response to GET ``path``, from a thread joined within ``HANG_S``."""
    responses: list[Any] = []
    thread = threading.Thread(target=lambda: responses.append(client.http.get(path)),
                              daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), f"GET {path} still waiting after {HANG_S} s: it hangs"
    return responses[0]


def assert_unavailable(response: Any, code: int) -> None:
    assert response.status_code == 503, response.body
    body = json.loads(response.body)
    assert body["code"] == code
    assert body["msg"]
    assert int(response.headers["Retry-After"]) > 0


def test_postgresql_refusing_connections_is_503_then_served_again(
        client: Client, outage: Callable[[dict[str, Any]], None],
        api_settings: Settings) -> None:
    dead = make_conninfo(api_settings.database_url, host="127.0.0.1", port=unused_port())
    outage({"database_url": dead, "database_read_url": dead,
            "db_connect_timeout_seconds": 1})
    assert_unavailable(bounded_get(client, "/api/v3/exchangeInfo"), -1001)
    outage({})
    assert bounded_get(client, "/api/v3/exchangeInfo").status_code == 200


def test_redis_unreachable_is_503(client: Client,
                                  outage: Callable[[dict[str, Any]], None]) -> None:
    outage({"redis_url": f"redis://127.0.0.1:{unused_port()}/0"})
    assert_unavailable(bounded_get(client, "/api/v3/ping"), -1001)

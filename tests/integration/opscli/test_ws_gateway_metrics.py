"""The local WebSocket gateway counts its open connections and the messages it writes
to clients (posted through its management API, as the handlers and the fan-out do)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.app import Chalice, WebsocketEvent
from websockets.sync.client import connect

from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.domain.metric_catalogue import WS_CONNECTIONS, WS_MESSAGES_SENT
from opscli.ws_gateway import Gateway
from tests.support.polling import wait_until


@pytest.fixture
def connected_ids() -> list[str]:
    return []


@pytest.fixture
def gateway(connected_ids: list[str]) -> Iterator[Gateway]:
    app = Chalice("gateway-metrics")
    app.experimental_feature_flags.update(["WEBSOCKETS"])

    @app.on_ws_connect()
    def on_connect(event: WebsocketEvent) -> dict[str, Any]:
        connected_ids.append(event.connection_id)
        return {"statusCode": 200}

    running = Gateway(app, ws_port=0, management_port=0,
                      metrics=PrometheusMetrics("ws-gateway", process_metrics=False))
    running.start()
    yield running
    running.stop()


def test_connections_and_messages_sent_are_counted(gateway: Gateway,
                                                   connected_ids: list[str]) -> None:
    metrics = gateway.metrics
    assert isinstance(metrics, PrometheusMetrics)

    with connect(gateway.ws_url) as client:
        wait_until(lambda: metrics.sample(WS_CONNECTIONS), timeout=10,
                   what="the connection counted", until=lambda open_: open_ == 1)
        management = http.client.HTTPConnection(gateway.host, gateway.management_port,
                                                timeout=10)
        management.request("POST", f"/@connections/{connected_ids[0]}", body=b"hello")
        assert management.getresponse().status == 200
        management.close()
        assert client.recv(timeout=10) == "hello"
        assert metrics.sample(WS_MESSAGES_SENT) == 1

    wait_until(lambda: metrics.sample(WS_CONNECTIONS), timeout=10,
               what="the closed connection uncounted", until=lambda open_: open_ == 0)

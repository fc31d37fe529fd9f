"""Publishing the dashboards into a Managed Grafana workspace, against a stand-in for
Grafana's HTTP API on loopback (the calls Grafana documents: data sources by uid, folders,
POST /api/dashboards/db) that keeps what it is sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from opscli.observability.dashboards import build
from opscli.observability.grafana import (
    FOLDER_UID,
    PROMETHEUS_UID,
    GrafanaApi,
    GrafanaError,
    publish,
)

TOKEN = "glsa_test_token"
AMP = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0123/"


class GrafanaStandIn(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: GrafanaStandIn

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def answer(self, status: int, body: Any = None) -> None:
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def handle_call(self) -> None:
        self.server.calls.append(f"{self.command} {self.path}")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.answer(401, {"message": "Unauthorized"})
            return
        store, key = self.route()
        if store is None:
            self.answer(404, {"message": "Not found"})
        elif self.command == "GET":
            self.answer(200, store[key]) if key in store else self.answer(404)
        else:
            item = self.body()
            item = item.get("dashboard", item)
            store[key or item["uid"]] = item
            self.answer(200, {"uid": item["uid"]})

    def route(self) -> tuple[dict[str, dict[str, Any]] | None, str]:
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["api", "datasources"]:
            return self.server.datasources, parts[3] if len(parts) > 3 else ""
        if parts[:2] == ["api", "folders"]:
            return self.server.folders, parts[2] if len(parts) > 2 else ""
        if parts == ["api", "dashboards", "db"]:
            return self.server.dashboards, ""
        return None, ""

    def do_GET(self) -> None:
        self.handle_call()

    def do_POST(self) -> None:
        self.handle_call()

    def do_PUT(self) -> None:
        self.handle_call()


@pytest.fixture
def grafana() -> Iterator[GrafanaStandIn]:
    server = GrafanaStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def api(server: GrafanaStandIn, token: str = TOKEN) -> GrafanaApi:
    host, port = server.server_address[:2]
    return GrafanaApi(f"http://{host!s}:{port}", token, timeout_seconds=5)


def test_publish_adds_the_signed_prometheus_source_the_folder_and_every_dashboard(
        grafana: GrafanaStandIn) -> None:
    published = publish(api(grafana), AMP, "eu-west-1")

    source = grafana.datasources[PROMETHEUS_UID]
    assert source["type"] == "prometheus"
    assert source["url"] == AMP.rstrip("/")
    assert source["isDefault"] is True
    assert source["jsonData"] == {"httpMethod": "POST", "sigV4Auth": True,
                                  "sigV4AuthType": "ec2_iam_role", "sigV4Region": "eu-west-1"}
    assert set(grafana.folders) == {FOLDER_UID}
    assert grafana.dashboards == {d["uid"]: d for d in build().values()}
    assert sorted(published) == sorted(d["title"] for d in build().values())


def test_publishing_again_updates_in_place(grafana: GrafanaStandIn) -> None:
    publish(api(grafana), AMP, "eu-west-1")
    grafana.calls.clear()

    publish(api(grafana), AMP, "eu-west-1")

    assert f"PUT /api/datasources/uid/{PROMETHEUS_UID}" in grafana.calls
    assert "POST /api/datasources" not in grafana.calls
    assert "POST /api/folders" not in grafana.calls
    assert len(grafana.dashboards) == len(build())


def test_a_refused_call_names_itself_and_the_answer(grafana: GrafanaStandIn) -> None:
    with pytest.raises(GrafanaError, match=r"GET /api/datasources/uid/\S+ answered 401"):
        publish(api(grafana, token="wrong"), AMP, "eu-west-1")


def test_only_http_urls_are_called() -> None:
    with pytest.raises(GrafanaError, match="not a Grafana workspace"):
        GrafanaApi("file:///etc/passwd", TOKEN)

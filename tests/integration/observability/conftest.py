"""The observability tests' exchange: one isolated exchange (opscli/faults) for the
session, on ports 20xxx of its own (FaultPorts shifted by -3000) and in a temporary
folder, started ``observed``: with the ledger auditor, the infrastructure probe,
Prometheus loading iac/observability/rules, and the demo market maker trading through
the API, as `exchange up` runs them. Stopped and its folder removed at the end.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from opscli.faults.exchange import FaultPorts, IsolatedExchange

PORT_OFFSET = -3000


@dataclass(frozen=True)
class PrometheusApi:
    """The isolated exchange's Prometheus, through its HTTP API."""

    url: str

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}",  # noqa: S310 - loopback
                                    timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series (empty: no data)."""
        data = self.get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        """The alerts Prometheus holds, pending and firing (or only those in ``state``)."""
        found: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return [alert for alert in found if state is None or alert["state"] == state]

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.get("/api/v1/rules")["groups"]
        return groups


@pytest.fixture(scope="session")
def observed_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedExchange]:
    exchange = IsolatedExchange(tmp_path_factory.mktemp("observability") / "state",
                                FaultPorts().shifted(PORT_OFFSET),
                                report=lambda line: print(line, flush=True), observed=True)
    try:
        exchange.start(traders=0)
        yield exchange
    finally:
        exchange.close()


@pytest.fixture(scope="session")
def prometheus_api(observed_exchange: IsolatedExchange) -> PrometheusApi:
    return PrometheusApi(observed_exchange.prometheus_url)

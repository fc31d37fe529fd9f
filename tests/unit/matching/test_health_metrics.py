"""The matcher's /metrics says what /readyz answers, as of the scrape."""

from __future__ import annotations

import time

from matching_cluster.service.consumer import Status
from matching_cluster.service.health import LIVENESS_SECONDS, start_health_server
from matching_cluster.service.metrics import Metrics
from tests.support.http_get import http_get


def test_ready_and_partitions_owned_follow_the_status() -> None:
    status = Status()
    server = start_health_server("127.0.0.1", 0, status, Metrics())
    port = int(server.server_port)
    try:
        assert http_get(port, "/readyz")[0] == 503
        metrics = http_get(port, "/metrics")[1]
        assert "exchange_matcher_ready 0.0" in metrics
        assert "exchange_matcher_partitions_owned 0.0" in metrics

        status.assigned |= {0, 3}
        assert http_get(port, "/readyz")[0] == 200
        metrics = http_get(port, "/metrics")[1]
        assert "exchange_matcher_ready 1.0" in metrics
        assert "exchange_matcher_partitions_owned 2.0" in metrics

        status.last_loop = time.monotonic() - LIVENESS_SECONDS - 1  # the loop is stuck
        assert http_get(port, "/readyz")[0] == 503
        assert "exchange_matcher_ready 0.0" in http_get(port, "/metrics")[1]
    finally:
        server.shutdown()
        server.server_close()

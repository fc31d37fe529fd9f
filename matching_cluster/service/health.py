"""HTTP endpoints for Kubernetes and Prometheus: /healthz, /readyz, /metrics.

* ``/healthz`` (liveness): the consume loop went round within ``LIVENESS_SECONDS``.
* ``/readyz`` (readiness): live, not stopping, and owning at least one partition.
* ``/metrics``: the instance's Prometheus registry, with ``exchange_matcher_ready`` (what
  ``/readyz`` answers) and ``exchange_matcher_partitions_owned`` as of the scrape.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chalicelib.domain.metric_catalogue import MATCHER_PARTITIONS_OWNED, MATCHER_READY

from .consumer import Status
from .metrics import Metrics

LIVENESS_SECONDS = 60.0


def start_health_server(host: str, port: int, status: Status,
                        metrics: Metrics) -> ThreadingHTTPServer:
    """Serve the endpoints on a daemon thread; returns the server (``.server_port``).

    ``host`` is loopback locally; only a pod, whose probes and Prometheus scrape come
    from outside, binds every interface (EXCHANGE_MATCHER_HOST=0.0.0.0)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                metrics.set(MATCHER_READY, 1 if _ready(status) else 0)
                metrics.set(MATCHER_PARTITIONS_OWNED, len(status.assigned))
                self._reply(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._reply_check(_live(status))
            elif self.path == "/readyz":
                self._reply_check(_ready(status))
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply_check(self, ok: bool) -> None:
            self._reply(200 if ok else 503, b"ok\n" if ok else b"unavailable\n", "text/plain")

        def _reply(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds are not worth a log line."""

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def _live(status: Status) -> bool:
    return time.monotonic() - status.last_loop < LIVENESS_SECONDS


def _ready(status: Status) -> bool:
    return _live(status) and not status.stopping and bool(status.assigned)

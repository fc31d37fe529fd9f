"""A local stand-in for API Gateway's WebSocket API (``chalice local`` has none).

Clients connect to ``ws://127.0.0.1:{EXCHANGE_WS_PORT}/`` (``?streams=a/b`` names
streams up front) or to Binance's paths, ``/ws``, ``/ws/<streams>`` and ``/stream``.
Every connection gets an id, and the SAME Chalice handlers that API Gateway invokes in
AWS run here, with its event shape: ``$connect`` during the handshake (a non-2xx answer
refuses it), ``$default`` for each message, in order, and ``$disconnect`` when it closes.

API Gateway's management API, through which the handlers reply and the fan-out posts,
answers on ``http://127.0.0.1:{EXCHANGE_WS_MANAGEMENT_PORT}``: ``POST /@connections/{id}``
(the body is the message), ``GET`` (the connection's details), ``DELETE`` (close it),
410 ``GoneException`` for an unknown connection; so boto3's ``apigatewaymanagementapi``
client works unchanged with ``endpoint_url`` pointing here. ``GET /healthz`` on the
WebSocket port answers 200 once the gateway runs.

Given a ``SubscriptionsWatch`` (``main`` gives one), the gateway closes every connection
with 1012 once Redis lost the subscriptions, so that the clients subscribe again
(``opscli/ws_resets.py``). It logs JSON lines and counts its open connections and the
messages it writes (``exchange_ws_*``, served on EXCHANGE_METRICS_PORT when set).

    python -m opscli.ws_gateway [--port N] [--management-port N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib
import json
import logging
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from chalice.app import Chalice
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chalicelib.adapters.json_logs import configure_logging
from chalicelib.adapters.metrics import MetricsRecorder, metrics_for
from chalicelib.adapters.redis_store import redis_client
from chalicelib.adapters.stream_generation import SubscriptionsGeneration
from chalicelib.domain.metric_catalogue import WS_CONNECTIONS, WS_MESSAGES_SENT
from chalicelib.entrypoints.stopping import stop_on_signals
from chalicelib.settings import PROJECT_ROOT, Settings
from opscli.ws_resets import SubscriptionsWatch

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10.0
# Handlers run on threads (they block on PostgreSQL, Redis and on posting replies back
# through the management API, which this same process serves).
HANDLER_THREADS = 32


@dataclass
class LiveConnection:
    socket: ServerConnection
    source_ip: str
    user_agent: str
    connected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_active_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def connection_id_of(socket: ServerConnection) -> str:
    """An id shaped like API Gateway's ("L0SM9cOFvHcCIhw="), unique per connection."""
    return base64.urlsafe_b64encode(socket.id.bytes[:11]).decode()


class Gateway:
    def __init__(self, app: Chalice, *, host: str = "127.0.0.1", ws_port: int,
                 management_port: int, stage: str = "local",
                 watch: SubscriptionsWatch | None = None,
                 metrics: MetricsRecorder | None = None) -> None:
        self.app = app
        self.watch = watch
        self.metrics = metrics or metrics_for("ws-gateway")
        self.host = host
        self.ws_port = ws_port
        self.management_port = management_port
        self.stage = stage
        self._connections: dict[str, LiveConnection] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    # --- running -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set."""
        asyncio.run(self._serve(stop))

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a thread of its own (tests); ports 0 become the bound ones."""
        self._thread = threading.Thread(target=self.run, args=(self._stop,),
                                        name="ws-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the WebSocket gateway did not start")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    async def _serve(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_default_executor(ThreadPoolExecutor(HANDLER_THREADS, "ws-handler"))
        management = ThreadingHTTPServer((self.host, self.management_port), ManagementApi)
        management.daemon_threads = True
        management.gateway = self  # type: ignore[attr-defined]
        self.management_port = int(management.server_address[1])
        threading.Thread(target=management.serve_forever, name="ws-management",
                         daemon=True).start()
        watching = (asyncio.create_task(self.watch.run(self.close_all))
                    if self.watch is not None else None)
        try:
            async with serve(self._session, self.host, self.ws_port,
                             process_request=self._handshake) as server:
                self.ws_port = int(next(iter(server.sockets)).getsockname()[1])
                # Chalice derives its own management endpoint from the region unless
                # configured; the handlers here post through settings instead.
                self.app.websocket_api.configure(f"{self.host}:{self.ws_port}", self.stage)
                self._ready.set()
                log.info("WebSocket gateway on %s, management API on %s", self.ws_url,
                         self.management_url)
                await asyncio.to_thread(stop.wait)
        finally:
            if watching is not None:
                watching.cancel()
            management.shutdown()
            management.server_close()

    # --- the WebSocket side ----------------------------------------------------------

    async def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/healthz":
            return socket.respond(HTTPStatus.OK, "ok\n")
        event = self._event("$connect", "CONNECT", socket, connection_id_of(socket),
                            queryStringParameters=binance_query(path, query) or None,
                            headers=dict(request.headers.raw_items()))
        answer = await asyncio.to_thread(self._invoke, "$connect", event)
        status = int(answer.get("statusCode", 200))
        if status >= 300:
            return socket.respond(status, f"{answer.get('body') or 'Forbidden'}\n")
        return None

    async def _session(self, socket: ServerConnection) -> None:
        connection_id = connection_id_of(socket)
        live = LiveConnection(socket, self._source_ip(socket),
                              socket.request.headers.get("User-Agent", "") if socket.request
                              else "")
        with self._lock:
            self._connections[connection_id] = live
            self.metrics.set(WS_CONNECTIONS, len(self._connections))
        try:
            # A client going away ends the session like a clean close: $disconnect runs.
            with contextlib.suppress(ConnectionClosed):
                async for message in socket:
                    live.last_active_at = datetime.now(UTC)
                    body = (message if isinstance(message, str)
                            else message.decode(errors="replace"))
                    event = self._event("$default", "MESSAGE", socket, connection_id,
                                        body=body)
                    await asyncio.to_thread(self._invoke, "$default", event)
        finally:
            with self._lock:
                self._connections.pop(connection_id, None)
                self.metrics.set(WS_CONNECTIONS, len(self._connections))
            event = self._event("$disconnect", "DISCONNECT", socket, connection_id)
            await asyncio.to_thread(self._invoke, "$disconnect", event)

    def _invoke(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        config = self.app.websocket_handlers.get(route_key)
        if config is None:
            return {"statusCode": 200}
        try:
            answer = self.app.handler_map[config.name](event, None)
        except Exception:
            log.exception("WebSocket handler failed", extra={"route": route_key})
            return {"statusCode": 500, "body": "Internal server error"}
        return answer if isinstance(answer, dict) else {"statusCode": 200}

    def _event(self, route_key: str, event_type: str, socket: ServerConnection,
               connection_id: str, **extra: Any) -> dict[str, Any]:
        now_ms = time.time_ns() // 1_000_000
        user_agent = socket.request.headers.get("User-Agent", "") if socket.request else ""
        return {"requestContext": {
            "routeKey": route_key, "eventType": event_type, "connectionId": connection_id,
            "domainName": f"{self.host}:{self.ws_port}", "stage": self.stage, "apiId": "local",
            "requestId": uuid.uuid4().hex, "requestTimeEpoch": now_ms,
            "connectedAt": self._connected_at_ms(connection_id, now_ms),
            "messageDirection": "IN",
            "identity": {"sourceIp": self._source_ip(socket), "userAgent": user_agent}},
            "isBase64Encoded": False, **extra}

    def _connected_at_ms(self, connection_id: str, default: int) -> int:
        live = self.connection(connection_id)
        return int(live.connected_at.timestamp() * 1000) if live else default

    @staticmethod
    def _source_ip(socket: ServerConnection) -> str:
        address = socket.remote_address
        return str(address[0]) if address else ""

    # --- the management API's operations (called from its HTTP threads) ---------------

    def connection(self, connection_id: str) -> LiveConnection | None:
        with self._lock:
            return self._connections.get(connection_id)

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send one message; False if the connection is gone."""
        live = self.connection(connection_id)
        if live is None or self._loop is None:
            return False
        message: str | bytes
        try:
            message = data.decode()
        except UnicodeDecodeError:
            message = data
        try:
            asyncio.run_coroutine_threadsafe(live.socket.send(message), self._loop).result(
                SEND_TIMEOUT_SECONDS)
        except ConnectionClosed:
            return False
        self.metrics.inc(WS_MESSAGES_SENT)
        return True

    def close(self, connection_id: str) -> bool:
        live = self.connection(connection_id)
        if live is None or self._loop is None:
            return False
        asyncio.run_coroutine_threadsafe(live.socket.close(1000, "closed by the server"),
                                         self._loop).result(SEND_TIMEOUT_SECONDS)
        return True

    async def close_all(self, code: int, reason: str) -> int:
        """Close every connection (on the gateway's loop); answers how many."""
        with self._lock:
            sockets = [live.socket for live in self._connections.values()]
        await asyncio.gather(*(socket.close(code, reason) for socket in sockets))
        return len(sockets)


class ManagementApi(BaseHTTPRequestHandler):
    """``/@connections/{id}`` (optionally under the stage's path) as API Gateway has it."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.server.gateway  # type: ignore[attr-defined]
        return gateway

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        connection_id = self._connection_id()
        if connection_id is not None and self.gateway.post(connection_id, data):
            self._answer(HTTPStatus.OK, None)
        else:
            self._gone()

    def do_GET(self) -> None:
        connection_id = self._connection_id()
        live = self.gateway.connection(connection_id) if connection_id else None
        if live is None:
            self._gone()
            return
        self._answer(HTTPStatus.OK, {
            "connectedAt": live.connected_at.isoformat(),
            "lastActiveAt": live.last_active_at.isoformat(),
            "identity": {"sourceIp": live.source_ip, "userAgent": live.user_agent}})

    def do_DELETE(self) -> None:
        connection_id = self._connection_id()
        if connection_id is not None and self.gateway.close(connection_id):
            self._answer(HTTPStatus.NO_CONTENT, None)
        else:
            self._gone()

    def _connection_id(self) -> str | None:
        path = self.path.split("?", 1)[0]
        _, marker, rest = path.partition("/@connections/")
        if not marker or not rest or "/" in rest:
            return None
        return unquote(rest)

    def _gone(self) -> None:
        self._answer(HTTPStatus.GONE, {"message": "The connection is gone."},
                     error_type="GoneException")

    def _answer(self, status: HTTPStatus, body: dict[str, Any] | None,
                error_type: str = "") -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("management API: " + format, *args)


def binance_query(path: str, query: str) -> dict[str, str]:
    """Binance's endpoints as query parameters of the one WebSocket URL API Gateway has:
    ``/ws[/<stream>/<stream>]`` (raw payloads; what follows ``/ws/`` as ``path``, which
    the handler reads leniently, as Binance does) and ``/stream[?streams=]`` (combined)."""
    params = dict(parse_qsl(query))
    if path.rstrip("/") == "/stream":
        params["combined"] = "true"
    elif path.startswith("/ws/"):
        params.setdefault("path", unquote(path[len("/ws/"):]))
    return params


def load_app() -> Chalice:
    """The API's Chalice app (api/app.py), as Lambda would load it."""
    sys.path.insert(0, str(PROJECT_ROOT / "api"))
    try:
        module = importlib.import_module("app")
    finally:
        sys.path.remove(str(PROJECT_ROOT / "api"))
    app: Chalice = module.app
    return app


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description="local stand-in for API Gateway's "
                                                 "WebSocket API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.ws_port)
    parser.add_argument("--management-port", type=int, default=settings.ws_management_port)
    args = parser.parse_args()
    configure_logging(service="ws-gateway")
    # Asked before the API's app is loaded, so that this role's metrics are the ones served.
    metrics = metrics_for("ws-gateway")
    # A short timeout: a check must not hold the watch long while Redis is out of reach.
    watch = SubscriptionsWatch(SubscriptionsGeneration(redis_client(settings,
                                                                   socket_timeout=2)))
    gateway = Gateway(load_app(), host=args.host, ws_port=args.port,
                      management_port=args.management_port, watch=watch, metrics=metrics)
    gateway.run(stop_on_signals())


if __name__ == "__main__":
    main()

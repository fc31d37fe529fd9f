"""opscli/stack/toxiproxy.py against the real Toxiproxy server: proxies forward, toxics
act on the connections through them, and the context manager always removes its toxic."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from opscli.stack.config import StackConfig
from opscli.stack.toxiproxy import ToxiproxyApi, ToxiproxyServer, half_open, reset_peer

API_PORT, PROXY_PORT = 22475, 22480


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@dataclass(frozen=True)
class Proxied:
    api: ToxiproxyApi
    name: str


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    """An echo server on an ephemeral port behind a proxy on PROXY_PORT."""
    state: Path = tmp_path_factory.mktemp("toxiproxy")
    config = StackConfig(state_dir=state, pg_port=1, redis_port=1, kafka_port=1,
                         kafka_controller_port=1, db_user="", db_password="",
                         db_service_password="", databases=(), topic_partitions={})
    server = ToxiproxyServer(config, API_PORT)
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as echo:
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        try:
            server.start()
            server.wait_ready(15)
            server.api.create_proxy("echo", PROXY_PORT, echo.server_address[1])
            yield Proxied(server.api, "echo")
        finally:
            server.stop()
            echo.shutdown()


def round_trip(payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=2) as conn:
        conn.sendall(payload)
        return conn.recv(1024)


def test_a_proxy_forwards_and_is_replaced_by_name(proxied: Proxied) -> None:
    assert round_trip(b"ping") == b"ping"
    upstream = proxied.api.proxies()["echo"]["upstream"]

    proxied.api.create_proxy("echo", PROXY_PORT, int(upstream.rsplit(":", 1)[1]))

    assert list(proxied.api.proxies()) == ["echo"]
    assert round_trip(b"again") == b"again"


def test_a_half_open_connection_stays_up_and_answers_nothing(proxied: Proxied) -> None:
    with proxied.api.toxic("echo", half_open()), \
            socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=0.5) as conn:
        conn.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            conn.recv(1024)

    assert round_trip(b"back") == b"back"


def test_a_reset_peer_connection_is_reset_when_the_server_answers(proxied: Proxied) -> None:
    with proxied.api.toxic("echo", reset_peer()), \
            socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=2) as conn:
        conn.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            conn.recv(1024)


def test_the_toxic_is_removed_when_the_block_fails(proxied: Proxied) -> None:
    listed: list[tuple[list[str], str]] = []

    def fail_with_the_toxic_on() -> None:
        with proxied.api.toxic("echo", half_open()) as name:
            listed.append(([t["name"] for t in proxied.api.toxics("echo")], name))
            raise RuntimeError("the test failed inside the block")

    with pytest.raises(RuntimeError):
        fail_with_the_toxic_on()

    (names, name), = listed
    assert names == [name]
    assert proxied.api.toxics("echo") == []
    assert round_trip(b"clean") == b"clean"

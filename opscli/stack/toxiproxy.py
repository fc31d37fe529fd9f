"""Toxiproxy: a TCP proxy that injects network faults, for the network fault tests.

`scripts/install.sh` builds its server from the Go module into
`.local/bin/toxiproxy-server`. The server runs on 127.0.0.1 with its HTTP API on a port
of the caller's choosing; each proxy forwards a loopback port to a service's port, and
toxics (latency, bandwidth limits, resets, half-open connections) are added to and
removed from a proxy through the API while connections run through it.

The API is small and plain JSON, so it is spoken with http.client: the only Python client on
PyPI (toxiproxy-python) has not been released since 2019.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chalicelib.settings import PROJECT_ROOT
from opscli.stack.config import StackConfig
from opscli.stack.process import ServiceError, StackServer, ensure_port_free, spawn

SERVICE = "toxiproxy"
MARKER = "toxiproxy-server"
BINARY = PROJECT_ROOT / ".local" / "bin" / "toxiproxy-server"
API_TIMEOUT_SECONDS = 5.0

Stream = Literal["upstream", "downstream"]
"""Which direction a toxic acts on: client to server (upstream) or back (downstream)."""


@dataclass(frozen=True)
class Toxic:
    """One fault, as Toxiproxy's API takes it. ``toxicity`` is the share of connections
    it applies to, drawn per connection."""

    kind: str
    attributes: Mapping[str, int] = field(default_factory=dict)
    stream: Stream = "downstream"
    toxicity: float = 1.0

    def describe(self) -> str:
        attributes = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.kind}({attributes}) {self.stream}"


def latency(ms: int, jitter_ms: int = 0, stream: Stream = "downstream") -> Toxic:
    """Every chunk of data is held ``ms`` (plus or minus ``jitter_ms``) before it goes on."""
    return Toxic("latency", {"latency": ms, "jitter": jitter_ms}, stream)


def bandwidth(kb_per_second: int, stream: Stream = "downstream") -> Toxic:
    """At most ``kb_per_second`` KB a second per connection."""
    return Toxic("bandwidth", {"rate": kb_per_second}, stream)


def reset_peer(after_ms: int = 0, stream: Stream = "downstream",
               toxicity: float = 1.0) -> Toxic:
    """A TCP RST ``after_ms`` after the next data: on the downstream stream the server
    has done the work and the client never hears its answer."""
    return Toxic("reset_peer", {"timeout": after_ms}, stream, toxicity)


def cut_after(byte_count: int, stream: Stream = "downstream") -> Toxic:
    """The connection closed once ``byte_count`` bytes have gone through: each connection
    lives a while, then dies at whatever point of a request it has reached."""
    return Toxic("limit_data", {"bytes": byte_count}, stream)


def half_open(close_after_ms: int = 0, stream: Stream = "upstream") -> Toxic:
    """Data stops going through while the connection stays up: a peer that went silent.
    With ``close_after_ms`` 0 the proxy never closes it (until the toxic is removed)."""
    return Toxic("timeout", {"timeout": close_after_ms}, stream)


def slicer(average_bytes: int, delay_us: int = 0, stream: Stream = "downstream") -> Toxic:
    """Data is cut into small packets of about ``average_bytes``, ``delay_us`` apart."""
    return Toxic("slicer", {"average_size": average_bytes, "size_variation": average_bytes // 2,
                            "delay": delay_us}, stream)


class ToxiproxyError(RuntimeError):
    """The API refused a request; the message has its answer."""


class ToxiproxyApi:
    """Toxiproxy's HTTP API on 127.0.0.1:``port``."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port

    def version(self) -> str:
        return str(self._request("GET", "/version"))

    def create_proxy(self, name: str, listen_port: int, upstream_port: int) -> None:
        """Forward 127.0.0.1:``listen_port`` to 127.0.0.1:``upstream_port``, replacing a
        proxy of that name left by an earlier run."""
        if name in self.proxies():
            self.delete_proxy(name)
        self._request("POST", "/proxies", {
            "name": name, "listen": f"127.0.0.1:{listen_port}",
            "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})

    def proxies(self) -> dict[str, Any]:
        answer = self._request("GET", "/proxies")
        assert isinstance(answer, dict)
        return answer

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones."""
        self._request("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(self, proxy: str, name: str, toxic: Toxic) -> None:
        self._request("POST", f"/proxies/{proxy}/toxics", {
            "name": name, "type": toxic.kind, "stream": toxic.stream,
            "toxicity": toxic.toxicity, "attributes": dict(toxic.attributes)})

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._request("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        answer = self._request("GET", f"/proxies/{proxy}/toxics")
        assert isinstance(answer, list)
        return answer

    def reset(self) -> None:
        """Every proxy enabled and without toxics."""
        self._request("POST", "/reset")

    @contextmanager
    def toxic(self, proxy: str, toxic: Toxic) -> Iterator[str]:
        """``toxic`` on ``proxy`` for the block, removed however it ends; yields its name."""
        name = f"{toxic.kind}-{toxic.stream}-{uuid.uuid4().hex[:8]}"
        self.add_toxic(proxy, name, toxic)
        try:
            yield name
        finally:
            self.remove_toxic(proxy, name)

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection(self.host, self.port,
                                                timeout=API_TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        if response.status >= 300:
            raise ToxiproxyError(f"{method} {path}: {response.status} {text}")
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # /version answers plain text in some releases


class ToxiproxyServer(StackServer):
    """Toxiproxy's server on 127.0.0.1:``api_port``, with its files under the stack's
    state folder; not part of ``exchange stack up``: the fault tests start it."""

    name = SERVICE
    marker = MARKER
    grace_seconds = 5

    def __init__(self, config: StackConfig, api_port: int, binary: Path = BINARY) -> None:
        super().__init__(config)
        self.api_port = api_port
        self.binary = binary
        self.api = ToxiproxyApi(api_port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    def start(self) -> None:
        if self.running_pid() is not None:
            return
        if not self.binary.exists():
            raise ServiceError(SERVICE, f"no {self.binary}: run scripts/install.sh",
                               self.log_path)
        ensure_port_free(SERVICE, self.api_port, "the Toxiproxy API port", self.log_path)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        spawn([str(self.binary), "-host", "127.0.0.1", "-port", str(self.api_port)],
              log_path=self.log_path, pid_file=self.pid_file, cwd=self.home)

    def is_ready(self) -> bool:
        if not super().is_ready():
            return False
        try:
            self.api.version()
        except (OSError, http.client.HTTPException, ToxiproxyError):
            return False
        return True

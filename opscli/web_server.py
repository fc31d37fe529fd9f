"""The web app on loopback, as CloudFront serves it in AWS: the built app (``web/dist``),
its runtime ``config.json`` (where the WebSocket streams are), and the HTTP API behind the
same origin (``/api/``, ``/sapi/``, ``/v1/`` and ``/openapi.json`` are passed to the local
API), so the browser needs no CORS. Every static answer carries the security headers the
CloudFront distribution sets (iac/cloudformation/web.yaml). ``GET /healthz`` answers 200
once the app is built, 503 with what to run until then.

    python -m opscli.web_server [--port N] [--dist DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import mimetypes
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.adapters.json_logs import configure_logging
from chalicelib.entrypoints.stopping import stop_on_signals
from chalicelib.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

DIST = PROJECT_ROOT / "web" / "dist"
API_PREFIXES = ("/api/", "/sapi/", "/v1/", "/openapi.json")
# Connection-level headers a proxy must not pass on (RFC 9110 7.6.1), and Host, which
# names the API's own address.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding",
                        "upgrade", "host", "content-length"})
API_TIMEOUT_SECONDS = 30
NOT_BUILT = "The web app is not built: run scripts/install.sh (it runs `npm run build` in web/)."


@dataclass(frozen=True)
class WebSite:
    """What the server serves: the build folder, the API it fronts, the streams' URL."""

    dist: Path
    api_host: str
    api_port: int
    ws_url: str

    @property
    def config_json(self) -> bytes:
        return json.dumps({"wsBaseUrl": self.ws_url, "environment": "local"}).encode()

    @property
    def security_headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": (
                "default-src 'self'; script-src 'self'; style-src 'self'; "
                "img-src 'self' data:; font-src 'self'; "
                f"connect-src 'self' {self.ws_url}; frame-ancestors 'none'; "
                "base-uri 'self'; form-action 'self'; object-src 'none'"),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        }

    def static_file(self, url_path: str) -> Path | None:
        """The build's file for ``url_path``; None outside the build or when absent."""
        relative = url_path.lstrip("/") or "index.html"
        root = self.dist.resolve()
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate


def cache_control(path: Path) -> str:
    # Vite names assets by content hash: they never change; the rest may at any deploy.
    if path.parent.name == "assets":
        return "public, max-age=31536000, immutable"
    return "no-cache"


class WebRequestHandler(BaseHTTPRequestHandler):
    site: WebSite
    protocol_version = "HTTP/1.1"

    def route(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(API_PREFIXES):
            self.pass_to_api()
        elif self.command not in ("GET", "HEAD"):
            self.answer(HTTPStatus.METHOD_NOT_ALLOWED, b"", "text/plain")
        elif path == "/healthz":
            built = (self.site.dist / "index.html").is_file()
            self.answer(HTTPStatus.OK if built else HTTPStatus.SERVICE_UNAVAILABLE,
                        b"ok" if built else NOT_BUILT.encode(), "text/plain")
        elif path == "/config.json":
            self.answer(HTTPStatus.OK, self.site.config_json, "application/json",
                        {"Cache-Control": "no-cache"})
        else:
            self.serve_static(path)

    # http.server dispatches on do_<METHOD>: every method goes through one router.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = route  # noqa: N815

    def serve_static(self, path: str) -> None:
        file = self.site.static_file(path)
        if file is None:
            missing = NOT_BUILT if not self.site.dist.is_dir() else "Not found."
            self.answer(HTTPStatus.NOT_FOUND, missing.encode(), "text/plain")
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self.answer(HTTPStatus.OK, file.read_bytes(), content_type,
                    {"Cache-Control": cache_control(file)})

    def pass_to_api(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(self.site.api_host, self.site.api_port,
                                                timeout=API_TIMEOUT_SECONDS)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            passed = {name: value for name, value in response.getheaders()
                      if name.lower() not in HOP_BY_HOP}
            self.answer(response.status, payload, None, passed)
        except OSError as error:
            log.warning("API unreachable", extra={"error": str(error), "path": self.path})
            self.answer(HTTPStatus.BAD_GATEWAY, json.dumps(
                {"code": -1001, "msg": "The API is not reachable; try again."}).encode(),
                "application/json")
        finally:
            connection.close()

    def answer(self, status: int, body: bytes, content_type: str | None,
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**self.site.security_headers, **(headers or {})}.items():
            self.send_header(name, value)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.info("request", extra={"request": format % args})


def make_server(site: WebSite, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("BoundWebRequestHandler", (WebRequestHandler,), {"site": site})
    return ThreadingHTTPServer((host, port), handler)


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description="the web app and the API on one origin")
    parser.add_argument("--port", type=int, default=settings.web_port)
    parser.add_argument("--dist", type=Path, default=DIST)
    args = parser.parse_args()
    configure_logging(service="web")
    site = WebSite(args.dist, settings.api_host, settings.api_port,
                   f"ws://127.0.0.1:{settings.ws_port}")
    server = make_server(site, "127.0.0.1", args.port)
    stop = stop_on_signals()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log.info("serving the web app", extra={"url": f"http://127.0.0.1:{args.port}/",
                                           "dist": str(args.dist)})
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
